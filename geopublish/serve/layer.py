"""A published GeoPackage opened for serving: connection, metadata and geometry decoding.

Opened read-only and ``immutable`` (published versions never change), cached per path and
per thread; a new version is a new path, so caches never go stale.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from typing import Any

import numpy as np
import shapely

from geopublish.catalog.models import FIELD_JSON_SCHEMA
from geopublish.model import HASH_COLUMN, META_TABLE

ENVELOPE_BYTES = {0: 0, 1: 32, 2: 48, 3: 48, 4: 64}
JSON_TYPES = FIELD_JSON_SCHEMA
_CACHE = threading.local()


class Layer:
    """Read access to one published version of one collection."""

    def __init__(self, path: str, table: str) -> None:
        self.path = path
        self.table = table
        self.con = sqlite3.connect(
            f"file:{path}?mode=ro&immutable=1", uri=True, check_same_thread=False
        )
        meta = {
            k: json.loads(v) for k, v in self.con.execute(f"SELECT key, value FROM {META_TABLE}")
        }
        self.meta = meta
        self.count: int = int(meta["count"])
        self.types: dict[str, str] = meta["fields"]
        self.id_column: str = meta["id_column"]
        self.field_names = [n for n in self.types if n != HASH_COLUMN]
        self.rtree = f"rtree_{table}_geom"
        self.geometry_type: str = meta.get("geometry_type", "Unknown")
        self.points = self.geometry_type in ("Point", "MultiPoint")
        low, high = self.con.execute(f'SELECT min(fid), max(fid) FROM "{table}"').fetchone()
        # Builds write fids 1..N in one pass: then an unfiltered page is a fid range, not a scan.
        self.first_fid: int | None = (
            low if high is not None and high - low + 1 == self.count else None
        )

    def json_fields(self) -> dict[str, dict[str, str]]:
        """Field name -> JSON Schema type."""
        return {n: dict(JSON_TYPES[t]) for n, t in self.types.items()}

    def select_columns(self) -> str:
        """The SELECT list: declared fields in order, then the geometry blob."""
        return ", ".join([f't."{n}"' for n in self.field_names] + ["t.geom"])

    def present(self, index: int, value: Any) -> Any:
        """A stored value as JSON: SQLite keeps booleans as 0/1."""
        if value is not None and self.types[self.field_names[index]] == "boolean":
            return bool(value)
        return value

    def by_id(self, identifier: str) -> tuple[Any, ...] | None:
        """The row of one feature, or None."""
        value: Any = identifier
        if self.types[self.id_column] == "integer":
            try:
                value = int(identifier)
            except ValueError:
                return None
        sql = f'SELECT {self.select_columns()} FROM "{self.table}" t WHERE t."{self.id_column}" = ?'
        return self.con.execute(sql, (value,)).fetchone()

    @staticmethod
    def wkb(blob: bytes | None) -> bytes | None:
        """The WKB inside a GeoPackage geometry blob (header and envelope skipped)."""
        if blob is None:
            return None
        flags = blob[3]
        return blob[8 + ENVELOPE_BYTES[(flags >> 1) & 0b111] :]

    def decode(self, blobs: list[bytes | None]) -> np.ndarray:
        """Shapely geometries from GeoPackage blobs."""
        return shapely.from_wkb([self.wkb(b) for b in blobs])


def open_layer(path: str, table: str) -> Layer:
    """The cached Layer for this thread and this published file."""
    cache: dict[tuple[str, str], Layer] = getattr(_CACHE, "layers", None) or {}
    _CACHE.layers = cache
    key = (path, table)
    layer = cache.get(key)
    if layer is None:
        stale = [k for k in cache if k[1] == table and k[0] != path]
        for k in stale:
            cache.pop(k).con.close()
        layer = cache[key] = Layer(path, table)
    return layer
