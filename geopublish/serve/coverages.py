"""Coverage requests checked before pygeoapi, and the coverage schema completed.

``bbox`` must be four finite numbers enclosing an area that overlaps the coverage; ``bbox-crs``
may be an OGC CRS URI (``.../OGC/1.3/CRS84``, ``.../EPSG/0/<code>``), ``EPSG:<code>`` or a bare
code, and reaches pygeoapi's rasterio provider as the EPSG code it expects. Anything else is a
400 naming the value, instead of a 500 from rasterio or PROJ.

pygeoapi 0.24 describes a GeoTIFF band by index and type only; the spec's band names and units
and the file's nodata value (kept by ``publish`` in ``x-geopublish-bands``) are added to
``/collections/<id>/schema`` as ``title``, ``x-ogc-unit`` and ``nodata``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import pyproj
from flask import Flask, Response, request
from pyproj.exceptions import CRSError
from werkzeug.datastructures import ImmutableMultiDict

from geopublish.model import BANDS_KEY
from geopublish.serve.request import RequestError, parse_bbox
from geopublish.serve.rewrite import install_json_hook

SCHEMA_PATH = re.compile(r"^/collections/([^/]+)/schema/?$")
COVERAGE_PATH = re.compile(r"^/collections/([^/]+)/coverage/?$")
CRS_URI = re.compile(r"^https?://www\.opengis\.net/def/crs/(OGC/1\.3/CRS84|EPSG/0/(\d+))$")


def epsg_code(text: str) -> int:
    """The EPSG code of a ``bbox-crs`` value; RequestError when it names no known CRS."""
    match = CRS_URI.match(text.strip())
    code: str | None = None
    if match:
        code = "4326" if match.group(1).endswith("CRS84") else match.group(2)
    elif re.fullmatch(r"(?i)(epsg:)?\d{1,6}", text.strip()):
        code = text.strip().split(":")[-1]
    if code is not None:
        try:
            pyproj.CRS.from_epsg(int(code))
            return int(code)
        except CRSError:
            pass
    raise RequestError(f"bbox-crs {text[:120]!r}: not a known CRS (an OGC CRS URI or EPSG code)")


def check_coverage(resource: dict[str, Any], args: Any) -> dict[str, str] | None:
    """The coverage request's parameters with ``bbox-crs`` as an EPSG code, or RequestError."""
    if "bbox" not in args and "bbox-crs" not in args:
        return None
    fixed = dict(args)
    code = epsg_code(args["bbox-crs"]) if "bbox-crs" in args else 4326
    if "bbox-crs" in args:
        fixed["bbox-crs"] = str(code)
    if "bbox" in args:
        box = parse_bbox(args["bbox"])
        if len(box) != 4 or box[0] >= box[2] or box[1] >= box[3]:
            raise RequestError(
                f"bbox {args['bbox'][:80]!r}: expected minx,miny,maxx,maxy enclosing an area"
            )
        extent = resource.get("extents", {}).get("spatial", {}).get("bbox")
        if extent:
            to84 = pyproj.Transformer.from_crs(code, 4326, always_xy=True)
            west, south, east, north = to84.transform_bounds(*box)
            if west > extent[2] or east < extent[0] or south > extent[3] or north < extent[1]:
                raise RequestError(
                    f"bbox {args['bbox'][:80]!r}: does not overlap the coverage "
                    f"(extent {extent} in CRS84)"
                )
    return fixed


def _bands(config: dict[str, Any], cid: str) -> list[dict[str, Any]]:
    resource = config.get("resources", {}).get(cid, {})
    for provider in resource.get("providers", []):
        if provider.get("type") == "coverage":
            return list(provider.get(BANDS_KEY, []))
    return []


def install(app: Flask, config: dict[str, Any]) -> None:
    """Register the coverage request check and the hook that enriches coverage schemas."""

    @app.before_request
    def _check_coverage() -> Response | None:
        match = COVERAGE_PATH.match(request.path)
        resource = config.get("resources", {}).get(match.group(1)) if match else None
        if not resource or resource.get("type") != "collection":
            return None
        try:
            fixed = check_coverage(resource, request.args)
        except RequestError as exc:
            body = json.dumps({"code": exc.code, "type": exc.code, "description": str(exc)})
            return Response(body, status=exc.status, mimetype="application/json")
        if fixed is not None:
            request.args = ImmutableMultiDict(fixed)  # type: ignore[misc]
        return None

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
