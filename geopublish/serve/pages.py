"""The HTML pages' own script and style sheet, served by the service like the vendored libraries.

The templates (``serve/templates``, pygeoapi's ``server.templates``) hold no executable inline
script: every value a page's script needs travels as JSON in an HTML-escaped ``data-`` attribute
and ``pages.js`` reads it, so a Content-Security-Policy of ``script-src 'self'`` holds and a
producer's value can never become code.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Flask, Response, abort, send_file

PREFIX = "/assets/geopublish"
STATIC = Path(__file__).with_name("static")
TYPES = {".js": "text/javascript", ".css": "text/css"}


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


def install(app: Flask, cache_control: str = "public, max-age=3600") -> None:
    """Add ``/assets/geopublish/<file>`` (the pages' script and style sheet) to ``app``."""
    _tile_matrix_sets_use_our_templates()
    files = {p.name: p for p in STATIC.iterdir() if p.suffix in TYPES}

    @app.get(PREFIX + "/<name>")
    def page_asset(name: str) -> Response:
        path = files.get(name)
        if path is None:
            abort(404)
        response = send_file(path, mimetype=TYPES[path.suffix], conditional=True, max_age=None)
        response.headers["Cache-Control"] = cache_control
        return response
