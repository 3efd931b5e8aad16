"""The served record of each collection, kept per worker and re-read only when it changed.

Reading the record (:func:`~geopublish.serve.published.served_layer`) costs a metadata read and
a model validation; a tile request needs it only to know which version is served. Each cached
record is kept with a freshness token that is cheap to read again at every request and that
every swap or rollback changes:

- GeoPackage store and coverages: the ``current.gpkg`` (``current.tif``) link's inode,
  modification and change times (a swap or a rollback replaces the link with ``os.replace``:
  a new inode);
- PostGIS store: the served version number and build id (one indexed read of the
  ``geopublish_meta`` row, without its record).

So a publication or a rollback is visible at the next request, as with no cache.
"""

from __future__ import annotations

import os
import threading
from typing import Any

import psycopg
from psycopg import sql

from geopublish.model import GPKG_PROVIDER, META_TABLE, POSTGIS_PROVIDER, PublishedLayer
from geopublish.serve.published import served_layer


def _token(resource: dict[str, Any]) -> tuple[Any, ...] | None:
    """What changes whenever the served version of ``resource`` does; None: not known."""
    for provider in resource.get("providers", []):
        name = provider.get("name")
        try:
            if name == GPKG_PROVIDER or provider.get("type") == "coverage":
                stat = os.lstat(provider["data"])
                return ("link", stat.st_ino, stat.st_mtime_ns, stat.st_ctime_ns)
            if name == POSTGIS_PROVIDER:
                return _postgis_token(provider)
        except (OSError, KeyError, psycopg.Error):
            return None
    return None


def _postgis_token(provider: dict[str, Any]) -> tuple[Any, ...] | None:
    from geopublish.serve.postgis_provider import _connection, dsn_of

    con = _connection(dsn_of(provider))
    row = con.execute(
        sql.SQL(
            "SELECT version, meta->>'build_id' FROM {} WHERE collection = %s AND current"
        ).format(sql.Identifier(provider.get("schema", "geopublish"), META_TABLE)),
        (provider["table"],),
    ).fetchone()
    return None if row is None else ("postgis", row[0], row[1])


class ServedCache:
    """Per-worker cache of served records, checked against their freshness token."""

    def __init__(self) -> None:
        self._records: dict[str, tuple[tuple[Any, ...], PublishedLayer]] = {}
        self._lock = threading.Lock()

    def get(self, cid: str, resource: dict[str, Any]) -> PublishedLayer | None:
        """The served version of ``resource`` (collection ``cid``), or None."""
        token = _token(resource)
        if token is None:
            self._records.pop(cid, None)
            return None
        found = self._records.get(cid)
        if found is not None and found[0] == token:
            return found[1]
        layer = served_layer(resource)
        if layer is None:
            return None
        # The record is read after the token: if a swap happened in between, the next
        # request sees a new token and reads the record again.
        with self._lock:
            self._records[cid] = (token, layer)
        return layer
