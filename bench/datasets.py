"""Reproducible benchmark inputs in Lambert-93 (EPSG:2154), written as GeoPackage.

    python bench/datasets.py polygons --count 1000000 --out var/bench/polygons_1m.gpkg
    python bench/datasets.py points --count 100000 --out var/bench/points_100k.gpkg

The same ``--count`` and ``--seed`` give the same file, feature for feature, whatever the
machine: feature ``i`` is drawn from a generator seeded with ``(seed, kind, i // CHUNK)``.

Known defects, by position ``i`` (0-based) in the file:

- ``i % 1000 == 500`` is invalid. Polygons: a self-intersecting "bow-tie" ring (valid after
  ``make_valid``). Points: a null geometry (the build drops it).
- ``i % 1000 == 999`` duplicates feature ``i - 1``: same attributes (same ``code`` /
  ``stop_id``) and same geometry.

So a file of N features holds ``defects(N)`` invalid and duplicate features, 0.1 % each.
Polygons are commune-like: one star-shaped ring of 20 to 200 vertices (uniform), radius
0.5 to 4 km, spread over mainland France; points are stop-like, clustered around towns.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyogrio
import shapely

CHUNK = 10_000
EXTENT = (100_000.0, 6_100_000.0, 1_150_000.0, 7_050_000.0)
KINDS = {"polygons": 1, "points": 2}
INVALID_AT, DUPLICATE_AT, PERIOD = 500, 999, 1000
NAMES = np.array(["Saint", "Mont", "Val", "Bois", "Roche", "Pont", "Font", "Ville", "Mas", "Puy"])
SUFFIXES = np.array(["-sur-Mer", "-les-Bains", "-le-Haut", "", "-de-Lez", "-en-Vercors"])


def defects(count: int) -> dict[str, int]:
    """Number of invalid and of duplicate features in a file of ``count`` features."""
    return {
        "invalid": len(range(INVALID_AT, count, PERIOD)),
        "duplicate": len(range(DUPLICATE_AT, count, PERIOD)),
    }


def _rng(seed: int, kind: str, chunk: int) -> np.random.Generator:
    return np.random.default_rng([seed, KINDS[kind], chunk])


def _names(rng: np.random.Generator, n: int) -> list[str]:
    a = NAMES[rng.integers(0, len(NAMES), n)]
    b = NAMES[rng.integers(0, len(NAMES), n)]
    s = SUFFIXES[rng.integers(0, len(SUFFIXES), n)]
    return [f"{x}-{y.lower()}{z}" for x, y, z in zip(a, b, s, strict=True)]


def _dates(rng: np.random.Generator, n: int) -> list[str]:
    days = np.datetime64("2015-01-01") + rng.integers(0, 3650, n).astype("timedelta64[D]")
    return np.datetime_as_string(days).tolist()


def _polygons(rng: np.random.Generator, start: int, n: int) -> pa.Table:
    cx = rng.uniform(EXTENT[0], EXTENT[2], n)
    cy = rng.uniform(EXTENT[1], EXTENT[3], n)
    radius = rng.uniform(500.0, 4000.0, n)
    nverts = rng.integers(20, 201, n)
    total = int(nverts.sum())
    owner = np.repeat(np.arange(n), nverts)
    first = np.concatenate([[0], np.cumsum(nverts)[:-1]])
    step = np.arange(total) - np.repeat(first, nverts)
    angle = 2 * np.pi * step / nverts[owner]
    r = radius[owner] * rng.uniform(0.75, 1.0, total)
    x, y = cx[owner] + r * np.cos(angle), cy[owner] + r * np.sin(angle)
    rings = np.split(np.column_stack([x, y]), np.cumsum(nverts)[:-1])
    geoms = np.array([shapely.Polygon(ring) for ring in rings], dtype=object)
    index = np.arange(start, start + n)
    for k in np.flatnonzero(index % PERIOD == INVALID_AT):
        x0, y0, d = cx[k], cy[k], radius[k]
        geoms[k] = shapely.Polygon(
            [(x0 - d, y0 - d), (x0 + d, y0 + d), (x0 + d, y0 - d), (x0 - d, y0 + d)]
        )
    geoms = shapely.multipolygons(geoms.reshape(-1, 1).tolist())
    code = np.char.add("C", np.char.zfill(index.astype(str), 7))
    columns = {
        "code": code.tolist(),
        "nom": _names(rng, n),
        "departement": np.char.zfill(rng.integers(1, 96, n).astype(str), 2).tolist(),
        "population": rng.lognormal(6.5, 1.4, n).astype(np.int64),
        "superficie": np.round(np.pi * radius**2 / 1e6, 3),
        "date_maj": _dates(rng, n),
    }
    return _table(columns, geoms, index)


def _points(rng: np.random.Generator, start: int, n: int) -> pa.Table:
    towns = rng.uniform(EXTENT[:2], EXTENT[2:], (max(1, n // 40), 2))
    town = rng.integers(0, len(towns), n)
    xy = towns[town] + rng.normal(0.0, 1500.0, (n, 2))
    geoms = shapely.points(xy).astype(object)
    index = np.arange(start, start + n)
    geoms[index % PERIOD == INVALID_AT] = None
    columns = {
        "stop_id": np.char.add("S", np.char.zfill(index.astype(str), 7)).tolist(),
        "stop_name": _names(rng, n),
        "town": np.char.add("T", np.char.zfill((start // CHUNK * 1000 + town).astype(str), 6)),
        "wheelchair_boarding": rng.integers(0, 3, n),
        "location_type": np.where(rng.uniform(size=n) < 0.1, 1, 0),
        "opened": _dates(rng, n),
    }
    columns["town"] = columns["town"].tolist()
    return _table(columns, geoms, index)


def _table(columns: dict, geoms: np.ndarray, index: np.ndarray) -> pa.Table:
    dup = np.flatnonzero(index % PERIOD == DUPLICATE_AT)
    dup = dup[dup > 0]
    for values in columns.values():
        if isinstance(values, list):
            for k in dup:
                values[k] = values[k - 1]
        else:
            values[dup] = values[dup - 1]
    geoms = np.asarray(geoms, dtype=object)
    geoms[dup] = geoms[dup - 1]
    arrays = {k: pa.array(v) for k, v in columns.items()}
    arrays["geometry"] = pa.array(shapely.to_wkb(geoms), type=pa.binary())
    return pa.table(arrays)


def chunks(kind: str, count: int, seed: int = 42) -> Iterator[pa.RecordBatch]:
    """The dataset as Arrow record batches of at most ``CHUNK`` rows (WKB geometry)."""
    make = _polygons if kind == "polygons" else _points
    for chunk, start in enumerate(range(0, count, CHUNK)):
        table = make(_rng(seed, kind, chunk), start, min(CHUNK, count - start))
        yield from table.to_batches()


def write(kind: str, count: int, out: Path, seed: int = 42) -> None:
    """Write ``count`` features of ``kind`` to the GeoPackage ``out`` (replaced)."""
    if kind not in KINDS:
        raise ValueError(f"kind {kind!r} is not one of {sorted(KINDS)}")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.unlink(missing_ok=True)
    batches = chunks(kind, count, seed)
    first = next(batches)
    schema = first.schema.set(
        first.schema.get_field_index("geometry"),
        pa.field("geometry", pa.binary(), metadata={"ARROW:extension:name": "geoarrow.wkb"}),
    )

    def cast() -> Iterator[pa.RecordBatch]:
        for batch in _chain(first, batches):
            yield pa.RecordBatch.from_arrays(batch.columns, schema=schema)

    pyogrio.write_arrow(
        pa.RecordBatchReader.from_batches(schema, cast()),
        str(out),
        layer=out.stem,
        driver="GPKG",
        geometry_name="geom",
        geometry_type="MultiPolygon" if kind == "polygons" else "Point",
        crs="EPSG:2154",
        layer_options={"SPATIAL_INDEX": "NO"},
    )


def _chain(first: pa.RecordBatch, rest: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    yield first
    yield from rest


def main(argv: list[str] | None = None) -> int:
    """Command line: ``datasets.py {polygons,points} --count N --out FILE.gpkg``."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("kind", choices=sorted(KINDS))
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args(argv)
    write(args.kind, args.count, args.out, args.seed)
    found = defects(args.count)
    print(
        f"{args.out}: {args.count} {args.kind}, {found['invalid']} invalid, "
        f"{found['duplicate']} duplicates (seed {args.seed})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
