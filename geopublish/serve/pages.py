"""The HTML pages' own script and style sheet, served by the service like the vendored libraries.

The templates (``serve/templates``, pygeoapi's ``server.templates``) hold no executable inline
script: every value a page's script needs travels as JSON in an HTML-escaped ``data-`` attribute
and ``pages.js`` reads it, so a Content-Security-Policy of ``script-src 'self'`` holds and a
producer's value can never become code.
"""

from __future__ import annotations

from pathlib import Path

from flask import Flask, Response, abort, send_file

PREFIX = "/assets/geopublish"
STATIC = Path(__file__).with_name("static")
TYPES = {".js": "text/javascript", ".css": "text/css"}


def install(app: Flask, cache_control: str = "public, max-age=3600") -> None:
    """Add ``/assets/geopublish/<file>`` (the pages' script and style sheet) to ``app``."""
    files = {p.name: p for p in STATIC.iterdir() if p.suffix in TYPES}

    @app.get(PREFIX + "/<name>")
    def page_asset(name: str) -> Response:
        path = files.get(name)
        if path is None:
            abort(404)
        response = send_file(path, mimetype=TYPES[path.suffix], conditional=True, max_age=None)
        response.headers["Cache-Control"] = cache_control
        return response
