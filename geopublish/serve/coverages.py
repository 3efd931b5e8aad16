"""Complete pygeoapi's coverage schema with what its rasterio provider leaves out.

pygeoapi 0.24 describes a GeoTIFF band by index and type only; the spec's band names and units
and the file's nodata value (kept by ``publish`` in ``x-geopublish-bands``) are added to
``/collections/<id>/schema`` as ``title``, ``x-ogc-unit`` and ``nodata``.
"""

from __future__ import annotations

import gzip
import json
import re
from typing import Any

from flask import Flask, Response, request

SCHEMA_PATH = re.compile(r"^/collections/([^/]+)/schema/?$")


def _bands(config: dict[str, Any], cid: str) -> list[dict[str, Any]]:
    resource = config.get("resources", {}).get(cid, {})
    for provider in resource.get("providers", []):
        if provider.get("type") == "coverage":
            return list(provider.get("x-geopublish-bands", []))
    return []


def install(app: Flask, config: dict[str, Any]) -> None:
    """Register the after-request hook that enriches coverage schemas."""

    @app.after_request
    def _enrich(response: Response) -> Response:
        match = SCHEMA_PATH.match(request.path)
        if not match or response.status_code != 200 or "json" not in response.content_type:
            return response
        bands = _bands(config, match.group(1))
        if not bands:
            return response
        zipped = response.headers.get("Content-Encoding") == "gzip"
        raw = response.get_data()
        body = json.loads(gzip.decompress(raw) if zipped else raw)
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
        text = json.dumps(body).encode("utf-8")
        response.set_data(gzip.compress(text) if zipped else text)
        return response
