"""The WSGI application: pygeoapi's Flask app plus geopublish's own routes.

pygeoapi reads its configuration when its module is imported, so each gunicorn worker imports
this module after ``PYGEOAPI_CONFIG`` points at the generated file; a graceful reload of the
workers (SIGHUP) therefore picks up a regenerated configuration without dropping requests.
"""

from __future__ import annotations

import json
import re

from flask import Response, abort
from pygeoapi.flask_app import APP, CONFIG

from geopublish.ledger import Reports
from geopublish.serve import assets, catalogue, downloads, federation, loaded, pages, quality
from geopublish.serve.coverages import install as install_coverage_schema
from geopublish.serve.feed import install_feed
from geopublish.serve.http import install
from geopublish.serve.queryables import install as install_queryables
from geopublish.serve.tiles import install as install_tiles
from geopublish.settings import get_settings

SAFE_ID = re.compile(r"^[a-z][a-z0-9_]*$")
SETTINGS = get_settings()
loaded.record(SETTINGS.var_dir, SETTINGS.pygeoapi_config)
install(APP, SETTINGS.cache_control)
install_feed(APP, SETTINGS, CONFIG)
install_tiles(APP, SETTINGS, CONFIG)
assets.install(APP, SETTINGS.project_dir / "assets")
pages.install(APP, CONFIG)
downloads.install(APP, SETTINGS, CONFIG)
quality.install(APP, SETTINGS, CONFIG)
catalogue.install(APP, SETTINGS)
federation.install(APP, SETTINGS, CONFIG)


def _reports(cid: str) -> Reports:
    if not SAFE_ID.match(cid):
        abort(404)
    return Reports(SETTINGS.reports_dir, cid)


@APP.get("/reports/<cid>")
def latest_report(cid: str) -> Response:
    """The latest build report of a collection (JSON)."""
    report = _reports(cid).latest()
    if report is None:
        abort(404)
    return Response(json.dumps(report, ensure_ascii=False), mimetype="application/json")


@APP.get("/reports/<cid>/history")
def report_history(cid: str) -> Response:
    """Every kept build report of a collection, newest first (JSON list)."""
    reports = _reports(cid)
    if not reports.known():
        abort(404)
    runs = reports.history()
    return Response(json.dumps(runs, ensure_ascii=False), mimetype="application/json")


install_coverage_schema(APP, CONFIG)
install_queryables(APP, CONFIG)

app = APP
