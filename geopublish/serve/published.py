"""The served version of each collection, read the way the store published it.

A store writes one :class:`~geopublish.model.PublishedLayer` record beside each version (the
``geopublish_meta`` table of a GeoPackage, the ``geopublish_meta`` table of the PostGIS schema,
a JSON file beside a raster version). serve/ reads that record from the resource's provider
block at each request, so a swap or a rollback shows without a reload.
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


def _number(path: Path) -> int:
    match = VERSION_FILE.match(path.name)
    return int(match.group(1)) if match else 0


def _gpkg(provider: dict[str, Any]) -> PublishedLayer:
    path = Path(os.path.realpath(provider["data"]))
    table = provider.get("table") or ""
    layer = open_layer(str(path), table)
    return PublishedLayer.model_validate(layer.meta).placed(
        version=_number(path), current=True, store="gpkg", location=str(path)
    )


def _postgis(provider: dict[str, Any]) -> PublishedLayer | None:
    from geopublish.serve.postgis_provider import _connection, dsn_of

    con = _connection(dsn_of(provider))
    row = con.execute(
        sql.SQL("SELECT version, meta FROM {} WHERE collection = %s AND current").format(
            sql.Identifier(provider.get("schema", "geopublish"), META_TABLE)
        ),
        (provider["table"],),
    ).fetchone()
    if row is None:
        return None
    return PublishedLayer.model_validate(row[1]).placed(
        version=int(row[0]), current=True, store="postgis"
    )


def _raster(provider: dict[str, Any]) -> PublishedLayer | None:
    path = Path(os.path.realpath(provider["data"]))
    sidecar = path.with_suffix(".json")
    if not sidecar.is_file():
        return None
    record = json.loads(sidecar.read_text(encoding="utf-8"))
    return PublishedLayer.model_validate({**record, "kind": "coverage"}).placed(
        version=_number(path), current=True, store="raster", location=str(path)
    )
