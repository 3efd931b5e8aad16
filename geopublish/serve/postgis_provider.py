"""geopublish's pygeoapi feature provider for the PostGIS store.

Each request works on the collection's current record of ``geopublish_meta`` (version, stored
count, fields) and queries that version's table directly: count and features come from one
immutable version, and ``numberMatched`` of an unfiltered request is the stored count, never a
COUNT. The record is either read for the request, or the one this worker read last
(``confirmed=False``): then the first data statement also checks that this version is still the
current one (one round trip, not two), and an empty answer reads the current version before it
stands. A record found out of date raises :class:`StaleVersion`, and the request starts again
on a fresh one. If a swap and a prune both happen between a read record and its statement, the
table is gone: the request reads the metadata again and retries once. Connections are kept per
thread and per DSN.
"""

from __future__ import annotations

import os
import threading
from typing import Any

import numpy as np
import psycopg
import shapely
from flask import g, has_app_context
from psycopg import sql
from pygeoapi.provider.base import ProviderConnectionError

from geopublish.catalog.models import FIELD_JSON_SCHEMA
from geopublish.model import META_TABLE, PublishedLayer, srid, version_table
from geopublish.serve import queryables
from geopublish.serve.pg_query import PgQuery, PgQueryError
from geopublish.serve.provider_base import FeatureProvider, Row

JSON_TYPES = FIELD_JSON_SCHEMA
_LOCAL = threading.local()


# (DSN, schema, collection, version, build id) -> first fid of a gapless 1..N version, or None.
_FIRST_FID: dict[tuple[str, str, str, int, str], int | None] = {}


class StaleVersion(Exception):  # noqa: N818 (a signal to start again, not an error)
    """The worker's record of a collection is no longer the current version: read it again."""


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
        self,
        provider_def: dict[str, Any],
        published: PublishedLayer | None = None,
        confirmed: bool = True,
    ) -> None:
        super().__init__(provider_def)
        self.dsn = dsn_of(provider_def)
        self.schema = provider_def.get("schema", "geopublish")
        self.table = provider_def["table"]
        self.queryables = queryables.declared(provider_def)
        if published is None and has_app_context():
            published = g.get("geopublish_layer")  # pygeoapi's provider: the request's record
        self.confirmed = True
        if published and published.store == "postgis" and published.collection == self.table:
            # The request model already has the version's record: no second read.
            self._use(published)
            self.confirmed = confirmed
        else:
            self._load_meta()

    def _use(self, layer: PublishedLayer) -> None:
        self.layer = layer
        self.version = layer.version
        self.types: dict[str, str] = layer.fields
        assert layer.id_column is not None
        self.id_field = layer.id_column
        self.srid = srid(layer.storage_crs)
        self._fields = self.get_fields()

    def _load_meta(self) -> None:
        from geopublish.serve.published import read_postgis

        layer = read_postgis(self.dsn, self.schema, self.table)
        if layer is None:
            raise ProviderConnectionError(user_msg=f"collection {self.table!r} is not published")
        self._use(layer)

    def _guard(self) -> sql.Composable | None:
        """While the record is unconfirmed: its version is still the current one."""
        if self.confirmed:
            return None
        return sql.SQL(
            "EXISTS (SELECT 1 FROM {} WHERE collection = {} AND version = {} AND current "
            "AND meta->>'build_id' = {})"
        ).format(
            sql.Identifier(self.schema, META_TABLE),
            sql.Literal(self.table),
            sql.Literal(self.version),
            sql.Literal(self.layer.build_id),
        )

    def confirm(self) -> None:
        """Check the record against the current version now; StaleVersion if it is not."""
        if self.confirmed:
            return
        from geopublish.serve.published import read_postgis

        current = read_postgis(self.dsn, self.schema, self.table)
        if current is None or (current.version, current.build_id) != (
            self.version,
            self.layer.build_id,
        ):
            raise StaleVersion(self.table)
        self.confirmed = True

    def get_fields(self) -> dict[str, dict[str, str]]:
        """Field names and JSON Schema types, from the build's metadata."""
        return {n: dict(JSON_TYPES[t]) for n, t in self.types.items()}

    def _run(self, build: Any) -> list[Row]:
        """Rows of ``build(table, guard)``; an unconfirmed record is confirmed by the answer.

        A statement that returns rows, guarded, proves the record current; an empty one
        reads the current version before it stands.
        """
        for attempt in (0, 1):
            table = sql.Identifier(self.schema, version_table(self.table, self.version))
            statement, params = build(table, self._guard())
            try:
                with _connection(self.dsn).cursor(binary=True) as cur:
                    rows = cur.execute(statement, params).fetchall()
            except psycopg.errors.UndefinedTable:
                if attempt or not self.confirmed:
                    self.confirm()  # an unconfirmed record's table pruned: StaleVersion
                    raise
                self._load_meta()
                continue
            if rows:
                self.confirmed = True
            else:
                self.confirm()
            return rows
        raise AssertionError("unreachable")

    def new_query(self) -> PgQuery:
        """An empty query on this layer."""
        return PgQuery(self.types, self.srid)

    def results(
        self, query: PgQuery, offset: int, limit: int, hits: bool
    ) -> tuple[list[Row] | None, int]:
        """The page's rows (None for hits only) and numberMatched."""
        rows = None
        if hits:
            self.confirm()  # no row statement to carry the check
        else:
            select = self._select()
            first = self._first_fid() if query.unfiltered and not query.orders else None
            if first is not None:
                # Loads write fids 1..N: an unfiltered page is a fid range, not an OFFSET walk.
                page = sql.SQL("fid >= %s AND fid < %s")
                params = [first + offset, first + offset + limit]
                statement = lambda t, guard: (  # noqa: E731
                    PgQuery(self.types, self.srid).statement(
                        select, t, sql.SQL(" AND ").join([page, guard]) if guard else page
                    )
                    + query.order_by(),
                    params,
                )
            else:
                statement = lambda t, guard: (  # noqa: E731
                    query.statement(select, t, guard)
                    + query.order_by()
                    + sql.SQL(" LIMIT %s OFFSET %s"),
                    [*query.params, limit, offset],
                )
            rows = self._run(statement)
            if first is None and query.unfiltered and not query.orders:
                self._first_fid()  # read once, now that the record is confirmed: next pages
        if query.unfiltered:
            return rows, self.layer.count
        if rows is not None and len(rows) < limit and (rows or offset == 0):
            return rows, offset + len(rows)  # a short page tells the count: no COUNT query
        count = sql.SQL("count(*)")  # the record is confirmed by now: no guard
        return rows, int(self._run(lambda t, _: (query.statement(count, t), query.params))[0][0])

    def _first_fid(self) -> int | None:
        """The first fid when the version's fids run 1..N without a gap, else None.

        Read once per version and worker, on a confirmed record only (an aggregate always
        answers a row, so it cannot carry the check).
        """
        key = (self.dsn, self.schema, self.table, self.version, self.layer.build_id)
        if key in _FIRST_FID:
            return _FIRST_FID[key]
        if not self.confirmed:
            return None
        span = sql.SQL("min(fid), max(fid)")
        low, high = self._run(lambda t, _: (PgQuery({}, self.srid).statement(span, t), []))[0]
        first = low if high is not None and high - low + 1 == self.layer.count else None
        _FIRST_FID[key] = first
        return first

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
        rows = self._run(lambda t, guard: (query.statement(self._select(), t, guard), query.params))
        return rows[0] if rows else None

    def names(self) -> list[str]:
        """Declared field names, in row order."""
        return list(self.types)

    def decode(self, blobs: list[Any]) -> np.ndarray:
        """Shapely geometries from the rows' geometry blobs."""
        return shapely.from_wkb(blobs)
