"""The embedded store: one GeoPackage file per published version of a collection.

Layout under ``var/store/<collection>/``: ``v000007.gpkg`` files (never modified once
published), ``current.gpkg`` a symlink to the served one, and ``.staging-*.gpkg`` while a build
writes. Publishing is ``os.replace`` of the symlink: atomic, so a reader opens either the old
or the new file, never a partial one, and a killed build leaves only a staging file behind.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import geopandas as gpd
import pyarrow as pa
import pyogrio

from geopublish import parallel
from geopublish.errors import StoreError
from geopublish.faults import crash_point
from geopublish.model import HASH_COLUMN, META_TABLE, PublishedLayer
from geopublish.store.base import (
    ARROW_TYPES,
    FeatureStore,
    LayerSchema,
    Partition,
    Staged,
    scan_schema,
    wkb_column,
)
from geopublish.store.files import FileStore, VersionedFiles


def gdal_crs(storage_crs: str) -> str:
    """GeoPackage stores lon/lat in x/y order whatever the CRS says: CRS84 is EPSG:4326."""
    return "EPSG:4326" if storage_crs.upper() in ("OGC:CRS84", "CRS84") else storage_crs


def to_record_batch(gdf: gpd.GeoDataFrame, schema: LayerSchema) -> pa.RecordBatch:
    """One store batch in the fixed column order of ``schema``."""
    arrays = [
        pa.array(gdf[n].astype(object).where(gdf[n].notna(), None).tolist(), type=ARROW_TYPES[t])
        for n, t in schema.fields.items()
    ]
    arrays.append(pa.array(gdf[HASH_COLUMN].tolist(), type=pa.string()))
    arrays.append(pa.array(wkb_column(gdf), type=pa.binary()))
    return pa.RecordBatch.from_arrays(arrays, schema=arrow_schema(schema))


def arrow_schema(schema: LayerSchema) -> pa.Schema:
    """Arrow schema of the stored table: declared fields, hash, WKB geometry."""
    fields = [pa.field(n, ARROW_TYPES[t]) for n, t in schema.fields.items()]
    fields.append(pa.field(HASH_COLUMN, pa.string()))
    fields.append(pa.field("geom", pa.binary(), metadata={"ARROW:extension:name": "geoarrow.wkb"}))
    return pa.schema(fields)


class GeoPackageStore(FileStore, FeatureStore):
    """Versioned GeoPackage files with an atomic symlink swap."""

    kind = "gpkg"

    def __init__(self, root: Path, keep_versions: int = 5) -> None:
        self.files = VersionedFiles(root, ".gpkg")
        self.keep = max(1, keep_versions)

    def folder(self, collection: str) -> Path:
        """Folder of one collection's versions."""
        return self.files.folder(collection)

    def load(self, schema: LayerSchema, batches: Iterator[gpd.GeoDataFrame]) -> Staged:
        """Stream every batch through one GDAL dataset into a staging GeoPackage."""
        path = self.files.staging(schema.collection)
        staged = Staged(schema.collection, str(path), schema)
        try:
            self._write(staged, batches, append=False)
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        return staged

    def derive(
        self,
        schema: LayerSchema,
        base: PublishedLayer,
        replaced: Partition,
        batches: Iterator[gpd.GeoDataFrame],
        kept_bounds: tuple[float, float, float, float] | None = None,
    ) -> Staged:
        """Copy the ``base`` file, delete the replaced rows, append the new ones.

        The GeoPackage's own triggers keep its R-tree and feature count right on DELETE, GDAL
        on append; the indexes of the copy are maintained by SQLite, so nothing is rebuilt.
        """
        assert base.location is not None
        cid = schema.collection
        path = self.files.staging(cid)
        staged = Staged(cid, str(path), schema, bounds=kept_bounds, extra={"derived": True})
        try:
            shutil.copyfile(base.location, path)
            with sqlite3.connect(path) as con:
                marks = ", ".join("?" * len(replaced.values))
                con.execute(
                    f'DELETE FROM "{cid}" WHERE "{replaced.column}" IN ({marks})', replaced.values
                )
                con.execute(f"DELETE FROM {META_TABLE}")
            con.close()
            crash_point("write")
            self._write(staged, batches, append=True)
            with sqlite3.connect(path) as con:
                staged.count = int(con.execute(f'SELECT count(*) FROM "{cid}"').fetchone()[0])
            con.close()
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        return staged

    def _write(self, staged: Staged, batches: Iterator[gpd.GeoDataFrame], append: bool) -> None:
        schema = staged.schema
        assert schema is not None
        failure: list[BaseException] = []

        def records() -> Iterator[pa.RecordBatch]:
            try:
                for gdf in batches:
                    if len(gdf) == 0:
                        continue
                    staged.cover(gdf)
                    staged.count += len(gdf)
                    crash_point("write")
                    yield to_record_batch(gdf, schema)
            except BaseException as exc:
                # GDAL only sees "error while accessing batch": keep the real cause.
                failure.append(exc)
                raise

        reader = pa.RecordBatchReader.from_batches(arrow_schema(schema), records())
        options: dict[str, Any] = (
            {"append": True}
            if append
            else {"layer_options": {"FID": "fid", "SPATIAL_INDEX": "YES"}}
        )
        try:
            pyogrio.write_arrow(
                reader,
                staged.location,
                layer=schema.collection,
                driver="GPKG",
                geometry_name="geom",
                geometry_type=schema.geometry_type,
                crs=gdal_crs(schema.storage_crs),
                **options,
            )
        except BaseException as exc:
            if failure and failure[0] is not exc:
                raise failure[0] from None
            if append and "UNIQUE constraint failed" in str(exc):
                raise StoreError(
                    f"collection {schema.collection!r}: duplicate ids in {schema.id_column!r}"
                ) from exc
            raise

    def publish(self, staged: Staged, layer: PublishedLayer) -> PublishedLayer:
        """Index, record the layer, then swap the staging file in as the next version."""
        path = Path(staged.location)
        schema = staged.schema
        assert schema is not None
        with sqlite3.connect(path) as con:
            if staged.extra.get("derived"):
                self._record_derived(con, staged)
            else:
                self._index(con, schema)
            con.executemany(
                f"INSERT INTO {META_TABLE} VALUES (?, ?)",
                [(k, json.dumps(v, ensure_ascii=False)) for k, v in layer.record().items()],
            )
            crash_point("index")
        con.close()
        self.files.publish(schema.collection, path)
        return self.published(schema.collection)

    def _index(self, con: sqlite3.Connection, schema: LayerSchema) -> None:
        """Indexes, statistics and the metadata table of a freshly loaded copy."""
        # sorter helper threads for CREATE INDEX, as many as the build's geometry work
        con.execute(f"PRAGMA threads = {parallel.threads()}")
        table = f'"{schema.collection}"'
        try:
            con.execute(
                f'CREATE UNIQUE INDEX "{schema.collection}_id" ON {table}("{schema.id_column}")'
            )
        except sqlite3.IntegrityError as exc:
            raise StoreError(
                f"collection {schema.collection!r}: duplicate ids in {schema.id_column!r}"
            ) from exc
        for name in schema.fields:
            if name != schema.id_column:
                # Property filters, CQL2 comparisons and sortby then read an index, not the
                # whole table (rows carry their geometry, so a scan reads every blob).
                con.execute(f'CREATE INDEX "{schema.collection}_{name}_idx" ON {table}("{name}")')
        con.execute(f"CREATE TABLE {META_TABLE} (key TEXT PRIMARY KEY, value TEXT)")
        con.execute("ANALYZE")

    def _record_derived(self, con: sqlite3.Connection, staged: Staged) -> None:
        """The extent GDAL only grows on append, set to the derived copy's own."""
        if staged.bounds is not None:
            minx, miny, maxx, maxy = staged.bounds
            con.execute(
                "UPDATE gpkg_contents SET min_x = ?, min_y = ?, max_x = ?, max_y = ? "
                "WHERE lower(table_name) = lower(?)",
                (minx, miny, maxx, maxy, staged.collection),
            )

    def _record(self, collection: str, path: Path) -> dict[str, Any]:
        return read_meta(path)

    def hashes(
        self, collection: str, number: int | None = None, where: Partition | None = None
    ) -> dict[str, str]:
        """Feature id -> content hash of a version (of some partitions only)."""
        version = self.current(collection) if number is None else self.version(collection, number)
        if version is None or version.location is None:
            return {}
        id_column = version.id_column
        query = f'SELECT "{id_column}", {HASH_COLUMN} FROM "{collection}"'
        params: tuple[str, ...] = ()
        if where is not None:
            query += f' WHERE "{where.column}" IN ({", ".join("?" * len(where.values))})'
            params = where.values
        with closing_ro(Path(version.location)) as con:
            rows = con.execute(query, params).fetchall()
        return {str(i): h for i, h in rows}

    def read(self, collection: str) -> gpd.GeoDataFrame:
        """The whole current layer, without the store's own columns."""
        path = self.files.current(collection)
        if path is None:
            raise StoreError(f"collection {collection!r} has not been built yet")
        gdf = pyogrio.read_dataframe(path, layer=collection)
        return gdf.drop(columns=[HASH_COLUMN], errors="ignore")

    def scan(
        self, staged: Staged, batch_size: int = 5000, where: Partition | None = None
    ) -> pa.RecordBatchReader:
        """Stream the staging GeoPackage as Arrow batches (declared fields, WKB ``geom``)."""
        assert staged.schema is not None
        target = scan_schema(staged.schema)
        names = list(staged.schema.fields)
        sql_where = None
        if where is not None:
            quoted = ", ".join("'" + v.replace("'", "''") + "'" for v in where.values)
            sql_where = f'"{where.column}" IN ({quoted or "NULL"})'

        def batches() -> Iterator[pa.RecordBatch]:
            with pyogrio.open_arrow(
                staged.location, layer=staged.collection, columns=names,
                batch_size=batch_size, use_pyarrow=True, where=sql_where,
            ) as (meta, reader):  # fmt: skip
                geom = meta["geometry_name"] or "geom"
                for batch in reader:
                    pairs = zip(names, target, strict=False)
                    arrays = [batch.column(n).cast(f.type) for n, f in pairs]
                    arrays.append(batch.column(geom).cast(pa.binary()))
                    yield pa.RecordBatch.from_arrays(arrays, schema=target)

        return pa.RecordBatchReader.from_batches(target, batches())


class closing_ro:  # noqa: N801
    """Read-only, immutable connection to a published GeoPackage."""

    def __init__(self, path: Path) -> None:
        self.con = sqlite3.connect(f"file:{path}?mode=ro&immutable=1", uri=True)

    def __enter__(self) -> sqlite3.Connection:
        return self.con

    def __exit__(self, *exc: object) -> None:
        self.con.close()


def read_meta(path: Path) -> dict[str, Any]:
    """The ``geopublish_meta`` table of a published GeoPackage."""
    with closing_ro(path) as con:
        rows = con.execute(f"SELECT key, value FROM {META_TABLE}").fetchall()
    return {k: json.loads(v) for k, v in rows}
