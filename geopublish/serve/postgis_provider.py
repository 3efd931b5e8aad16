"""geopublish's pygeoapi feature provider for the PostGIS store.

Each request reads the collection's current row of ``geopublish_meta`` (version, stored count,
fields) and queries that version's table directly: count and features come from one immutable
version, and ``numberMatched`` of an unfiltered request is the stored count, never a COUNT.
If a swap and a prune both happen between the two statements, the table is gone: the request
reads the metadata again and retries once. Connections are kept per thread and per DSN.
"""

from __future__ import annotations

import os
import threading
from typing import Any

import numpy as np
import psycopg
import shapely
from psycopg import sql
from pygeoapi.provider.base import ProviderConnectionError

from geopublish.catalog.models import FIELD_JSON_SCHEMA
from geopublish.model import META_TABLE, PublishedLayer, srid, version_table
from geopublish.serve import queryables
from geopublish.serve.pg_query import PgQuery, PgQueryError
from geopublish.serve.provider_base import FeatureProvider, Row

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


def dsn_of(provider_def: dict[str, Any]) -> str:
    """The DSN of a provider block: ``env:NAME`` reads the servers' environment."""
    data = str(provider_def.get("data", ""))
    return os.environ.get(data[4:], "") if data.startswith("env:") else data


class PostGISProvider(FeatureProvider):
    """OGC API Features over a published PostGIS layer: GiST bbox, paging, CQL2, sortby, CRS."""

    query_errors = (PgQueryError,)

    def __init__(
        self, provider_def: dict[str, Any], published: PublishedLayer | None = None
    ) -> None:
        super().__init__(provider_def)
        self.dsn = dsn_of(provider_def)
        self.schema = provider_def.get("schema", "geopublish")
        self.table = provider_def["table"]
        self.queryables = queryables.declared(provider_def)
        if published is not None and published.store == "postgis":
            # The request model already read the current version's record: no second read.
            self._use(published.version, published.model_dump(mode="json"))
        else:
            self._load_meta()

    def _use(self, version: int, meta: dict[str, Any]) -> None:
        self.version, self.meta = version, meta
        self.types: dict[str, str] = self.meta["fields"]
        self.id_field = self.meta["id_column"]
        self.srid = srid(self.meta["storage_crs"])
        self._fields = self.get_fields()

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
        self._use(int(row[0]), row[1])

    def get_fields(self) -> dict[str, dict[str, str]]:
        """Field names and JSON Schema types, from the build's metadata."""
        return {n: dict(JSON_TYPES[t]) for n, t in self.types.items()}

    def _run(self, build: Any) -> list[Row]:
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

    def new_query(self) -> PgQuery:
        """An empty query on this layer."""
        return PgQuery(self.types, self.srid)

    def results(
        self, query: PgQuery, offset: int, limit: int, hits: bool
    ) -> tuple[list[Row] | None, int]:
        """The page's rows (None for hits only) and numberMatched."""
        rows = None
        if not hits:
            select = self._select()
            rows = self._run(
                lambda t: (
                    query.statement(select, t) + query.order_by() + sql.SQL(" LIMIT %s OFFSET %s"),
                    [*query.params, limit, offset],
                )
            )
        if query.unfiltered:
            return rows, int(self.meta["count"])
        if rows is not None and len(rows) < limit and (rows or offset == 0):
            return rows, offset + len(rows)  # a short page tells the count: no COUNT query
        count = sql.SQL("count(*)")
        return rows, int(self._run(lambda t: (query.statement(count, t), query.params))[0][0])

    def _select(self) -> sql.Composable:
        names = [sql.Identifier(n) for n in self.types]
        return sql.SQL(", ").join([*names, sql.SQL("ST_AsBinary(geom)")])

    def row(self, identifier: str) -> Row | None:
        """One feature's row by id, or None."""
        query = PgQuery(self.types, self.srid)
        try:
            query.equals(self.id_field, identifier)
        except PgQueryError:
            return None  # an id of the wrong type matches nothing
        rows = self._run(lambda t: (query.statement(self._select(), t), query.params))
        return rows[0] if rows else None

    def names(self) -> list[str]:
        """Declared field names, in row order."""
        return list(self.types)

    def decode(self, blobs: list[Any]) -> np.ndarray:
        """Shapely geometries from the rows' geometry blobs."""
        return shapely.from_wkb(blobs)
