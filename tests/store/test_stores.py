"""Every store keeps the same contract: stage, swap, versions, rollback, prune, drop, cleanup.

The two feature stores also share load, hashes and read; the raster store passes the version
contract with small GeoTIFFs.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import geopandas as gpd
import pytest
import shapely
from gpsupport import REPO
from pgsupport import pg_schema, postgis_dsn  # noqa: F401

from geopublish.errors import StoreError
from geopublish.model import HASH_COLUMN, PublishedLayer
from geopublish.store.base import LayerSchema, Partition
from geopublish.store.gpkg import GeoPackageStore
from geopublish.store.postgis import PostGISStore
from geopublish.store.raster import RasterStore

FIELDS = {"code": "string", "n": "integer", "x": "number", "ok": "boolean", "day": "date"}
SCHEMA = LayerSchema("parcels", FIELDS, "MultiPolygon", "OGC:CRS84", "code")


def frame(start: int, count: int, shift: float = 0.0) -> gpd.GeoDataFrame:
    """Squares 0.01 deg wide along a line near Montpellier, with every field type."""
    rows = range(start, start + count)
    geoms = [
        shapely.MultiPolygon(
            [shapely.box(3.8 + i * 0.01 + shift, 43.6, 3.805 + i * 0.01 + shift, 43.605)]
        )
        for i in rows
    ]
    return gpd.GeoDataFrame(
        {
            "code": [f"P{i:04d}" for i in rows],
            "n": [i if i % 7 else None for i in rows],
            "x": [i / 3 for i in rows],
            "ok": [i % 2 == 0 for i in rows],
            "day": [f"2024-01-{1 + i % 28:02d}" for i in rows],
            HASH_COLUMN: [f"h{i}-{shift}" for i in rows],
        },
        geometry=geoms,
        crs="OGC:CRS84",
    )


def meta(count: int, build: str, collection: str = "parcels") -> PublishedLayer:
    return PublishedLayer(
        collection=collection,
        count=count,
        storage_crs="OGC:CRS84",
        fields=FIELDS,
        id_column="code",
        geometry_type="MultiPolygon",
        build_id=build,
        built_at="2026-01-01T00:00:00Z",
        source_sha256="0" * 64,
    )


@pytest.fixture(params=["gpkg", "postgis"])
def store_spec(request, tmp_path):
    """How to open each feature store (also from a child process)."""
    if request.param == "gpkg":
        return {"kind": "gpkg", "root": str(tmp_path / "store")}
    dsn = request.getfixturevalue("postgis_dsn")
    return {"kind": "postgis", "dsn": dsn, "schema": request.getfixturevalue("pg_schema")}


def open_store(spec: dict, keep: int = 5):
    if spec["kind"] == "gpkg":
        return GeoPackageStore(Path(spec["root"]), keep_versions=keep)
    if spec["kind"] == "raster":
        return RasterStore(Path(spec["root"]), keep_versions=keep)
    return PostGISStore(spec["dsn"], keep_versions=keep, schema=spec["schema"])


@pytest.fixture
def store(store_spec):
    return open_store(store_spec)


def build(store, batches: list[gpd.GeoDataFrame], build_id: str = "b1"):
    staged = store.load(SCHEMA, iter(batches))
    return store.publish(staged, meta(staged.count, build_id))


def test_published_layer_reads_back_every_value_and_geometry(store):
    version = build(store, [frame(0, 30), frame(30, 25)])
    assert version.version == 1 and version.current and version.count == 55
    assert version.store == store.kind and version.id_column == "code"
    gdf = store.read("parcels")
    assert list(gdf["code"]) == [f"P{i:04d}" for i in range(55)]
    assert [None if v != v else int(v) for v in gdf["n"]] == [
        i if i % 7 else None for i in range(55)
    ]
    assert list(gdf["x"]) == pytest.approx([i / 3 for i in range(55)])
    assert [bool(v) for v in gdf["ok"]] == [i % 2 == 0 for i in range(55)]
    assert gdf["day"][3] == "2024-01-04"
    assert HASH_COLUMN not in gdf.columns
    assert gdf.crs.to_epsg() == 4326
    assert shapely.equals(gdf.geometry.iloc[10], frame(10, 1).geometry.iloc[0])


def test_staging_bounds_and_count_cover_all_batches(store):
    staged = store.load(SCHEMA, iter([frame(0, 5), frame(0, 0), frame(5, 5)]))
    assert staged.count == 10
    assert staged.bounds == pytest.approx((3.8, 43.6, 3.895, 43.605))
    store.discard(staged)
    assert store.current("parcels") is None


def test_second_build_becomes_current_and_rollback_serves_the_first_again(store):
    build(store, [frame(0, 10)], "b1")
    build(store, [frame(0, 12, shift=1.0)], "b2")
    assert [(v.version, v.current) for v in store.versions("parcels")] == [(1, False), (2, True)]
    assert len(store.read("parcels")) == 12
    assert store.hashes("parcels")["P0003"] == "h3-1.0"
    assert store.hashes("parcels", 1)["P0003"] == "h3-0.0"
    assert store.hashes("parcels", 99) == {}
    version = store.rollback("parcels", 1)
    assert version.version == 1 and version.build_id == "b1"
    assert store.current("parcels").version == 1
    assert len(store.read("parcels")) == 10
    with pytest.raises(StoreError, match=r"'parcels': version 7 is not kept; kept: \[1, 2\]"):
        store.rollback("parcels", 7)


def test_old_versions_are_pruned_beyond_keep_only_when_asked(store_spec):
    store = open_store(store_spec, keep=2)
    for k in range(4):
        build(store, [frame(0, 5 + k)], f"b{k}")
    # publishing never prunes: the swap-and-record step prunes once the change set is written
    assert [v.version for v in store.versions("parcels")] == [1, 2, 3, 4]
    assert store.prune("parcels") == [1, 2]
    assert [v.version for v in store.versions("parcels")] == [3, 4]
    assert store.current("parcels").count == 8


def test_duplicate_ids_refuse_publication_and_keep_served_version(store):
    build(store, [frame(0, 10)])
    staged = store.load(SCHEMA, iter([frame(0, 5), frame(4, 3)]))
    with pytest.raises(StoreError, match="'parcels': duplicate ids in 'code'"):
        store.publish(staged, meta(8, "dup"))
    store.discard(staged)
    assert store.current("parcels").version == 1
    assert len(store.read("parcels")) == 10
    assert store.cleanup("parcels") == []


def test_failing_batch_discards_staging_and_keeps_served_version(store):
    build(store, [frame(0, 10)])

    def broken():
        yield frame(0, 5)
        raise RuntimeError("source broke")

    with pytest.raises(RuntimeError, match="source broke"):
        store.load(SCHEMA, broken())
    assert store.cleanup("parcels") == []
    assert store.current("parcels").count == 10


def test_derived_version_replaces_one_partition_and_leaves_its_base_untouched(store):
    base = build(store, [frame(0, 30)], "b1")
    gone = ("2024-01-02", "2024-01-03")  # rows 1, 2, 29 (days cycle over 28)
    kept = [i for i in range(30) if f"2024-01-{1 + i % 28:02d}" not in gone]
    new = frame(100, 4, shift=0.5)
    staged = store.derive(
        SCHEMA, base, Partition("day", gone), iter([new]), (3.8, 43.6, 4.1, 43.605)
    )
    assert staged.count == len(kept) + 4 == 31
    assert staged.bounds == pytest.approx((3.8, 43.6, 5.335, 43.605))  # kept extent + new rows
    version = store.publish(staged, meta(staged.count, "b2"))
    assert version.version == 2 and version.current
    got = store.read("parcels")
    want = [f"P{i:04d}" for i in kept] + [f"P{i:04d}" for i in range(100, 104)]
    assert sorted(got["code"]) == sorted(want)
    row = got.set_index("code").loc["P0102"]
    assert (row["day"], int(row["n"]), bool(row["ok"])) == ("2024-01-19", 102, True)
    assert shapely.equals(row.geometry, new.geometry.iloc[2])
    assert store.hashes("parcels", 1) == {f"P{i:04d}": f"h{i}-0.0" for i in range(30)}
    assert store.hashes("parcels", 2, Partition("day", gone)) == {}
    assert store.hashes("parcels", 1, Partition("day", gone)).keys() == {"P0001", "P0002", "P0029"}
    assert store.hashes("parcels", 2, Partition("day", ("2024-01-19", "2024-01-20"))) == {
        "P0018": "h18-0.0", "P0019": "h19-0.0", "P0102": "h102-0.5", "P0103": "h103-0.5"
    }  # fmt: skip
    assert store.rollback("parcels", 1).count == 30 and len(store.read("parcels")) == 30


def test_derived_version_with_an_id_of_a_kept_row_is_refused_and_base_kept(store):
    base = build(store, [frame(0, 10)], "b1")
    with pytest.raises(StoreError, match="'parcels': duplicate ids in 'code'"):
        staged = store.derive(SCHEMA, base, Partition("day", ("2024-01-01",)), iter([frame(4, 1)]))
        store.publish(staged, meta(staged.count, "dup"))
    assert store.current("parcels").version == 1 and len(store.read("parcels")) == 10
    assert store.cleanup("parcels") == []


LOADER = """
import sys, time, json
sys.path[:0] = [{tests!r}, {root!r}]
from test_stores import SCHEMA, frame, open_store
store = open_store(json.loads({spec!r}))
def batches():
    for k in range(10_000):
        yield frame(k * 5, 5)
        print("batch", flush=True)
        time.sleep(0.05)
store.load(SCHEMA, batches())
"""


def test_killed_loader_leaves_served_layer_and_cleanup_removes_only_dead_staging(store_spec):
    import json

    store = open_store(store_spec)
    build(store, [frame(0, 10)])
    code = LOADER.format(
        tests=str(Path(__file__).parent), root=str(REPO / "tests"), spec=json.dumps(store_spec)
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code], cwd=REPO, stdout=subprocess.PIPE, text=True
    )
    try:
        for _ in range(3):
            assert proc.stdout.readline().startswith("batch")
        assert store.cleanup("parcels") == []  # the loader is alive: its staging copy stays
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    deadline = time.monotonic() + 10
    removed = store.cleanup("parcels")
    while not removed and time.monotonic() < deadline:  # the server notices the dead session
        time.sleep(0.1)
        removed = store.cleanup("parcels")
    assert len(removed) == 1
    assert store.cleanup("parcels") == []
    assert store.current("parcels").version == 1
    assert list(store.read("parcels")["code"]) == [f"P{i:04d}" for i in range(10)]


@pytest.mark.parametrize("method", ["read", "published"])
def test_a_collection_never_built_is_a_one_line_store_error(store, method):
    with pytest.raises(StoreError, match=r"^collection 'nowhere' has not been built yet$"):
        getattr(store, method)("nowhere")


# The version contract, on all three stores.


@pytest.fixture(params=["gpkg", "postgis", "raster"])
def versioned(request, tmp_path):
    if request.param == "raster":
        return open_store({"kind": "raster", "root": str(tmp_path / "rasters")}, keep=2)
    if request.param == "gpkg":
        return open_store({"kind": "gpkg", "root": str(tmp_path / "store")}, keep=2)
    dsn = request.getfixturevalue("postgis_dsn")
    return open_store(
        {"kind": "postgis", "dsn": dsn, "schema": request.getfixturevalue("pg_schema")}, keep=2
    )


def put(store, build_id: str, value: int = 1):
    """Stage and publish one small version (a 4x4 GeoTIFF for rasters)."""
    if store.kind != "raster":
        staged = store.load(SCHEMA, iter([frame(0, 3 + value)]))
        return store.publish(staged, meta(staged.count, build_id))
    import numpy as np
    import rasterio
    from rasterio.transform import from_origin

    staged = store.stage("parcels")
    with rasterio.open(
        staged.location, "w", driver="GTiff", width=4, height=4, count=1, dtype="int16",
        crs="EPSG:2154", transform=from_origin(700_000, 6_300_000, 30, 30),
    ) as dst:  # fmt: skip
        dst.write(np.full((1, 4, 4), value, dtype="int16"))
    layer = PublishedLayer(collection="parcels", kind="coverage", build_id=build_id, built_at="x")
    return store.publish(staged, layer)


def test_every_store_swaps_rolls_back_prunes_and_drops_the_same_way(versioned):
    store = versioned
    assert store.current("parcels") is None
    first = put(store, "b1", 1)
    assert (first.version, first.current, first.build_id) == (1, True, "b1")
    put(store, "b2", 2)
    put(store, "b3", 3)
    assert [(v.version, v.current) for v in store.versions("parcels")] == [
        (1, False), (2, False), (3, True),
    ]  # fmt: skip
    assert store.rollback("parcels", 2).build_id == "b2"
    assert store.current("parcels").version == 2
    assert store.prune("parcels") == [1]  # keep=2: the served one is never pruned
    store.drop("parcels", 2)  # the served version cannot be dropped
    assert [v.version for v in store.versions("parcels")] == [2, 3]
    store.drop("parcels", 3)
    assert [v.version for v in store.versions("parcels")] == [2]
    with pytest.raises(StoreError, match=r"'parcels': version 9 is not kept; kept: \[2\]"):
        store.rollback("parcels", 9)
    assert store.cleanup("parcels") == []


def test_a_raster_staging_file_of_a_dead_process_is_cleaned_up(tmp_path):
    store = RasterStore(tmp_path / "rasters")
    put(store, "b1")
    folder = tmp_path / "rasters" / "parcels"
    dead = 2**22 + 12345  # above pid_max on these machines: no such process
    leftovers = [
        folder / f".staging-{dead}.tif",
        folder / f"..staging-{dead}.tif.0123456789ab.tmp",
        folder / f".current-{dead}",
        folder / f".v000002.json.{dead}",
    ]
    for path in leftovers:
        path.write_text("x")
    assert sorted(store.cleanup("parcels")) == sorted(str(p) for p in leftovers)
    assert [p.name for p in folder.iterdir() if p.name.startswith(".")] == []
    assert store.current("parcels").version == 1


def indexed_columns(store, version: PublishedLayer) -> set[str]:
    """The columns of the version's table that lead an index (both stores' catalogues)."""
    if store.kind == "gpkg":
        import sqlite3

        with sqlite3.connect(version.location) as con:
            names = [r[1] for r in con.execute("PRAGMA index_list(parcels)")]
            leads = [con.execute(f'PRAGMA index_info("{n}")').fetchone() for n in names]
            return {lead[2] for lead in leads if lead}
    with store.connect() as con:
        rows = con.execute(
            "SELECT a.attname FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid "
            "JOIN pg_namespace s ON s.oid = c.relnamespace "
            "JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = i.indkey[0] "
            "WHERE c.relname = %s AND s.nspname = %s",
            (version.location, store.schema),
        ).fetchall()
    return {r[0] for r in rows}


def test_every_property_is_indexed_and_a_value_too_long_for_a_btree_is_kept(store):
    fields = {**FIELDS, "note": "string"}
    schema = LayerSchema("parcels", fields, "MultiPolygon", "OGC:CRS84", "code")
    batch = frame(0, 20)
    # ~9 kB that does not compress: beyond PostgreSQL's 2.7 kB B-tree entry limit
    long = "".join(f"{(i * 7919) % 10007:05d}" for i in range(1800))
    batch["note"] = ["court"] * 19 + [long]
    staged = store.load(schema, iter([batch]))
    layer = meta(staged.count, "b1").model_copy(update={"fields": fields})
    version = store.publish(staged, layer)
    assert version.count == 20
    assert set(fields) <= indexed_columns(store, version)
    if store.kind == "postgis":  # the over-long column's index is a hash (equality) index
        with store.connect() as con:
            kinds = con.execute(
                "SELECT indexdef FROM pg_indexes WHERE schemaname = %s AND tablename = %s",
                (store.schema, version.location),
            ).fetchall()
        assert [k for (k,) in kinds if "USING hash (note)" in k], kinds
    assert store.read("parcels")["note"].iloc[19] == long
