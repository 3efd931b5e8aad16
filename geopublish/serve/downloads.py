"""``/downloads/<id>.<format>`` and ``/downloads/<id>``: the served build's whole-layer files.

The files of each build live in ``var/downloads/<id>/<build_id>/`` (written by publish/ before
the swap). Each request reads the served version's build id from the store's record, so the
downloads change with the data at the swap and come back with a rollback.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from flask import Flask, Response, abort, send_file

from geopublish.model import DOWNLOADS_MANIFEST
from geopublish.serve.published import served_layer
from geopublish.settings import Settings

SAFE_ID = re.compile(r"^[a-z][a-z0-9_]*$")
SAFE_SUFFIX = re.compile(r"^[a-z]{2,8}$")


def manifest(root: Path, cid: str, build_id: str) -> dict[str, Any] | None:
    """The manifest of one build's downloads, or None."""
    try:
        found = json.loads((root / cid / build_id / DOWNLOADS_MANIFEST).read_text("utf-8"))
    except (OSError, ValueError):
        return None
    return found if isinstance(found, dict) else None


class DownloadRoutes:
    """The download routes, bound to the settings and the loaded configuration."""

    def __init__(self, settings: Settings, config: dict[str, Any]) -> None:
        self.root = settings.downloads_dir
        self.base = settings.public_url
        self.resources: dict[str, Any] = config.get("resources", {})

    def served(self, cid: str) -> tuple[str, dict[str, Any]] | None:
        """The served build id of a collection and its downloads manifest."""
        resource = self.resources.get(cid) if SAFE_ID.match(cid) else None
        layer = served_layer(resource) if resource else None
        if layer is None:
            return None
        found = manifest(self.root, cid, layer.build_id)
        return (layer.build_id, found) if found else None

    def listing(self, cid: str) -> Response:
        """Every download of the served build: media type, size, SHA-256, link."""
        served = self.served(cid)
        if served is None:
            abort(404)
        build_id, found = served
        files = {
            suffix: {**entry, "href": f"{self.base}/downloads/{cid}.{suffix}"}
            for suffix, entry in found.get("files", {}).items()
        }
        body = {"collection": cid, "build_id": build_id, "files": files}
        return Response(json.dumps(body, ensure_ascii=False), mimetype="application/json")

    def file(self, cid: str, suffix: str) -> Response:
        """One download file of the served build."""
        served = self.served(cid) if SAFE_SUFFIX.match(suffix) else None
        entry = served[1].get("files", {}).get(suffix) if served else None
        if served is None or entry is None:
            abort(404)
        path = self.root / cid / served[0] / entry["name"]
        if not path.is_file():
            abort(404)
        return send_file(
            path,
            mimetype=entry["media_type"],
            as_attachment=True,
            download_name=entry["name"],
            conditional=True,
            etag=entry["sha256"],
        )


def install(app: Flask, settings: Settings, config: dict[str, Any]) -> DownloadRoutes:
    """Register the download routes on pygeoapi's Flask app."""
    routes = DownloadRoutes(settings, config)
    app.add_url_rule("/downloads/<cid>", "geopublish_downloads", routes.listing)
    app.add_url_rule("/downloads/<cid>.<suffix>", "geopublish_download", routes.file)
    return routes
