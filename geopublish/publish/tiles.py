"""Vector tile sets: one MBTiles file of Mapbox Vector Tiles per published version of a layer.

GDAL's MBTiles driver (MVT inside, through pyogrio's Arrow writer) does the tiling: it
reprojects to WebMercatorQuad (EPSG:3857), clips each feature to its tile with a buffer,
simplifies per zoom level (a quantisation to the 4096-unit tile grid), and writes gzip-compressed
tiles plus the TileJSON-like ``metadata`` table (bounds, zooms, ``vector_layers``). Only the
declared attributes travel; the id column always does, so pop-ups can link to the item.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyogrio

from geopublish.errors import GeopublishError, PublishError
from geopublish.model import ARROW_TYPES

# Default zoom ranges by geometry family: points stay legible up to street level, from a
# region-wide view (z6) on: below it every point of a region falls in a handful of tiles that
# cost half the build of a stops layer (bench/RESULTS.md) for a map no one reads; lines and
# polygons are simplified per zoom, and z12 (≈ 10 m units) holds a region's reference
# geometry (clients overzoom beyond it).
DEFAULT_ZOOMS = {"Point": (6, 14), "LineString": (0, 12), "Polygon": (0, 12)}
GEOMETRY = "geom"  # the WKB column of FeatureStore.scan


@dataclass(frozen=True)
class TilePlan:
    """What to tile: the layer name, the attributes kept and the zoom range."""

    name: str
    attributes: dict[str, str]
    geometry_type: str
    storage_crs: str
    minzoom: int
    maxzoom: int


def default_zooms(geometry_type: str) -> tuple[int, int]:
    """Zoom range of a geometry type ("MultiPolygon" counts as "Polygon")."""
    family = geometry_type.removeprefix("Multi")
    return DEFAULT_ZOOMS.get(family, (0, 12))


def plan(
    name: str,
    fields: dict[str, str],
    id_column: str,
    geometry_type: str,
    storage_crs: str,
    *,
    minzoom: int | None = None,
    maxzoom: int | None = None,
    attributes: list[str] | None = None,
) -> TilePlan:
    """The tile plan of a layer: the spec's choices, else the defaults of its geometry type."""
    low, high = default_zooms(geometry_type)
    low = low if minzoom is None else minzoom
    high = high if maxzoom is None else maxzoom
    if low > high:
        raise PublishError(f"collection {name!r}: tiles.minzoom {low} > tiles.maxzoom {high}")
    keep = list(fields) if attributes is None else attributes
    unknown = [a for a in keep if a not in fields]
    if unknown:
        raise PublishError(
            f"collection {name!r}: tiles.attributes names unknown field(s) {unknown!r}; "
            f"fields: {sorted(fields)}"
        )
    kept = {id_column: fields.get(id_column, "string")}
    kept.update({a: fields[a] for a in keep})
    return TilePlan(name, kept, geometry_type, storage_crs, low, high)


def _batches(batches: Iterable[pa.RecordBatch], tiles: TilePlan) -> Iterator[pa.RecordBatch]:
    schema = _schema(tiles)
    for batch in batches:
        if batch.num_rows == 0:
            continue
        arrays = [batch.column(n).cast(ARROW_TYPES[k]) for n, k in tiles.attributes.items()]
        arrays.append(batch.column(GEOMETRY).cast(pa.binary()))
        yield pa.RecordBatch.from_arrays(arrays, schema=schema)


def _schema(tiles: TilePlan) -> pa.Schema:
    fields = [pa.field(n, ARROW_TYPES[k]) for n, k in tiles.attributes.items()]
    return pa.schema([*fields, pa.field("geometry", pa.binary(), metadata={
        "ARROW:extension:name": "geoarrow.wkb"
    })])  # fmt: skip


def build(batches: Iterable[pa.RecordBatch], tiles: TilePlan, target: Path) -> Path:
    """Write the tile set of Arrow ``batches`` (fields, WKB ``geom``) into ``target``.

    The batches are a store's scan of a staging copy; the file is written aside, then renamed.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    temp = target.with_name(f".{target.stem}.{os.getpid()}.tmp.mbtiles")  # GDAL wants the suffix
    temp.unlink(missing_ok=True)
    failure: list[BaseException] = []

    def guarded() -> Iterator[pa.RecordBatch]:
        try:
            yield from _batches(batches, tiles)
        except BaseException as exc:
            failure.append(exc)
            raise

    reader = pa.RecordBatchReader.from_batches(_schema(tiles), guarded())
    crs = "OGC:CRS84" if tiles.storage_crs.upper() in ("OGC:CRS84", "CRS84") else tiles.storage_crs
    try:
        pyogrio.write_arrow(
            reader,
            str(temp),
            layer=tiles.name,
            driver="MBTiles",
            geometry_type=tiles.geometry_type,
            crs=crs,
            dataset_options={
                "NAME": tiles.name,
                "MINZOOM": str(tiles.minzoom),
                "MAXZOOM": str(tiles.maxzoom),
                "COMPRESS": "YES",
            },
        )
    except BaseException as exc:
        temp.unlink(missing_ok=True)
        if failure and failure[0] is not exc:
            exc = failure[0]
            if isinstance(exc, GeopublishError) or not isinstance(exc, Exception):
                raise exc from None
        raise PublishError(f"collection {tiles.name!r}: tile build failed: {exc}") from exc
    os.replace(temp, target)
    return target


def prune(folder: Path, keep: set[str]) -> list[str]:
    """Remove every file in ``folder`` but the tile sets of ``keep``; return their names."""
    removed = []
    if not folder.is_dir():
        return removed
    # Anything else in the folder is a set no version names or a killed build's temporary
    # (the caller holds the layer's lock, so no build of this layer is writing).
    for path in sorted(p for p in folder.iterdir() if p.is_file()):
        if not (path.suffix == ".mbtiles" and path.stem in keep):
            path.unlink(missing_ok=True)
            removed.append(path.name)
    return removed
