"""Batches -> rows for PostgreSQL's binary ``COPY``, and the DDL of a stored layer.

Values are converted column by column to the Python type of their PostgreSQL column; psycopg
formats each row in C (binary COPY, no text parsing on the server) and the geometry travels as
plain WKB, which the geometry column's type modifier gives its SRID.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import geopandas as gpd
from psycopg import sql

from geopublish import model
from geopublish.errors import StoreError
from geopublish.model import HASH_COLUMN
from geopublish.store.base import LayerSchema, wkb_column

PG_TYPES = {
    "string": "text",
    "integer": "bigint",
    "number": "double precision",
    "boolean": "boolean",
    "date": "text",
    "datetime": "text",
}
COPY_TYPES = {
    "string": "text",
    "integer": "int8",
    "number": "float8",
    "boolean": "bool",
    "date": "text",
    "datetime": "text",
}
CONVERT: dict[str, Callable[[Any], Any]] = {
    "string": str,
    "integer": int,
    "number": float,
    "boolean": bool,
    "date": str,
    "datetime": str,
}
GEOMETRY_TYPES = {
    "Point",
    "MultiPoint",
    "LineString",
    "MultiLineString",
    "Polygon",
    "MultiPolygon",
}


def srid(storage_crs: str) -> int:
    """EPSG code of a storage CRS; CRS84 is stored lon/lat as SRID 4326."""
    try:
        return model.srid(storage_crs)
    except ValueError as exc:
        raise StoreError(f"{exc}; PostGIS needs one") from exc


def columns(schema: LayerSchema) -> list[str]:
    """Stored column names in COPY order."""
    return ["fid", *schema.fields, HASH_COLUMN, "geom"]


def create_table(schema: LayerSchema, qualified: sql.Composable) -> sql.Composed:
    """``CREATE TABLE`` for one version of a layer (no index: those come after COPY)."""
    kind = schema.geometry_type if schema.geometry_type in GEOMETRY_TYPES else "Geometry"
    defs: list[sql.Composable] = [sql.SQL("fid bigint NOT NULL")]
    for name, type_ in schema.fields.items():
        defs.append(sql.SQL("{} {}").format(sql.Identifier(name), sql.SQL(PG_TYPES[type_])))
    defs.append(sql.SQL("{} text").format(sql.Identifier(HASH_COLUMN)))
    defs.append(
        sql.SQL("geom geometry({}, {})").format(
            sql.SQL(kind), sql.Literal(srid(schema.storage_crs))
        )
    )
    return sql.SQL("CREATE TABLE {} ({})").format(qualified, sql.SQL(", ").join(defs))


def copy_statement(schema: LayerSchema, qualified: sql.Composable) -> sql.Composed:
    """The ``COPY ... FROM STDIN`` matching :func:`rows`."""
    names = sql.SQL(", ").join(sql.Identifier(c) for c in columns(schema))
    return sql.SQL("COPY {} ({}) FROM STDIN (FORMAT binary)").format(qualified, names)


def copy_types(schema: LayerSchema) -> list[str]:
    """Binary COPY types in :func:`columns` order (WKB goes as bytes)."""
    return ["int8", *(COPY_TYPES[t] for t in schema.fields.values()), "text", "bytea"]


def rows(gdf: gpd.GeoDataFrame, schema: LayerSchema, first_fid: int) -> Iterator[tuple]:
    """One batch as COPY rows: fid, declared fields, content hash, WKB."""
    values: list[Any] = [range(first_fid, first_fid + len(gdf))]
    for name, type_ in schema.fields.items():
        column = gdf[name]
        convert = CONVERT[type_]
        present = column.notna().to_numpy()
        values.append(
            [convert(v) if ok else None for v, ok in zip(column.tolist(), present, strict=True)]
        )
    values.append(gdf[HASH_COLUMN].tolist())
    values.append(wkb_column(gdf).tolist())
    return zip(*values, strict=True)
