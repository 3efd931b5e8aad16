"""Complete pygeoapi's coverage schema with what its rasterio provider leaves out.

pygeoapi 0.24 describes a GeoTIFF band by index and type only; the spec's band names and units
and the file's nodata value (kept by ``publish`` in ``x-geopublish-bands``) are added to
``/collections/<id>/schema`` as ``title``, ``x-ogc-unit`` and ``nodata``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from flask import Flask

from geopublish.model import BANDS_KEY
from geopublish.serve.rewrite import install_json_hook

SCHEMA_PATH = re.compile(r"^/collections/([^/]+)/schema/?$")


def _bands(config: dict[str, Any], cid: str) -> list[dict[str, Any]]:
    resource = config.get("resources", {}).get(cid, {})
    for provider in resource.get("providers", []):
        if provider.get("type") == "coverage":
            return list(provider.get(BANDS_KEY, []))
    return []


def install(app: Flask, config: dict[str, Any]) -> None:
    """Register the after-request hook that enriches coverage schemas."""

    def change_for(cid: str) -> Callable[[dict[str, Any]], None] | None:
        bands = _bands(config, cid)
        if not bands:
            return None

        def describe(body: dict[str, Any]) -> None:
            properties = body.get("properties", {})
            for band in bands:
                entry = properties.get(str(band["index"]))
                if entry is None:
                    continue
                entry["title"] = band.get("name") or entry.get("title")
                if band.get("units"):
                    entry["x-ogc-unit"] = band["units"]
                if band.get("nodata") is not None:
                    entry["nodata"] = band["nodata"]

        return describe

    install_json_hook(app, SCHEMA_PATH, change_for)
