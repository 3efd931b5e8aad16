"""Change feed, run history and "last updated" metadata of each collection, over HTTP.

``/collections/<id>/changes`` lists the change sets (ids added, modified, removed at each
publication); ``?since=N`` returns the full ones after N, for clients that sync; one change
set is ``/collections/<id>/changes/<seq>``. ``/collections/<id>/history`` is the run history.
Collection documents get ``updated``, a ``geopublish`` block (served version, build, source
fingerprint and HTTP validators) and links to both, read from the store at each request, so
a swap shows without a reload.
"""

from __future__ import annotations

import gzip
import json
import re
from typing import Any

from flask import Flask, Response, request

from geopublish.ledger import ChangeLog, RunLog
from geopublish.serve.published import served_layer
from geopublish.settings import Settings

SAFE_ID = re.compile(r"^[a-z][a-z0-9_]*$")
METADATA = re.compile(r"^/collections(?:/(?P<cid>[a-z][a-z0-9_]*))?/?$")


def _json(data: Any, status: int = 200) -> Response:
    return Response(json.dumps(data, ensure_ascii=False), status, mimetype="application/json")


def _error(status: int, code: str, description: str) -> Response:
    return _json({"code": code, "type": code, "description": description}, status)


def _count(name: str, default: int, most: int) -> int:
    raw = request.args.get(name)
    if raw is None:
        return default
    if not raw.isdigit() or not (0 <= int(raw) <= 10**9):
        raise ValueError(f"{name} {raw!r}: expected a whole number >= 0")
    return min(int(raw), most) if name == "limit" else int(raw)


class Feed:
    """The routes and the metadata hook, bound to one settings object."""

    def __init__(self, settings: Settings, config: dict[str, Any]) -> None:
        self.settings = settings
        self.resources: dict[str, Any] = config.get("resources", {})

    def _known(self, cid: str) -> bool:
        return bool(SAFE_ID.match(cid)) and (self.settings.var_dir / "history" / cid).is_dir()

    def changes(self, cid: str) -> Response:
        """Change sets of a collection: summaries, or full ones after ``since``."""
        if not self._known(cid):
            return _error(404, "NotFound", f"collection {cid!r} has no change feed")
        log = ChangeLog(self.settings.var_dir, cid)
        base = f"{self.settings.public_url}/collections/{cid}/changes"
        try:
            since = _count("since", -1, 0) if "since" in request.args else None
            limit = _count("limit", 20, 100)
        except ValueError as exc:
            return _error(400, "InvalidParameterValue", f"collection {cid!r}: {exc}")
        latest = log.latest()
        body: dict[str, Any] = {"collection": cid, "latest": latest["seq"] if latest else 0}
        links = [{"rel": "self", "type": "application/json", "href": request.url}]
        if since is None:
            found = log.since(0, ids=False, limit=10**9)[-limit:][::-1] if limit else []
            for change in found:
                change["href"] = f"{base}/{change['seq']}"
        else:
            found = log.since(since, ids=True, limit=limit)
            if found and found[-1]["seq"] < body["latest"]:
                href = f"{base}?since={found[-1]['seq']}&limit={limit}"
                links.append({"rel": "next", "type": "application/json", "href": href})
        body["changes"] = found
        body["links"] = links
        return _json(body)

    def change(self, cid: str, seq: int) -> Response:
        """One full change set."""
        found = ChangeLog(self.settings.var_dir, cid).get(seq) if self._known(cid) else None
        if found is None:
            return _error(404, "NotFound", f"collection {cid!r}: no change set {seq}")
        return _json(found)

    def history(self, cid: str) -> Response:
        """Run records of a collection, newest first."""
        if not self._known(cid):
            return _error(404, "NotFound", f"collection {cid!r} has no history")
        try:
            limit = _count("limit", 50, 1000)
        except ValueError as exc:
            return _error(400, "InvalidParameterValue", f"collection {cid!r}: {exc}")
        runs = RunLog(self.settings.var_dir, cid).read(limit)
        return _json({"collection": cid, "runs": runs})

    def describe(self, cid: str) -> dict[str, Any] | None:
        """``updated`` and the ``geopublish`` block of one collection's document."""
        resource = self.resources.get(cid)
        layer = served_layer(resource) if resource else None
        if layer is None:
            return None
        latest = ChangeLog(self.settings.var_dir, cid).latest()
        updated = (
            latest["published_at"] if latest and latest["version"] == layer.version else None
        ) or layer.built_at
        return {
            "updated": updated,
            "version": layer.version,
            "build_id": layer.build_id,
            "built_at": layer.built_at,
            "source": {"sha256": layer.source_sha256, "http": layer.source_http},
        }

    def decorate(self, response: Response) -> Response:
        """Add ``updated``, the ``geopublish`` block and feed links to collection documents."""
        match = METADATA.match(request.path)
        if not match or response.status_code != 200 or response.direct_passthrough:
            return response
        if response.mimetype not in (None, "application/json"):
            return response
        zipped = response.headers.get("Content-Encoding") == "gzip"
        try:
            raw = response.get_data()
            doc = json.loads(gzip.decompress(raw) if zipped else raw)
        except (ValueError, OSError):
            return response
        if not isinstance(doc, dict):
            return response
        items = [doc] if match["cid"] else doc.get("collections", [])
        for item in items:
            cid = item.get("id") if isinstance(item, dict) else None
            info = self.describe(cid) if cid and SAFE_ID.match(cid) else None
            if info is None:
                continue
            item["updated"] = info["updated"]
            item["geopublish"] = info
            base = f"{self.settings.public_url}/collections/{cid}"
            item.setdefault("links", []).extend(
                [
                    {
                        "rel": "version-history",
                        "type": "application/json",
                        "title": "Change feed: ids added, modified, removed at each publication",
                        "href": f"{base}/changes",
                    },
                    {
                        "rel": "related",
                        "type": "application/json",
                        "title": "Refresh history: every run, its source fingerprint and outcome",
                        "href": f"{base}/history",
                    },
                ]
            )
        text = json.dumps(doc, ensure_ascii=False).encode("utf-8")
        response.set_data(gzip.compress(text) if zipped else text)
        return response


def install_feed(app: Flask, settings: Settings, config: dict[str, Any]) -> None:
    """Register the feed routes and the metadata hook on pygeoapi's Flask app."""
    feed = Feed(settings, config)
    app.add_url_rule("/collections/<cid>/changes", "geopublish_changes", feed.changes)
    app.add_url_rule("/collections/<cid>/changes/<int:seq>", "geopublish_change", feed.change)
    app.add_url_rule("/collections/<cid>/history", "geopublish_history", feed.history)
    app.after_request(feed.decorate)
