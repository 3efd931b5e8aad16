"""The WSGI application: pygeoapi's Flask app plus geopublish's own routes.

pygeoapi reads its configuration when its module is imported, so each gunicorn worker imports
this module after ``PYGEOAPI_CONFIG`` points at the generated file; a graceful reload of the
workers (SIGHUP) therefore picks up a regenerated configuration without dropping requests.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from flask import Response, abort, send_file
from pygeoapi.flask_app import APP, CONFIG

from geopublish.serve.coverages import install as install_coverage_schema
from geopublish.serve.feed import install_feed
from geopublish.serve.http import install
from geopublish.serve.queryables import install as install_queryables
from geopublish.settings import get_settings

SAFE_ID = re.compile(r"^[a-z][a-z0-9_]*$")
SETTINGS = get_settings()
install(APP, SETTINGS.cache_control)
install_feed(APP, SETTINGS)


def _collection_dir(base: Path, cid: str) -> Path:
    if not SAFE_ID.match(cid):
        abort(404)
    return base / cid


@APP.get("/reports/<cid>")
def latest_report(cid: str) -> Response:
    """The latest build report of a collection (JSON)."""
    path = _collection_dir(SETTINGS.reports_dir, cid) / "latest.json"
    if not path.is_file():
        abort(404)
    return Response(path.read_bytes(), mimetype="application/json")


@APP.get("/reports/<cid>/history")
def report_history(cid: str) -> Response:
    """Every kept build report of a collection, newest first (JSON list)."""
    folder = _collection_dir(SETTINGS.reports_dir, cid)
    if not folder.is_dir():
        abort(404)
    runs = [
        json.loads(p.read_text(encoding="utf-8"))
        for p in sorted(folder.glob("2*.json"), reverse=True)
    ]
    return Response(json.dumps(runs, ensure_ascii=False), mimetype="application/json")


@APP.get("/downloads/<cid>.gpkg")
def download(cid: str) -> Response:
    """The served version of a layer as one GeoPackage file."""
    link = _collection_dir(SETTINGS.store_dir, cid) / "current.gpkg"
    if not link.exists():
        abort(404)
    path = link.resolve()
    return send_file(
        path,
        mimetype="application/geopackage+sqlite3",
        as_attachment=True,
        download_name=f"{cid}.gpkg",
        conditional=True,
        etag=path.name,
    )


install_coverage_schema(APP, CONFIG)
install_queryables(APP, CONFIG)

app = APP
