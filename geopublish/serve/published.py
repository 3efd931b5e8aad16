"""The served version of each collection, read the way the store published it.

A store writes one :class:`~geopublish.model.PublishedLayer` record beside each version (the
``geopublish_meta`` table of a GeoPackage, the ``geopublish_meta`` table of the PostGIS schema,
a JSON file beside a raster version). serve/ reads that record from the resource's provider
block at each request, so a swap or a rollback shows without a reload.

A PostGIS record costs a round trip to the database. Each worker keeps the last one it read
(:func:`recent_layer`): the direct path answers with it only when its data statement checks,
in the same statement, that this version is still the current one
(:class:`~geopublish.serve.postgis_provider.PostGISProvider`), so a swapped version is never
served late.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from geopublish.model import GPKG_PROVIDER, META_TABLE, POSTGIS_PROVIDER, PublishedLayer
from geopublish.serve.layer import open_layer

VERSION_FILE = re.compile(r"^v(\d{6})\.")
# (DSN, schema, collection) -> the last PostGIS record this worker read. A record never changes
# once published, but a pruned version's number can come back: version and build id name one.
_RECENT: dict[tuple[str, str, str], PublishedLayer] = {}
# (version file, table) -> its record, for the version each GeoPackage collection serves.
_GPKG: dict[tuple[str, str], PublishedLayer] = {}


def served_layer(resource: dict[str, Any]) -> PublishedLayer | None:
    """The served version of a pygeoapi resource geopublish publishes, or None."""
    for provider in resource.get("providers", []):
        name = provider.get("name")
        try:
            if name == GPKG_PROVIDER:
                return _gpkg(provider)
            if name == POSTGIS_PROVIDER:
                return _postgis(provider)
            if provider.get("type") == "coverage":
                return _raster(provider)
        except (OSError, ValueError, KeyError, psycopg.Error):
            return None
    return None


def recent_layer(provider: dict[str, Any]) -> PublishedLayer | None:
    """The PostGIS record this worker read last for a provider block, unchecked; or None."""
    if provider.get("name") != POSTGIS_PROVIDER:
        return None
    from geopublish.serve.postgis_provider import dsn_of

    return _RECENT.get((dsn_of(provider), provider.get("schema", "geopublish"), provider["table"]))


def _number(path: Path) -> int:
    match = VERSION_FILE.match(path.name)
    return int(match.group(1)) if match else 0


def _gpkg(provider: dict[str, Any]) -> PublishedLayer:
    path = os.path.realpath(provider["data"])
    table = provider.get("table") or ""
    key = (path, table)
    found = _GPKG.get(key)
    if found is None:  # a version file never changes: its record is read once per worker
        layer = open_layer(path, table)
        found = PublishedLayer.model_validate(layer.meta).placed(
            version=_number(Path(path)), current=True, store="gpkg", location=path
        )
        for old in [k for k in list(_GPKG) if k[1] == table]:
            _GPKG.pop(old, None)
        _GPKG[key] = found
    return found


def _postgis(provider: dict[str, Any]) -> PublishedLayer | None:
    from geopublish.serve.postgis_provider import dsn_of

    return read_postgis(dsn_of(provider), provider.get("schema", "geopublish"), provider["table"])


def read_postgis(dsn: str, schema: str, table: str) -> PublishedLayer | None:
    """The current version's record of a PostGIS collection, read now (and kept as recent)."""
    from geopublish.serve.postgis_provider import _connection

    key = (dsn, schema, table)
    row = (
        _connection(dsn)
        .execute(
            sql.SQL("SELECT version, meta FROM {} WHERE collection = %s AND current").format(
                sql.Identifier(schema, META_TABLE)
            ),
            (table,),
        )
        .fetchone()
    )
    if row is None:
        _RECENT.pop(key, None)
        return None
    known = _RECENT.get(key)
    if known is not None and (known.version, known.build_id) == (row[0], row[1].get("build_id")):
        return known  # a version's record never changes once published
    layer = PublishedLayer.model_validate(row[1]).placed(
        version=int(row[0]), current=True, store="postgis"
    )
    _RECENT[key] = layer
    return layer


def _raster(provider: dict[str, Any]) -> PublishedLayer | None:
    path = Path(os.path.realpath(provider["data"]))
    sidecar = path.with_suffix(".json")
    if not sidecar.is_file():
        return None
    record = json.loads(sidecar.read_text(encoding="utf-8"))
    return PublishedLayer.model_validate({**record, "kind": "coverage"}).placed(
        version=_number(path), current=True, store="raster", location=str(path)
    )
