"""The HTML pages' own script and style sheet, and the relief their maps draw, served here.

The templates (``serve/templates``, pygeoapi's ``server.templates``) hold no executable inline
script: every value a page's script needs travels as JSON in an HTML-escaped ``data-`` attribute
and ``pages.js`` reads it, so a Content-Security-Policy of ``script-src 'self'`` holds and a
producer's value can never become code.

Maps have no tile server: their background is the service's own boundary layers (fetched as
GeoJSON by the page) and, for the coverages named in ``server.map.relief``, a hillshade image
rendered here from the served COG (``/backgrounds/<id>``: its lon/lat bounds and the URL of a
Web Mercator PNG, grey with transparent nodata, at most ``RELIEF_SIZE`` pixels a side).
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

from flask import Flask, Response, abort, send_file

PREFIX = "/assets/geopublish"
STATIC = Path(__file__).with_name("static")
TYPES = {".js": "text/javascript", ".css": "text/css"}
RELIEF_SIZE = 1024


def relief_sources(config: dict) -> dict[str, Path]:
    """Each coverage named in ``server.map.relief`` and the file its provider serves."""
    names = (config.get("server", {}).get("map") or {}).get("relief") or []
    sources = {}
    for name in names:
        for provider in config.get("resources", {}).get(name, {}).get("providers", []):
            if provider.get("type") == "coverage" and provider.get("data"):
                sources[name] = Path(str(provider["data"]))
    return sources


@functools.lru_cache(maxsize=8)
def render_relief(path: Path, version: str) -> tuple[tuple[float, ...], bytes]:
    """The lon/lat bounds and a Web Mercator PNG (grey + alpha) of band 1 of ``path``.

    ``version`` (the resolved file and its mtime) keys the cache, so a new build is rendered
    at the next request.
    """
    import numpy as np
    import rasterio
    from rasterio.enums import Resampling
    from rasterio.io import MemoryFile
    from rasterio.transform import from_bounds
    from rasterio.vrt import WarpedVRT
    from rasterio.warp import transform_bounds

    with rasterio.open(path) as src:
        west, south, east, north = transform_bounds(src.crs, "EPSG:4326", *src.bounds)
        merc = transform_bounds("EPSG:4326", "EPSG:3857", west, south, east, north)
        scale = RELIEF_SIZE / max(merc[2] - merc[0], merc[3] - merc[1])
        width = max(1, round((merc[2] - merc[0]) * scale))
        height = max(1, round((merc[3] - merc[1]) * scale))
        transform = from_bounds(*merc, width, height)
        with WarpedVRT(
            src,
            crs="EPSG:3857",
            transform=transform,
            width=width,
            height=height,
            resampling=Resampling.bilinear,
        ) as vrt:
            band = vrt.read(1, masked=True)
    values = band.filled(0).astype("float64")
    valid = ~np.ma.getmaskarray(band)
    low, high = np.percentile(values[valid], [1, 99]) if valid.any() else (0.0, 1.0)
    grey = np.clip((values - low) / max(high - low, 1e-9) * 255, 0, 255).astype("uint8")
    alpha = np.where(valid, 255, 0).astype("uint8")
    with MemoryFile() as memory:
        with memory.open(driver="PNG", width=width, height=height, count=2, dtype="uint8") as png:
            png.write(np.stack([grey, alpha]))
        return (west, south, east, north), memory.read()


def _relief(sources: dict[str, Path], name: str) -> tuple[tuple[float, ...], bytes]:
    path = sources.get(name)
    if path is None:
        abort(404)
    try:
        resolved = path.resolve(strict=True)
        version = f"{resolved}:{resolved.stat().st_mtime_ns}"
    except OSError:
        abort(404)
    return render_relief(resolved, version)


def _tile_matrix_sets_use_our_templates() -> None:
    """Give pygeoapi's tile matrix set pages our templates.

    pygeoapi 0.24 renders ``/TileMatrixSets`` with the whole configuration where the
    ``server.templates`` block belongs, so those pages fall back to its own templates (assets
    from CDNs, English). The renderer it calls is swapped for one that passes the block.
    """
    from pygeoapi.api import tiles
    from pygeoapi.util import render_j2_template

    def render(config: dict, tpl_config: Any, template: str, data: dict, locale_: Any = None):
        if isinstance(tpl_config, dict) and "server" in tpl_config:
            tpl_config = tpl_config["server"].get("templates")
        return render_j2_template(config, tpl_config, template, data, locale_)

    tiles.render_j2_template = render


def install(app: Flask, config: dict, cache_control: str = "public, max-age=3600") -> None:
    """Add ``/assets/geopublish/<file>`` and ``/backgrounds/<id>`` (+ ``.png``) to ``app``."""
    _tile_matrix_sets_use_our_templates()
    sources = relief_sources(config)

    @app.get("/backgrounds/<name>")
    def relief_bounds(name: str) -> Response:
        bounds, _ = _relief(sources, name)
        body = {"collection": name, "bbox": bounds, "image": f"{name}.png"}
        return Response(json.dumps(body), mimetype="application/json")

    @app.get("/backgrounds/<name>.png")
    def relief_image(name: str) -> Response:
        _, png = _relief(sources, name)
        response = Response(png, mimetype="image/png")
        response.headers["Cache-Control"] = cache_control
        return response

    files = {p.name: p for p in STATIC.iterdir() if p.suffix in TYPES}

    @app.get(PREFIX + "/<name>")
    def page_asset(name: str) -> Response:
        path = files.get(name)
        if path is None:
            abort(404)
        response = send_file(path, mimetype=TYPES[path.suffix], conditional=True, max_age=None)
        response.headers["Cache-Control"] = cache_control
        return response
