"""Whole-layer downloads in open formats, written from one Arrow stream of a staged version.

Each publication writes ``<root>/<collection>/<build_id>/`` *before* the swap: the layer as a
GeoPackage (GDAL, streamed from the store's scan), then GeoJSON (RFC 7946, lon/lat), CSV
(geometry as WKT, in the storage CRS), FlatGeobuf (GDAL, each streamed from that GeoPackage)
and GeoParquet (pyarrow, streamed batch by batch). Memory is bounded by one batch per writer.
A ``manifest.json`` lists each file's media type, size and SHA-256. The folder is written under
a temporary name carrying the writer's pid and renamed into place, so a folder named after a
build is complete; the server serves the folder of the build it serves, so downloads swap,
roll back and are pruned with the version they were made from.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pyogrio
import pyproj

from geopublish.errors import PublishError
from geopublish.model import DOWNLOADS_MANIFEST as MANIFEST
from geopublish.procs import other_alive
from geopublish.publish.download_lines import replace_csv, replace_geojson


@dataclass(frozen=True)
class Format:
    """One download format."""

    key: str
    suffix: str
    media_type: str
    title: str
    driver: str | None  # GDAL driver; None: written with pyarrow


FORMATS = (
    Format("gpkg", "gpkg", "application/geopackage+sqlite3", "GeoPackage", "GPKG"),
    Format("geojson", "geojson", "application/geo+json", "GeoJSON", "GeoJSON"),
    Format("csv", "csv", "text/csv", "CSV (géométrie en WKT)", "CSV"),
    Format("fgb", "fgb", "application/vnd.flatgeobuf", "FlatGeobuf", "FlatGeobuf"),
    Format("parquet", "parquet", "application/vnd.apache.parquet", "GeoParquet", None),
)
BY_SUFFIX = {f.suffix: f for f in FORMATS}
OPTIONS: dict[str, dict[str, Any]] = {
    "GPKG": {"layer_options": {"SPATIAL_INDEX": "YES"}},
    "GeoJSON": {"layer_options": {"RFC7946": "YES", "WRITE_NAME": "NO"}},
    "CSV": {"layer_options": {"GEOMETRY": "AS_WKT", "GEOMETRY_NAME": "wkt"}},
    "FlatGeobuf": {"layer_options": {"SPATIAL_INDEX": "YES"}},
}


def gdal_crs(storage_crs: str) -> str:
    """Files store lon/lat in x/y order whatever the CRS says: CRS84 is EPSG:4326."""
    return "EPSG:4326" if storage_crs.upper() in ("OGC:CRS84", "CRS84") else storage_crs


class Downloads:
    """The download folders of every collection under one root (``var/downloads``)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def folder(self, collection: str, build_id: str) -> Path:
        """Where the downloads of one build live."""
        return self.root / collection / build_id

    def manifest(self, collection: str, build_id: str) -> dict[str, Any] | None:
        """The manifest of one build's downloads, or None when it has none."""
        try:
            text = (self.folder(collection, build_id) / MANIFEST).read_text(encoding="utf-8")
            found = json.loads(text)
        except (OSError, ValueError):
            return None
        return found if isinstance(found, dict) else None

    def file(self, collection: str, build_id: str, suffix: str) -> Path | None:
        """One download file of one build, or None."""
        manifest = self.manifest(collection, build_id)
        entry = (manifest or {}).get("files", {}).get(suffix)
        if entry is None:
            return None
        path = self.folder(collection, build_id) / entry["name"]
        return path if path.is_file() else None

    def write(
        self,
        collection: str,
        build_id: str,
        stream: pa.RecordBatchReader,
        *,
        geometry_type: str,
        storage_crs: str,
        bbox: list[float] | None,
        base: tuple[str, str, tuple[str, ...]] | None = None,
        batch_size: int = 5000,
        on_step: Callable[[str], None] = lambda key: None,
    ) -> dict[str, Any]:
        """Write every format of one build from ``stream``; return the manifest.

        With ``base`` (a build id, a column, values), ``stream`` holds only the rows whose
        ``column`` is in ``values``: each file is that build's with those rows replaced.
        The formats derived from the GeoPackage read it ``batch_size`` rows at a time (GDAL's
        Arrow reader would otherwise hand over 65 536 rows per batch). ``on_step`` is called
        with each format's key once its file is written.
        """
        final = self.folder(collection, build_id)
        if (final / MANIFEST).is_file():
            return self.manifest(collection, build_id) or {}
        tmp = final.with_name(f".{build_id}.{os.getpid()}.tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        try:
            if base is not None:
                old = self.folder(collection, base[0])
                files = _derive_all(collection, tmp, old, base[1], base[2], stream,
                                    geometry_type, storage_crs, bbox, batch_size,
                                    on_step)  # fmt: skip
            else:
                files = _write_all(collection, tmp, stream, geometry_type, storage_crs, bbox,
                                   batch_size, on_step)  # fmt: skip
            manifest = {"collection": collection, "build_id": build_id, "files": files}
            (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2), encoding="utf-8")
            os.replace(tmp, final)
        except Exception as exc:
            shutil.rmtree(tmp, ignore_errors=True)
            if isinstance(exc, PublishError):
                raise
            raise PublishError(
                f"collection {collection!r}: writing the downloads failed: {exc}"
            ) from exc
        return manifest

    def keep(self, collection: str, build_ids: Iterable[str]) -> list[str]:
        """Delete the downloads of builds not in ``build_ids`` and dead writers' leftovers."""
        keep = set(build_ids)
        removed: list[str] = []
        folder = self.root / collection
        if not folder.is_dir():
            return removed
        for path in folder.iterdir():
            if path.name.startswith("."):
                pid = path.name.rsplit(".", 2)[-2] if path.name.endswith(".tmp") else ""
                if pid.isdigit() and other_alive(int(pid)):
                    continue
            elif path.name in keep:
                continue
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path.name)
        return removed


def _write_all(
    collection: str,
    folder: Path,
    stream: pa.RecordBatchReader,
    geometry_type: str,
    storage_crs: str,
    bbox: list[float] | None,
    batch_size: int,
    on_step: Callable[[str], None],
    only: tuple[str, ...] | None = None,
) -> dict[str, Any]:
    crs = gdal_crs(storage_crs)
    gpkg = folder / f"{collection}.gpkg"
    pyogrio.write_arrow(
        stream, str(gpkg), layer=collection, driver="GPKG", geometry_name="geom",
        geometry_type=geometry_type, crs=crs, **OPTIONS["GPKG"],
    )  # fmt: skip
    on_step(FORMATS[0].key)
    for fmt in FORMATS[1:]:
        if only is not None and fmt.key not in only:
            continue
        path = folder / f"{collection}.{fmt.suffix}"
        _convert(gpkg, path, fmt, collection, geometry_type, storage_crs, bbox, batch_size)
        on_step(fmt.key)
    return {} if only is not None else _files(collection, folder)


def _convert(
    gpkg: Path,
    path: Path,
    fmt: Format,
    collection: str,
    geometry_type: str,
    storage_crs: str,
    bbox: list[float] | None,
    batch_size: int,
) -> None:
    """``path`` in format ``fmt``, read from the GeoPackage download in batches."""
    with pyogrio.open_arrow(
        str(gpkg), layer=collection, use_pyarrow=True, batch_size=batch_size
    ) as (meta, rd):
        geom = meta["geometry_name"] or "geom"
        if fmt.driver is None:
            _parquet(path, rd, geom, geometry_type, storage_crs, bbox)
        else:
            pyogrio.write_arrow(
                rd, str(path), layer=collection, driver=fmt.driver, geometry_name=geom,
                geometry_type=geometry_type, crs=gdal_crs(storage_crs), **OPTIONS[fmt.driver],
            )  # fmt: skip


def _files(collection: str, folder: Path) -> dict[str, Any]:
    files = {}
    for fmt in FORMATS:
        path = folder / f"{collection}.{fmt.suffix}"
        size, digest = _digest(path)
        files[fmt.suffix] = {
            "name": path.name,
            "media_type": fmt.media_type,
            "title": fmt.title,
            "size": size,
            "sha256": digest,
        }
    return files


def _derive_all(
    collection: str,
    folder: Path,
    old: Path,
    column: str,
    values: tuple[str, ...],
    stream: pa.RecordBatchReader,
    geometry_type: str,
    storage_crs: str,
    bbox: list[float] | None,
    batch_size: int,
    on_step: Callable[[str], None],
) -> dict[str, Any]:
    """Every format from the ``old`` build's files, the rows of ``values`` replaced.

    The new rows go through the same writers as a full build (into ``.new`` files); the
    GeoPackage is copied and edited in SQL, the GeoJSON and CSV files are copied without the
    replaced rows' lines (:mod:`download_lines`), the GeoParquet file filtered by pyarrow;
    FlatGeobuf (one packed R-tree) is written again from the new GeoPackage.
    """
    crs = gdal_crs(storage_crs)
    new = folder / ".new"
    new.mkdir()
    _write_all(collection, new, stream, geometry_type, storage_crs, bbox, batch_size,
               lambda key: None, only=("gpkg", "geojson", "csv"))  # fmt: skip
    gpkg = folder / f"{collection}.gpkg"
    shutil.copyfile(old / gpkg.name, gpkg)
    with sqlite3.connect(gpkg) as con:
        marks = ", ".join("?" * len(values))
        con.execute(f'DELETE FROM "{collection}" WHERE "{column}" IN ({marks})', values)
    con.close()
    with pyogrio.open_arrow(str(new / gpkg.name), layer=collection, use_pyarrow=True) as (_, rd):
        pyogrio.write_arrow(rd, str(gpkg), layer=collection, driver="GPKG", append=True,
                            geometry_name="geom", geometry_type=geometry_type, crs=crs)  # fmt: skip
    if bbox:
        with sqlite3.connect(gpkg) as con:
            con.execute(
                "UPDATE gpkg_contents SET min_x = ?, min_y = ?, max_x = ?, max_y = ? "
                "WHERE lower(table_name) = lower(?)",
                (*bbox, collection),
            )
        con.close()
    on_step("gpkg")
    name = f"{collection}.geojson"
    replace_geojson(old / name, new / name, folder / name, column, values)
    on_step("geojson")
    name = f"{collection}.csv"
    replace_csv(old / name, new / name, folder / name, column, values)
    on_step("csv")
    fgb = next(f for f in FORMATS if f.key == "fgb")
    path = folder / f"{collection}.{fgb.suffix}"
    _convert(gpkg, path, fgb, collection, geometry_type, storage_crs, bbox, batch_size)
    on_step("fgb")
    name = f"{collection}.parquet"
    kept = _kept_batches(old / name, column, values)
    with pyogrio.open_arrow(str(new / gpkg.name), layer=collection, use_pyarrow=True) as (m, rd):
        _parquet(folder / name, rd, m["geometry_name"] or "geom", geometry_type, storage_crs,
                 bbox, first=kept)  # fmt: skip
    on_step("parquet")
    shutil.rmtree(new)
    return _files(collection, folder)


def _kept_batches(path: Path, column: str, values: tuple[str, ...]) -> Iterator[pa.RecordBatch]:
    """The batches of a GeoParquet file without the rows whose ``column`` is in ``values``."""
    source = pq.ParquetFile(path)
    dropped = pa.array(values, source.schema_arrow.field(column).type)
    for batch in source.iter_batches(batch_size=64_000):
        keep = pc.invert(pc.is_in(batch.column(column), value_set=dropped))
        yield batch.filter(pc.fill_null(keep, True))


def _parquet(
    path: Path,
    reader: pa.RecordBatchReader,
    geom: str,
    geometry_type: str,
    storage_crs: str,
    bbox: list[float] | None,
    first: Iterator[pa.RecordBatch] | None = None,
) -> None:
    """GeoParquet 1.1 (WKB ``geometry`` column), one row group per few batches.

    ``first``: rows already in this form (a kept part of an earlier file), written first.
    """
    names = [n for n in reader.schema.names if n != geom]
    fields = [reader.schema.field(n) for n in names]
    fields.append(pa.field("geometry", pa.binary()))
    column: dict[str, Any] = {
        "encoding": "WKB",
        "geometry_types": [geometry_type] if geometry_type != "Geometry" else [],
        "crs": pyproj.CRS(storage_crs).to_json_dict(),
    }
    if bbox:
        column["bbox"] = list(bbox)
    geo = {"version": "1.1.0", "primary_column": "geometry", "columns": {"geometry": column}}
    schema = pa.schema(fields, metadata={"geo": json.dumps(geo)})

    def batches() -> Iterator[pa.RecordBatch]:
        for batch in reader:
            arrays = [batch.column(n) for n in names]
            arrays.append(batch.column(geom).cast(pa.binary()))
            yield pa.RecordBatch.from_arrays(arrays, schema=schema)

    with pq.ParquetWriter(str(path), schema, compression="zstd") as writer:
        for kept in first or ():
            if kept.num_rows:
                writer.write_batch(kept.cast(schema), row_group_size=64_000)
        for batch in batches():
            writer.write_batch(batch, row_group_size=64_000)


def _digest(path: Path) -> tuple[int, str]:
    sha = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            sha.update(chunk)
    return path.stat().st_size, sha.hexdigest()
