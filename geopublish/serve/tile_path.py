"""The tile request path: answered in WSGI, before Flask and pygeoapi see the request.

A map asks for dozens of tiles per view; each is one MBTiles row. This middleware answers
``/collections/{id}/tiles/WebMercatorQuad/{z}/{y}/{x}`` (and the raster tiles of coverages)
itself: the served record comes from the per-worker :class:`ServedCache` (a cheap freshness
check per request, so a swap or a rollback shows at the next request), the tile set stays
open per file and thread, the ETag is the version, build and tile key, and the headers are the
ones the Flask hooks give every other response (``Cache-Control``, ``Vary``, CORS as
Flask-CORS answers them). Anything else goes on to the application.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import sqlite3
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from geopublish.model import PublishedLayer, tiles_file
from geopublish.serve.raster_tiles import PNG, Coverage, RasterTiles
from geopublish.serve.served_cache import ServedCache
from geopublish.settings import Settings

MVT = "application/vnd.mapbox-vector-tile"
TILE = re.compile(
    r"^/collections/(?P<cid>[a-z][a-z0-9_]*)/tiles/WebMercatorQuad/"
    r"(?P<z>[^/]+)/(?P<y>[^/]+)/(?P<x>[^/]+)/?$"
)
COORD = re.compile(r"\d{1,2}|\d{1,9}")
STATUS = {200: "200 OK", 204: "204 No Content", 304: "304 Not Modified", 404: "404 Not Found"}
_LOCAL = threading.local()


class TileSet:
    """One MBTiles file opened read-only (``immutable``) for this thread."""

    def __init__(self, path: Path) -> None:
        uri = f"file:{path}?mode=ro&immutable=1"
        self.con = sqlite3.connect(uri, uri=True, check_same_thread=False)
        rows = self.con.execute("SELECT name, value FROM metadata").fetchall()
        self.meta = dict(rows)
        self.minzoom = int(self.meta.get("minzoom", 0))
        self.maxzoom = int(self.meta.get("maxzoom", 14))
        self.vector_layers = json.loads(self.meta.get("json", "{}")).get("vector_layers", [])

    def tile(self, z: int, x: int, y: int) -> bytes | None:
        """The stored tile, or None when it holds no feature."""
        row = self.con.execute(
            "SELECT tile_data FROM tiles WHERE zoom_level = ? AND tile_column = ? AND tile_row = ?",
            (z, x, (1 << z) - 1 - y),
        ).fetchone()
        return None if row is None else bytes(row[0])


def open_tileset(cid: str, path: str) -> TileSet | None:
    """The tile set of ``cid`` at ``path`` for this thread, or None when it is missing.

    Opened once per thread; opening the set of another version closes the one served before.
    """
    cache: dict[str, tuple[str, TileSet]] = getattr(_LOCAL, "sets", None) or {}
    _LOCAL.sets = cache
    found = cache.get(cid)
    if found is not None and found[0] == path:
        return found[1]
    if not os.path.isfile(path):
        return None
    if found is not None:
        found[1].con.close()
    tileset = TileSet(Path(path))
    cache[cid] = (path, tileset)
    return tileset


def tile_coordinates(zs: str, ys: str, xs: str) -> tuple[int, int, int] | str:
    """(z, y, x) of a tile path, or the reason it names no tile of the matrix."""
    if not all(COORD.fullmatch(v) for v in (zs, ys, xs)):
        return f"tile {zs}/{ys}/{xs}: not integers"
    z, y, x = int(zs), int(ys), int(xs)
    if z > 30 or x >= 1 << z or y >= 1 << z:
        return f"tile {z}/{y}/{x} is outside the tile matrix"
    return z, y, x


def etag_matches(header: str, etag: str) -> bool:
    """Whether an ``If-None-Match`` value names ``etag`` (weak comparison, or ``*``)."""
    for part in header.split(","):
        tag = part.strip().removeprefix("W/").strip('"')
        if tag == "*" or tag == etag:
            return True
    return False


class Answer:
    """A response built without Flask: status, headers, body."""

    def __init__(self, status: int, body: bytes = b"", media: str | None = None) -> None:
        self.status = status
        self.body = body
        self.headers: list[tuple[str, str]] = []
        if media:
            self.headers.append(("Content-Type", media))

    @classmethod
    def not_found(cls, text: str) -> Answer:
        """An OGC exception document (404)."""
        body = json.dumps({"code": "NotFound", "description": text}).encode()
        return cls(404, body, "application/json")


def outside(cid: str, z: int, minzoom: int, maxzoom: int) -> Answer:
    """404 for a zoom level outside a tile set's range."""
    return Answer.not_found(f"zoom {z} is outside {cid!r}'s tiles (z{minzoom}-z{maxzoom})")


def tile_etag(cid: str, layer: PublishedLayer, z: int, x: int, y: int) -> str:
    """A tile's validator: its collection's served version and build, and its key."""
    return f"{cid}-v{layer.version}-{layer.build_id}-{z}-{x}-{y}"


class TileRequests:
    """WSGI middleware answering tile requests; everything else reaches ``app``."""

    def __init__(self, app: Any, settings: Settings, config: dict[str, Any]) -> None:
        self.app = app
        self.settings = settings
        self.resources: dict[str, Any] = config.get("resources", {})
        self.cors = bool(config.get("server", {}).get("cors", False))
        self.served = ServedCache()
        self.raster = RasterTiles()
        self._paths: dict[tuple[str, str], str] = {}  # (collection, build id) -> tile set

    def __call__(self, environ: dict[str, Any], start_response: Callable) -> Iterable[bytes]:
        """Answer a tile request, or hand the request on."""
        method = environ.get("REQUEST_METHOD")
        match = TILE.match(environ.get("PATH_INFO", "")) if method in ("GET", "HEAD") else None
        resource = self.resources.get(match["cid"]) if match else None
        if match is None or not isinstance(resource, dict):
            return self.app(environ, start_response)
        answer = self.answer(match, resource, environ)
        if answer is None:
            return self.app(environ, start_response)
        return self.respond(answer, environ, start_response)

    def vector_tiles(
        self, cid: str, resource: dict[str, Any]
    ) -> tuple[PublishedLayer, TileSet] | None:
        """The served version of a feature collection and its tile set, or None."""
        if resource.get("type") != "collection":
            return None
        layer = self.served.get(cid, resource)
        if layer is None or layer.kind != "features":
            return None
        key = (cid, layer.build_id)
        path = self._paths.get(key)
        if path is None:
            path = self._paths[key] = str(tiles_file(self.settings.tiles_dir, cid, layer.build_id))
        tileset = open_tileset(cid, path)
        return None if tileset is None else (layer, tileset)

    def answer(
        self, match: re.Match[str], resource: dict[str, Any], environ: dict[str, Any]
    ) -> Answer | None:
        """The answer to one tile request; None: not a tile this path serves."""
        cid = match["cid"]
        where = tile_coordinates(match["z"], match["y"], match["x"])
        if any(p.get("type") == "coverage" for p in resource.get("providers", [])):
            return self.raster_tile(cid, resource, where, environ)
        served = self.vector_tiles(cid, resource)
        if served is None:
            return Answer.not_found(f"collection {cid!r} has no vector tiles")
        layer, tileset = served
        if isinstance(where, str):
            return Answer.not_found(where)
        z, y, x = where
        if not tileset.minzoom <= z <= tileset.maxzoom:
            return outside(cid, z, tileset.minzoom, tileset.maxzoom)
        etag = tile_etag(cid, layer, z, x, y)
        data = tileset.tile(z, x, y)
        if data is None:
            return self.cached(Answer(204), etag, environ)
        answer = Answer(200, data, MVT)
        if data[:2] == b"\x1f\x8b":
            if "gzip" in environ.get("HTTP_ACCEPT_ENCODING", ""):
                answer.headers.append(("Content-Encoding", "gzip"))
            else:
                answer.body = gzip.decompress(data)
        return self.cached(answer, etag, environ)

    def raster_coverage(
        self, cid: str, resource: dict[str, Any]
    ) -> tuple[PublishedLayer, Coverage] | None:
        """The served version of a coverage and its renderable COG, or None."""
        layer = self.served.get(cid, resource)
        coverage = None if layer is None else self.raster.coverage(layer)
        return None if coverage is None or layer is None else (layer, coverage)

    def raster_tile(
        self,
        cid: str,
        resource: dict[str, Any],
        where: tuple[int, int, int] | str,
        environ: dict[str, Any],
    ) -> Answer:
        """A PNG tile of a coverage's COG."""
        served = self.raster_coverage(cid, resource)
        if served is None:
            return Answer.not_found(f"collection {cid!r} has no map tiles")
        layer, coverage = served
        if isinstance(where, str):
            return Answer.not_found(where)
        z, y, x = where
        if not coverage.minzoom <= z <= coverage.maxzoom:
            return outside(cid, z, coverage.minzoom, coverage.maxzoom)
        etag = tile_etag(cid, layer, z, x, y)
        data = self.raster.tile(coverage, z, x, y)
        if data is None:
            return self.cached(Answer(204), etag, environ)
        return self.cached(Answer(200, data, PNG), etag, environ)

    def cached(self, answer: Answer, etag: str, environ: dict[str, Any]) -> Answer:
        """Validators and caching headers; a 304 when the client has this version."""
        answer.headers.append(("ETag", f'"{etag}"'))
        if self.settings.cache_control:
            answer.headers.append(("Cache-Control", self.settings.cache_control))
        if etag_matches(environ.get("HTTP_IF_NONE_MATCH", ""), etag):
            answer.status = 304
            answer.body = b""
            answer.headers = [h for h in answer.headers if h[0] != "Content-Encoding"]
        return answer

    def respond(
        self, answer: Answer, environ: dict[str, Any], start_response: Callable
    ) -> list[bytes]:
        """Send ``answer`` with the headers every response of the service carries."""
        headers = answer.headers
        vary = "Accept-Encoding"
        if self.cors:
            origin = environ.get("HTTP_ORIGIN")
            headers.append(("Access-Control-Allow-Origin", origin or "*"))
            headers.append(("Access-Control-Expose-Headers", "*"))
            if origin:
                vary += ", Origin"
        headers.append(("Vary", vary))
        if answer.status in (204, 304):
            start_response(STATUS[answer.status], headers)
            return []
        headers.append(("Content-Length", str(len(answer.body))))
        start_response(STATUS.get(answer.status, f"{answer.status} Status"), headers)
        return [b""] if environ.get("REQUEST_METHOD") == "HEAD" else [answer.body]
