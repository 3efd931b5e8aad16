"""geopublish's pygeoapi feature provider for the PostGIS store.

Each request reads the collection's current row of ``geopublish_meta`` (version, stored count,
fields) and queries that version's table directly: count and features come from one immutable
version, and ``numberMatched`` of an unfiltered request is the stored count, never a COUNT.
If a swap and a prune both happen between the two statements, the table is gone: the request
reads the metadata again and retries once. Connections are kept per thread and per DSN.
"""

from __future__ import annotations

import json
import os
import threading
from typing import Any

import numpy as np
import psycopg
import pyproj
import shapely
from psycopg import sql
from pygeoapi.provider.base import (
    BaseProvider,
    ProviderConnectionError,
    ProviderInvalidQueryError,
    ProviderItemNotFoundError,
)

from geopublish.catalog.models import FIELD_JSON_SCHEMA
from geopublish.serve import queryables
from geopublish.serve.pg_query import PgQuery, PgQueryError
from geopublish.store.base import META_TABLE
from geopublish.store.pg_copy import srid
from geopublish.store.postgis import version_table

JSON_TYPES = FIELD_JSON_SCHEMA
_LOCAL = threading.local()


def _connection(dsn: str) -> psycopg.Connection:
    cache: dict[str, psycopg.Connection] = getattr(_LOCAL, "cons", None) or {}
    _LOCAL.cons = cache
    con = cache.get(dsn)
    if con is None or con.closed or con.broken:
        try:
            con = cache[dsn] = psycopg.connect(dsn, autocommit=True)
        except psycopg.OperationalError as exc:
            raise ProviderConnectionError(user_msg="the PostGIS store is unreachable") from exc
    return con


class PostGISProvider(BaseProvider):
    """OGC API Features over a published PostGIS layer: GiST bbox, paging, CQL2, sortby, CRS."""

    def __init__(self, provider_def: dict[str, Any]) -> None:
        super().__init__(provider_def)
        data = str(self.data)
        self.dsn = os.environ.get(data[4:], "") if data.startswith("env:") else data
        self.schema = provider_def.get("schema", "geopublish")
        self.table = provider_def["table"]
        self.queryables = queryables.declared(provider_def)
        self._load_meta()

    def _load_meta(self) -> None:
        row = (
            _connection(self.dsn)
            .execute(
                sql.SQL("SELECT version, meta FROM {} WHERE collection = %s AND current").format(
                    sql.Identifier(self.schema, META_TABLE)
                ),
                (self.table,),
            )
            .fetchone()
        )
        if row is None:
            raise ProviderConnectionError(user_msg=f"collection {self.table!r} is not published")
        self.version, self.meta = int(row[0]), row[1]
        self.types: dict[str, str] = self.meta["fields"]
        self.id_field = self.meta["id_column"]
        self.srid = srid(self.meta["storage_crs"])
        self._fields = self.get_fields()

    def get_fields(self) -> dict[str, dict[str, str]]:
        """Field names and JSON Schema types, from the build's metadata."""
        return {n: dict(JSON_TYPES[t]) for n, t in self.types.items()}

    def _run(self, build: Any) -> list[tuple[Any, ...]]:
        for attempt in (0, 1):
            table = sql.Identifier(self.schema, version_table(self.table, self.version))
            statement, params = build(table)
            try:
                with _connection(self.dsn).cursor(binary=True) as cur:
                    return cur.execute(statement, params).fetchall()
            except psycopg.errors.UndefinedTable:
                if attempt:
                    raise
                self._load_meta()
        raise AssertionError("unreachable")

    def query(
        self,
        offset: int = 0,
        limit: int = 10,
        resulttype: str = "results",
        bbox: list[float] | None = None,
        datetime_: str | None = None,
        properties: list[tuple[str, str]] | None = None,
        sortby: list[dict[str, str]] | None = None,
        select_properties: list[str] | None = None,
        skip_geometry: bool = False,
        q: str | None = None,
        filterq: Any = None,
        crs_transform_spec: Any = None,
        **kwargs: Any,
    ) -> dict[str, Any]:
        """Features matching every given parameter, paged in a stable order."""
        if q:
            raise ProviderInvalidQueryError(user_msg="q (free-text search) is not supported")
        query = PgQuery(self.types, self.srid)
        try:
            if bbox:
                query.bbox(bbox)
            if datetime_:
                query.datetime(self.time_field, datetime_)
            for name, value in properties or []:
                query.equals(name, value)
            if filterq is not None:
                query.cql(filterq)
            for sort in sortby or []:
                query.order(sort["property"], sort["order"] == "-")
            queryables.check(self.table, self.queryables, [n for n, _ in properties or []], filterq)
        except (PgQueryError, queryables.NotQueryable) as exc:
            raise ProviderInvalidQueryError(user_msg=str(exc)) from exc
        out: dict[str, Any] = {"type": "FeatureCollection", "features": []}
        if resulttype != "hits":
            select = self._select()
            rows = self._run(
                lambda t: (
                    query.statement(select, t) + query.order_by() + sql.SQL(" LIMIT %s OFFSET %s"),
                    [*query.params, limit, offset],
                )
            )
            out["features"] = self._features(
                rows, select_properties, skip_geometry, crs_transform_spec
            )
        if query.unfiltered:
            matched = int(self.meta["count"])
        else:
            count = sql.SQL("count(*)")
            matched = int(self._run(lambda t: (query.statement(count, t), query.params))[0][0])
        out["numberMatched"] = matched
        out["numberReturned"] = len(out["features"])
        return out

    def _select(self) -> sql.Composable:
        names = [sql.Identifier(n) for n in self.types]
        return sql.SQL(", ").join([*names, sql.SQL("ST_AsBinary(geom)")])

    def get(self, identifier: str, **kwargs: Any) -> dict[str, Any]:
        """One feature by id; 404 when absent."""
        query = PgQuery(self.types, self.srid)
        try:
            query.equals(self.id_field, identifier)
            rows = self._run(lambda t: (query.statement(self._select(), t), query.params))
        except PgQueryError:
            rows = []  # an id of the wrong type matches nothing
        if not rows:
            raise ProviderItemNotFoundError(
                user_msg=f"no feature {identifier!r} in collection {self.table!r}"
            )
        return self._features(rows[:1], None, False, kwargs.get("crs_transform_spec"))[0]

    def _features(
        self, rows: list[tuple[Any, ...]], select: list[str] | None, skip: bool, crs_spec: Any
    ) -> list[dict[str, Any]]:
        names = list(self.types)
        keep = [i for i, n in enumerate(names) if not select or n in select]
        geoms: list[Any] = [None] * len(rows)
        if not skip and rows:
            array = shapely.from_wkb([r[-1] for r in rows])
            if crs_spec is not None:
                array = _transform(array, crs_spec)
            geoms = [json.loads(t) if t is not None else None for t in shapely.to_geojson(array)]
        id_index = names.index(self.id_field)
        return [
            {
                "type": "Feature",
                "id": row[id_index],
                "geometry": geom,
                "properties": {names[i]: row[i] for i in keep},
            }
            for row, geom in zip(rows, geoms, strict=True)
        ]


_TRANSFORMERS: dict[tuple[str, str, bool], pyproj.Transformer] = {}


def _transform(geoms: np.ndarray, spec: Any) -> np.ndarray:
    key = (spec.source_crs_wkt, spec.target_crs_wkt, spec.always_xy)
    if key not in _TRANSFORMERS:
        _TRANSFORMERS[key] = pyproj.Transformer.from_crs(
            pyproj.CRS.from_wkt(spec.source_crs_wkt),
            pyproj.CRS.from_wkt(spec.target_crs_wkt),
            always_xy=spec.always_xy,
        )
    transformer = _TRANSFORMERS[key]

    def apply(coords: np.ndarray) -> np.ndarray:
        x, y = transformer.transform(coords[:, 0], coords[:, 1])
        return np.column_stack([x, y])

    return shapely.transform(geoms, apply)
