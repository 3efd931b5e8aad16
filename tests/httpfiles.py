"""A real HTTP file server for source tests: ETag, Last-Modified only, or neither."""

from __future__ import annotations

import hashlib
import json
import threading
import time
from email.utils import formatdate, parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


class FileServer:
    """Serves ``root/<mode>/<name>``; ``mode`` decides which validators are sent.

    ``etag``: ETag + If-None-Match; ``lm``: Last-Modified + If-Modified-Since; ``none``:
    neither (always 200). ``fail`` (status) and ``delay`` (seconds) misbehave on demand;
    ``log`` lists (path, status) of every GET; ``posts`` collects JSON bodies POSTed.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self.log: list[tuple[str, int]] = []
        self.posts: list[dict] = []
        self.fail: int | None = None
        self.delay = 0.0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                server.posts.append(json.loads(self.rfile.read(length)))
                self.send_response(204)
                self.end_headers()

            def do_GET(self) -> None:
                status, headers, body = server.answer(self)
                server.log.append((self.path, status))  # before the client can see it
                if status >= 400:
                    self.send_error(status)
                    return
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_port}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def answer(self, h: BaseHTTPRequestHandler) -> tuple[int, dict[str, str], bytes]:
        """Status, headers and body for one GET."""
        if self.delay:
            time.sleep(self.delay)
        if self.fail:
            return self.fail, {}, b""
        mode = h.path.strip("/").split("/")[0]
        path = self.root / h.path.lstrip("/")
        if not path.is_file():
            return 404, {}, b""
        data = path.read_bytes()
        etag = '"' + hashlib.sha1(data).hexdigest()[:16] + '"'
        mtime = int(path.stat().st_mtime)
        headers = {}
        if mode == "etag":
            headers["ETag"] = etag
            if h.headers.get("If-None-Match") == etag:
                return 304, headers, b""
        if mode == "lm":
            headers["Last-Modified"] = formatdate(mtime, usegmt=True)
            since = h.headers.get("If-Modified-Since")
            if since and mtime <= parsedate_to_datetime(since).timestamp():
                return 304, headers, b""
        return 200, headers, data

    def gets(self, name: str) -> list[int]:
        """Statuses of the GETs of one path so far."""
        return [s for p, s in self.log if p == name]

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def points(n: int, gen: int = 0, *, renamed: set[int] = frozenset()) -> dict:
    """A GeoJSON FeatureCollection of ``n`` points near Montpellier, ids P0000...

    Two corner points keep the extent fixed whatever ``n``; ``gen`` is stamped on every
    feature, so a response shows which version it came from.
    """
    features = []
    for i in range(n):
        x, y = 3.80 + (i % 50) * 0.002, 43.55 + (i // 50) * 0.002
        if i == 0:
            x, y = 3.7, 43.5
        if i == 1:
            x, y = 4.0, 43.7
        name = f"point {i}" + (" (renamed)" if i in renamed else "")
        features.append(
            {
                "type": "Feature",
                "properties": {"code": f"P{i:04d}", "nom": name, "gen": gen},
                "geometry": {"type": "Point", "coordinates": [round(x, 6), round(y, 6)]},
            }
        )
    return {"type": "FeatureCollection", "features": features}


def write_points(path: Path, collection: dict, *, bump: float = 0) -> None:
    """Write a GeoJSON file; ``bump`` moves its mtime forward (Last-Modified has 1 s steps)."""
    import os

    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(collection))
    if bump:
        now = time.time() + bump
        os.utime(path, (now, now))


def points_spec(location: dict, **extra: object) -> dict:
    """A layer spec over ``points`` data; ``location`` is the part (path or url)."""
    return {
        "schema_version": 1,
        "title": "Test points",
        "description": "Points written by the tests.",
        "licence": {"name": "test"},
        "attribution": "tests",
        "source": {"parts": [location]},
        "conform": {
            "fields": [
                {"name": "code", "type": "string"},
                {"name": "nom", "type": "string"},
                {"name": "gen", "type": "integer"},
            ]
        },
        "feature_id": {"fields": ["code"]},
        "geometry": {"type": "Point"},
        "checks": {"min_features": 1},
        **extra,
    }


def independent_diff(before: dict, after: dict) -> dict[str, list[str]]:
    """Ids added, modified, removed between two FeatureCollections, by plain comparison."""

    def index(fc: dict) -> dict[str, str]:
        return {
            f["properties"]["code"]: json.dumps([f["properties"], f["geometry"]], sort_keys=True)
            for f in fc["features"]
        }

    old, new = index(before), index(after)
    return {
        "added": sorted(set(new) - set(old)),
        "modified": sorted(k for k in set(new) & set(old) if new[k] != old[k]),
        "removed": sorted(set(old) - set(new)),
    }
