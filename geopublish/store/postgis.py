"""The scale-out store: one PostGIS table per published version of a collection.

In the deployment's schema (``GEOPUBLISH_POSTGIS_SCHEMA``, default ``geopublish``):
``<id>__v000042`` tables, never modified once published; a view ``<id>`` over the served
one, for SQL clients; ``geopublish_meta`` with one row per kept version (its metadata as
JSON and which one is current). A build COPYs into ``<id>__stage_<token>`` while holding a
session advisory lock named after that table, then indexes and ANALYZEs it; the swap (rename
to the next version, replace the view, move the ``current`` flag) is one transaction. A killed
loader's connection ends, its lock with it: ``cleanup`` drops staging tables nobody locks.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from typing import Any, NoReturn

import geopandas as gpd
import pandas as pd
import psycopg
import pyarrow as pa
import shapely
from psycopg import sql
from psycopg.copy import QueuedLibpqWriter

from geopublish.errors import StoreError
from geopublish.faults import crash_point
from geopublish.model import HASH_COLUMN, META_TABLE, PublishedLayer, version_table
from geopublish.store import pg_copy
from geopublish.store.base import FeatureStore, LayerSchema, Partition, Staged, scan_schema

LOCK_SPACE = 0x6770  # advisory lock namespace: "gp"
MAX_ID = 63 - len("__stage_") - 12
COPY_ROWS = 5000  # rows converted at a time: bounds the store's own copy of a batch


def _plain(value: Any) -> Any:
    """A row value as Arrow takes it (dates and times as ISO text, WKB as bytes)."""
    if isinstance(value, memoryview):
        return bytes(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


class PostGISStore(FeatureStore):
    """Versioned PostGIS tables, a view per collection, swapped in one transaction."""

    kind = "postgis"

    def __init__(self, dsn: str, keep_versions: int = 5, schema: str = "geopublish") -> None:
        self.dsn = dsn
        self.keep = max(1, keep_versions)
        self.schema = schema
        self._con: psycopg.Connection | None = None

    def connect(self, **kwargs: Any) -> psycopg.Connection:
        """A new connection to the store's database."""
        try:
            return psycopg.connect(self.dsn, **kwargs)
        except psycopg.OperationalError as exc:
            raise StoreError(f"cannot connect to the PostGIS store: {exc}") from exc

    @property
    def con(self) -> psycopg.Connection:
        """The store's autocommit connection for metadata, created with the schema."""
        if self._con is None or self._con.closed:
            self._con = self.connect(autocommit=True)
            with self._con.transaction():
                self._con.execute("SELECT pg_advisory_xact_lock(%s, 0)", (LOCK_SPACE,))
                self._con.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(self._id()))
                self._con.execute(
                    sql.SQL(
                        "CREATE TABLE IF NOT EXISTS {} (collection text, version int, "
                        "meta jsonb NOT NULL, current boolean NOT NULL DEFAULT false, "
                        "PRIMARY KEY (collection, version))"
                    ).format(self._id(META_TABLE))
                )
        return self._con

    def _id(self, table: str | None = None) -> sql.Composable:
        if table is None:
            return sql.Identifier(self.schema)
        return sql.Identifier(self.schema, table)

    def load(self, schema: LayerSchema, batches: Iterator[gpd.GeoDataFrame]) -> Staged:
        """COPY every batch into a new staging table, locked for this build."""
        staged, con = self._stage(schema)
        try:
            self._copy(staged, con, batches)
        except BaseException as exc:
            self._failed(staged, exc)
        return staged

    def derive(
        self,
        schema: LayerSchema,
        base: PublishedLayer,
        replaced: Partition,
        batches: Iterator[gpd.GeoDataFrame],
        kept_bounds: tuple[float, float, float, float] | None = None,
    ) -> Staged:
        """Copy the rows of ``base`` outside ``replaced`` into a staging table, COPY the rest.

        One ``INSERT … SELECT`` on the server, then the new rows after the kept ones' fids;
        indexes come at :meth:`publish`, as for a loaded table.
        """
        assert base.location is not None
        staged, con = self._stage(schema)
        staged.bounds = kept_bounds
        try:
            names = sql.SQL(", ").join(sql.Identifier(c) for c in pg_copy.columns(schema))
            con.execute(
                sql.SQL("INSERT INTO {} ({}) SELECT {} FROM {} WHERE {} IS NULL OR {} <> ALL(%s)")
                .format(
                    self._id(staged.location), names, names, self._id(base.location),
                    sql.Identifier(replaced.column), sql.Identifier(replaced.column),
                ),
                (list(replaced.values),),
            )  # fmt: skip
            row = con.execute(
                sql.SQL("SELECT count(*), coalesce(max(fid), 0) FROM {}").format(
                    self._id(staged.location)
                )
            ).fetchone()
            assert row is not None
            staged.count, top = int(row[0]), int(row[1])
            self._copy(staged, con, batches, first_fid=top + 1)
        except BaseException as exc:
            self._failed(staged, exc)
        return staged

    def _stage(self, schema: LayerSchema) -> tuple[Staged, psycopg.Connection]:
        """A new, empty staging table, locked by its own session."""
        cid = schema.collection
        if len(cid) > MAX_ID:
            raise StoreError(f"collection {cid!r}: id longer than {MAX_ID} characters")
        self.con  # noqa: B018  (creates the schema before the first staging table)
        table = f"{cid}__stage_{secrets.token_hex(6)}"
        con = self.connect(autocommit=True)
        staged = Staged(cid, table, schema, extra={"con": con})
        try:
            con.execute("SELECT pg_advisory_lock(%s, hashtext(%s))", (LOCK_SPACE, table))
            con.execute(pg_copy.create_table(schema, self._id(table)))
        except BaseException as exc:
            self._failed(staged, exc)
        return staged, con

    def _copy(
        self,
        staged: Staged,
        con: psycopg.Connection,
        batches: Iterator[gpd.GeoDataFrame],
        first_fid: int = 1,
    ) -> None:
        schema = staged.schema
        assert schema is not None
        written = 0
        with con.cursor() as cur:
            statement = pg_copy.copy_statement(schema, self._id(staged.location))
            with cur.copy(statement, writer=QueuedLibpqWriter(cur)) as copy:
                copy.set_types(pg_copy.copy_types(schema))
                for gdf in batches:
                    if len(gdf) == 0:
                        continue
                    staged.cover(gdf)
                    for start in range(0, len(gdf), COPY_ROWS):
                        part = gdf.iloc[start : start + COPY_ROWS]
                        for row in pg_copy.rows(part, schema, first_fid + written):
                            copy.write_row(row)
                        written += len(part)
                        staged.count += len(part)
                    crash_point("write")

    def _failed(self, staged: Staged, exc: BaseException) -> NoReturn:
        self.discard(staged)
        if isinstance(exc, psycopg.Error):
            raise StoreError(
                f"collection {staged.collection!r}: loading into PostGIS failed: {exc}"
            ) from exc
        raise exc

    def _index(self, staged: Staged, con: psycopg.Connection) -> None:
        schema, table = staged.schema, staged.location
        assert schema is not None
        id_column = schema.id_column
        con.execute(sql.SQL("ALTER TABLE {} ADD PRIMARY KEY (fid)").format(self._id(table)))
        try:
            con.execute(
                sql.SQL("CREATE UNIQUE INDEX ON {} ({})").format(
                    self._id(table), sql.Identifier(id_column)
                )
            )
        except psycopg.errors.UniqueViolation as exc:
            raise StoreError(
                f"collection {schema.collection!r}: duplicate ids in {id_column!r}"
            ) from exc
        con.execute(sql.SQL("CREATE INDEX ON {} USING gist (geom)").format(self._id(table)))
        for name in schema.fields:
            if name != id_column:
                self._field_index(con, table, name)
        con.execute(sql.SQL("ANALYZE {}").format(self._id(table)))
        crash_point("index")

    def _field_index(self, con: psycopg.Connection, table: str, name: str) -> None:
        """A B-tree on one property, as the GeoPackage store has one.

        Property filters, CQL2 comparisons and sortby then read it instead of scanning every
        row with its geometry.

        A B-tree entry is limited to about 2.7 kB: a column holding a longer value gets a
        hash index (equality only) instead of refusing the build.
        """
        column = sql.Identifier(name)
        try:
            with con.transaction():
                con.execute(sql.SQL("CREATE INDEX ON {} ({})").format(self._id(table), column))
        except psycopg.errors.ProgramLimitExceeded:
            con.execute(
                sql.SQL("CREATE INDEX ON {} USING hash ({})").format(self._id(table), column)
            )

    def publish(self, staged: Staged, layer: PublishedLayer) -> PublishedLayer:
        """Index and ANALYZE the staging table, then swap it in as the next version."""
        con: psycopg.Connection = staged.extra["con"]
        cid = staged.collection
        try:
            self._index(staged, con)
            with con.transaction():
                con.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", (LOCK_SPACE, cid))
                number = self._next_number(con, cid)
                name = version_table(cid, number)
                con.execute(
                    sql.SQL("ALTER TABLE {} RENAME TO {}").format(
                        self._id(staged.location), sql.Identifier(name)
                    )
                )
                con.execute(
                    sql.SQL(
                        "INSERT INTO {} (collection, version, meta) VALUES (%s, %s, %s)"
                    ).format(self._id(META_TABLE)),
                    (cid, number, json.dumps(layer.record(), ensure_ascii=False)),
                )
                crash_point("rename")
                self._point(con, cid, number)
            crash_point("swap")
        except psycopg.Error as exc:
            raise StoreError(f"collection {cid!r}: publishing in PostGIS failed: {exc}") from exc
        con.close()
        return self.published(cid)

    def _next_number(self, con: psycopg.Connection, cid: str) -> int:
        row = con.execute(
            sql.SQL("SELECT max(version) FROM {} WHERE collection = %s").format(
                self._id(META_TABLE)
            ),
            (cid,),
        ).fetchone()
        return int(row[0] or 0) + 1 if row else 1

    def _point(self, con: psycopg.Connection, cid: str, number: int) -> None:
        """Serve version ``number``: replace the view and move the flag (caller's transaction)."""
        con.execute(sql.SQL("DROP VIEW IF EXISTS {}").format(self._id(cid)))
        con.execute(
            sql.SQL("CREATE VIEW {} AS SELECT * FROM {}").format(
                self._id(cid), self._id(version_table(cid, number))
            )
        )
        con.execute(
            sql.SQL("UPDATE {} SET current = (version = %s) WHERE collection = %s").format(
                self._id(META_TABLE)
            ),
            (number, cid),
        )

    def drop(self, collection: str, number: int) -> None:
        """Drop a kept version's table and record (never the served one); best effort."""
        version = self.version(collection, number)
        if version is None or version.current or version.location is None:
            return
        try:
            with self.con.transaction():
                self.con.execute("SET LOCAL lock_timeout = '2s'")
                self.con.execute(
                    sql.SQL("DROP TABLE IF EXISTS {}").format(self._id(version.location))
                )
                self.con.execute(
                    sql.SQL("DELETE FROM {} WHERE collection = %s AND version = %s").format(
                        self._id(META_TABLE)
                    ),
                    (collection, number),
                )
        except psycopg.errors.LockNotAvailable:
            return  # a reader holds it; the next prune drops it

    def discard(self, staged: Staged) -> None:
        """Drop a staging table and release its lock."""
        con: psycopg.Connection = staged.extra["con"]
        if con.closed:
            return
        try:
            con.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(self._id(staged.location)))
        except psycopg.Error:
            pass
        finally:
            con.close()

    def _rows(self, cid: str, where: str = "", params: tuple = ()) -> list[PublishedLayer]:
        query = sql.SQL(
            "SELECT version, meta, current FROM {} WHERE collection = %s "
            + where
            + " ORDER BY version"
        ).format(self._id(META_TABLE))
        rows = self.con.execute(query, (cid, *params)).fetchall()
        return [
            PublishedLayer.model_validate(meta).placed(
                version=n,
                current=current,
                store=self.kind,
                location=version_table(cid, n),
                served=cid,
                schema_name=self.schema,
            )
            for n, meta, current in rows
        ]

    def current(self, collection: str) -> PublishedLayer | None:
        """The served version, if any."""
        rows = self._rows(collection, "AND current")
        return rows[0] if rows else None

    def versions(self, collection: str) -> list[PublishedLayer]:
        """Kept versions, oldest first."""
        return self._rows(collection)

    def rollback(self, collection: str, number: int) -> PublishedLayer:
        """Point the view and the ``current`` flag at a kept version, in one transaction."""
        self._kept(collection, number)
        with self.con.transaction():
            self._point(self.con, collection, number)
        return self.published(collection)

    def version(self, collection: str, number: int) -> PublishedLayer | None:
        """One kept version, or None."""
        found = self._rows(collection, "AND version = %s", (number,))
        return found[0] if found else None

    def hashes(
        self, collection: str, number: int | None = None, where: Partition | None = None
    ) -> dict[str, str]:
        """Feature id -> content hash of a version (of some partitions only)."""
        version = self.current(collection) if number is None else self.version(collection, number)
        if version is None or version.location is None or version.id_column is None:
            return {}
        query = sql.SQL("SELECT {}::text, {} FROM {}").format(
            sql.Identifier(version.id_column),
            sql.Identifier(HASH_COLUMN),
            self._id(version.location),
        )
        if where is None:
            return dict(self.con.execute(query).fetchall())
        query += sql.SQL(" WHERE {} = ANY(%s)").format(sql.Identifier(where.column))
        return dict(self.con.execute(query, (list(where.values),)).fetchall())

    def read(self, collection: str) -> gpd.GeoDataFrame:
        """The whole current layer, without the store's own columns, in load order."""
        version = self.published(collection)
        assert version.location is not None
        names = list(version.fields)
        query = sql.SQL("SELECT {}, ST_AsBinary(geom) FROM {} ORDER BY fid").format(
            sql.SQL(", ").join(sql.Identifier(n) for n in names), self._id(version.location)
        )
        with self.con.cursor(binary=True) as cur:
            rows = cur.execute(query).fetchall()
        frame = pd.DataFrame([r[:-1] for r in rows], columns=names)
        geometry = shapely.from_wkb([r[-1] for r in rows])
        return gpd.GeoDataFrame(frame, geometry=geometry, crs=pg_copy.srid(version.storage_crs))

    def scan(
        self, staged: Staged, batch_size: int = 5000, where: Partition | None = None
    ) -> pa.RecordBatchReader:
        """Stream the staging table in fid order through a server-side cursor."""
        assert staged.schema is not None
        target = scan_schema(staged.schema)
        names = list(staged.schema.fields)
        query = sql.SQL("SELECT {}, ST_AsBinary(geom) FROM {} {} ORDER BY fid").format(
            sql.SQL(", ").join(sql.Identifier(n) for n in names),
            self._id(staged.location),
            sql.SQL("")
            if where is None
            else sql.SQL("WHERE {} = ANY({})").format(
                sql.Identifier(where.column), sql.Literal(list(where.values))
            ),
        )

        def batches() -> Iterator[pa.RecordBatch]:
            with self.connect() as con, con.cursor(name="geopublish_scan", binary=True) as cur:
                cur.itersize = batch_size
                cur.execute(query)
                while rows := cur.fetchmany(batch_size):
                    columns = list(zip(*rows, strict=True))
                    arrays = [
                        pa.array([_plain(v) for v in col], type=f.type)
                        for col, f in zip(columns, target, strict=True)
                    ]
                    yield pa.RecordBatch.from_arrays(arrays, schema=target)

        return pa.RecordBatchReader.from_batches(target, batches())

    def cleanup(self, collection: str) -> list[str]:
        """Drop staging tables of this collection whose loader's session is gone."""
        found = self.con.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = %s AND tablename LIKE %s",
            (self.schema, collection.replace("_", r"\_") + r"\_\_stage\_%"),
        ).fetchall()
        removed = []
        for (table,) in found:
            row = self.con.execute(
                "SELECT pg_try_advisory_lock(%s, hashtext(%s))", (LOCK_SPACE, table)
            ).fetchone()
            if not row or not row[0]:
                continue
            try:
                self.con.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(self._id(table)))
                removed.append(f"{self.schema}.{table}")
            finally:
                self.con.execute("SELECT pg_advisory_unlock(%s, hashtext(%s))", (LOCK_SPACE, table))
        return removed
