"""A federated refresh replaces only the changed publishers' rows, and equals a full rebuild.

Each store: a first build, then a refresh where a new top-priority publisher duplicates two
places of an unchanged one, and a publisher drops rows that a lower-priority one had duplicated
(so two unchanged inputs' partitions change too), then the same state rebuilt whole with the
incremental path off. Rows, ids, extents and change sets of both must be the same.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
from pathlib import Path

import geopandas as gpd
import pyarrow.parquet as pq
import pytest
import yaml
from gpsupport import REPO, cli_env, run_cli
from pgsupport import drop_schema, postgis_dsn  # noqa: F401

from geopublish.ledger.changes import diff
from geopublish.model import PublishedLayer
from geopublish.pipeline import federation_parts as parts
from geopublish.store.gpkg import GeoPackageStore
from geopublish.store.postgis import PostGISStore

pytestmark = pytest.mark.data
LAYER = "covoiturage_federe"
PUB = "federation/lieux_covoiturage/publishers"
CD31 = f"{PUB}/cd31_haute_garonne/bnlc_rows_removed_in_37518d2.csv"
CD66 = f"{PUB}/cd66_pyrenees_orientales/bnlc_rows_removed_in_b64dd75.csv"


def table(path) -> tuple[list[str], list[list[str]]]:
    rows = list(csv.reader(io.StringIO(path.read_text(encoding="utf-8-sig"), newline="")))
    return rows[0], rows[1:]


def write(path, header: list[str], rows: list[list[str]]) -> None:
    buf = io.StringIO(newline="")
    csv.writer(buf).writerows([header, *rows])
    path.write_text(buf.getvalue(), encoding="utf-8")


def publisher(specs, slug: str, name: str, siren: str, dep: str, path: str) -> None:
    (specs / LAYER / f"{slug}.yml").write_text(
        f"name: {name}\nsiren: '{siren}'\nterritory: {{departements: ['{dep}']}}\n"
        f"parts:\n  - path: {path}\n"
    )


def site_env(request, root: Path, data: Path, shared_data: Path, prefix: str):
    """The CLI environment and the store of a federated test site on ``request.param``."""
    extra = {"GEOPUBLISH_COLLECTIONS_DIR": str(root / "collections"),
             "GEOPUBLISH_STORE": request.param,
             "GEOPUBLISH_SOURCE_ALLOW": f"{root}:{shared_data}"}  # fmt: skip
    if request.param == "postgis":
        dsn = request.getfixturevalue("postgis_dsn")
        extra.update(
            GEOPUBLISH_POSTGIS_DSN=dsn, GEOPUBLISH_POSTGIS_SCHEMA=f"{prefix}_{os.getpid()}"
        )
        store = PostGISStore(dsn, schema=extra["GEOPUBLISH_POSTGIS_SCHEMA"])
    else:
        store = GeoPackageStore(root / "var" / "store")
    return cli_env(root / "var", data, **extra), store


@pytest.fixture(scope="module", params=["gpkg", "postgis"])
def site(request, shared_data, tmp_path_factory):
    root = tmp_path_factory.mktemp(f"fedrefresh_{request.param}")
    data = root / "data"
    (data / "local").mkdir(parents=True)
    for name in ("federation", "admin_reference_decoupage_administratif",
                 "admin_france_geojson_occitanie"):  # fmt: skip
        (data / name).symlink_to(shared_data / name)
    specs = root / "collections" / "federation"
    (specs / LAYER).mkdir(parents=True)
    spec = yaml.safe_load((REPO / "collections/federation" / f"{LAYER}.yml").read_text())
    spec["federation"]["priorities"] = ["aa_metropole", "cd31_haute_garonne",
                                        "cd66_pyrenees_orientales"]  # fmt: skip
    (specs / f"{LAYER}.yml").write_text(yaml.safe_dump(spec, allow_unicode=True))
    header, cd31 = table(shared_data / CD31)
    col = {n: i for i, n in enumerate(header)}
    # A large unchanged publisher: cd31's places 40 m east, each with its own local id.
    filler = []
    for n in range(600):
        row = list(cd31[n % len(cd31)])
        row[col["id_local"]] = f"F{n}"
        row[col["Xlong"]] = f"{float(row[col['Xlong']]) + 0.0005:.6f}"
        filler.append(row)
    write(data / "local/filler.csv", header, filler)
    h66, cd66 = table(shared_data / CD66)
    write(data / "local/cd66.csv", h66, cd66)
    write(data / "local/syndicat.csv", h66, cd66[:10])  # the same places, lower priority
    publisher(specs, "cd31_haute_garonne", "CD31", "223100017", "31", CD31)
    publisher(specs, "cd66_pyrenees_orientales", "CD66", "226600013", "66", "local/cd66.csv")
    publisher(specs, "syndicat", "Syndicat", "253800825", "66", "local/syndicat.csv")
    publisher(specs, "filler", "Filler", "223100017", "31", "local/filler.csv")
    env, store = site_env(request, root, data, shared_data, "gp_fedr")
    first = run_cli(env, "build", LAYER)
    assert first.returncode == 0, first.stderr
    v1 = store.current(LAYER)
    rows_v1 = store.read(LAYER)
    # The refresh's changes: a new top-priority publisher re-publishing two cd31 places (and a
    # new one 200 m from a third), and cd66 dropping five places the syndicat also publishes
    # (its copies are kept from now on) and its last one.
    publisher(specs, "aa_metropole", "Métropole", "243100518", "31", "local/aa.csv")
    new = list(cd31[2])
    new[col["id_local"]] = "AA-NEW"
    new[col["Xlong"]] = f"{float(new[col['Xlong']]) + 0.0025:.6f}"
    write(data / "local/aa.csv", header, [list(r) for r in cd31[:2]] + [new])
    write(data / "local/cd66.csv", h66, cd66[5:-1])
    refresh = run_cli(env, "refresh", LAYER)
    assert refresh.returncode == 0, refresh.stderr
    v2 = store.current(LAYER)
    rows_v2 = store.read(LAYER)
    report_v2 = json.loads((root / "var/reports" / LAYER / "latest.json").read_text())
    full = run_cli({**env, "GEOPUBLISH_FEDERATION_INCREMENTAL": "false"}, "build", LAYER)
    assert full.returncode == 0, full.stderr
    v3 = store.current(LAYER)
    yield {
        "store": store, "var": root / "var", "versions": (v1, v2, v3),
        "rows": (rows_v1, rows_v2, store.read(LAYER)), "report": report_v2,
        "full_report": json.loads((root / "var/reports" / LAYER / "latest.json").read_text()),
        "cd66": cd66, "cd31": cd31, "col": col,
    }  # fmt: skip
    if request.param == "postgis":
        drop_schema(env["GEOPUBLISH_POSTGIS_DSN"], env["GEOPUBLISH_POSTGIS_SCHEMA"])


def sorted_rows(gdf):
    out = gdf.assign(wkt=gdf.geometry.to_wkt()).drop(columns=gdf.geometry.name)
    return out.sort_values("id_federe").reset_index(drop=True)


def test_refresh_replaces_the_changed_partitions_only(site):
    path = site["report"]["build_path"]
    assert path["mode"] == "incremental" and path["base_version"] == site["versions"][0].version
    # aa_metropole new; cd66 changed; cd31 lost two places to aa's; syndicat got five back.
    assert path["replaced"] == ["aa_metropole", "cd31_haute_garonne",
                                "cd66_pyrenees_orientales", "syndicat"]  # fmt: skip
    outcomes = site["report"]["federation"]["publishers"]
    assert outcomes["filler"]["outcome"] == outcomes["syndicat"]["outcome"] == "unchanged"
    assert site["full_report"]["build_path"] == {
        "mode": "full", "reason": "GEOPUBLISH_FEDERATION_INCREMENTAL is off"
    }  # fmt: skip


def test_incremental_version_holds_the_rows_of_a_full_rebuild(site):
    _, v2, v3 = site["versions"]
    _, inc, whole = site["rows"]
    assert (v2.count, v2.bbox, v2.bbox_crs84) == (v3.count, v3.bbox, v3.bbox_crs84)
    assert len(inc) == v2.count
    got, want = sorted_rows(inc), sorted_rows(whole)
    assert list(got["id_federe"]) == list(want["id_federe"])
    assert got.equals(want)
    assert site["store"].hashes(LAYER, v2.version) == site["store"].hashes(LAYER, v3.version)
    assert v2.partitions["parts"] == v3.partitions["parts"]


def test_duplicates_with_unchanged_publishers_are_decided_again(site):
    v1_rows, inc, _ = site["rows"]
    cd31, cd66, col = site["cd31"], site["cd66"], site["col"]
    by = inc.groupby("publisher").size().to_dict()
    before = v1_rows.groupby("publisher").size().to_dict()
    assert "syndicat" not in before  # every syndicat place duplicated a cd66 one
    assert by["aa_metropole"] == 3 and by["syndicat"] == 5
    assert by["cd31_haute_garonne"] == before["cd31_haute_garonne"] - 2 == len(cd31) - 2
    assert by["cd66_pyrenees_orientales"] == len(cd66) - 6
    assert by["filler"] == before["filler"]
    gone = {f"{r[col['insee']]}-{r[col['id_local']]}" for r in cd31[:2]}
    kept = inc.set_index("id_federe")["publisher"]
    assert {kept[i] for i in gone} == {"aa_metropole"}
    pairs = site["report"]["federation"]["duplicates"]
    assert sum(p["dropped"]["publisher"] == "cd31_haute_garonne" for p in pairs) == 2
    assert sum(p["dropped"]["publisher"] == "syndicat" for p in pairs) == 5


def test_change_set_on_the_replaced_partitions_equals_the_full_diff(site):
    v1, v2, v3 = site["versions"]
    store = site["store"]
    feed = site["var"] / "history" / LAYER / "changes"
    incremental = json.loads((feed / "000002.json").read_text())
    full = diff(store.hashes(LAYER, v1.version), store.hashes(LAYER, v2.version))
    assert {k: incremental[k] for k in full} == full
    # added: aa's new place; removed: cd66's last; modified: cd66's others (fetched again),
    # the five the syndicat now holds, the two aa took from cd31.
    assert incremental["counts"] == {"added": 1, "modified": len(site["cd66"]) - 6 + 5 + 2,
                                     "removed": 1}  # fmt: skip
    rebuilt = json.loads((feed / "000003.json").read_text())  # the full rebuild: same rows
    assert rebuilt["counts"] == {"added": 0, "modified": 0, "removed": 0}


def test_refresh_falls_back_to_a_full_build_when_its_preconditions_fail():
    base = PublishedLayer(
        collection=LAYER, build_id="b1", built_at="2026-01-01T00:00:00Z", count=100,
        partitions={"column": "publisher", "layout": "L", "parts": {
            "a": {"fp": "1", "count": 90, "bounds": [0, 0, 1, 1]},
            "b": {"fp": "2", "count": 10, "bounds": [5, 5, 6, 6]},
        }},
    ).placed(version=3)  # fmt: skip

    class Spec:  # choose() reads only the privacy section of the spec
        privacy = None

    spec = Spec()
    same = {"a": "1", "b": "2"}
    counts = {"a": 90, "b": 10}
    assert parts.choose(spec, None, "L", same, counts).reason == "no version is served"
    assert parts.choose(spec, base, "M", same, counts).reason == "the layout changed"
    bare = base.model_copy(update={"partitions": None})
    assert parts.choose(spec, bare, "L", same, counts).mode == "full"
    many = parts.choose(spec, base, "L", {"a": "9", "b": "2"}, counts)
    assert many.mode == "full" and "1 of 2 publishers changed, 180 rows" in many.reason
    one = parts.choose(spec, base, "L", {"a": "1", "b": "7"}, {"a": 90, "b": 12})
    assert (one.mode, one.replaced, one.kept_bounds) == ("incremental", ["b"], (0, 0, 1, 1))
    gone = parts.choose(spec, base, "L", {"a": "1"}, {"a": 90})  # a publisher removed
    assert (gone.mode, gone.replaced) == ("incremental", ["b"])
    assert parts.choose(spec, base, "L", same, counts, allowed=False).mode == "full"


@pytest.mark.parametrize("suffix", ["gpkg", "geojson", "csv", "fgb", "parquet"])
def test_downloads_derived_from_the_served_ones_hold_the_full_rebuilds_rows(site, suffix):
    _, v2, v3 = site["versions"]
    folder = site["var"] / "downloads" / LAYER
    got, want = (folder / v.build_id / f"{LAYER}.{suffix}" for v in (v2, v3))
    if suffix == "csv":
        rows = [sorted(csv.DictReader(io.StringIO(p.read_text(encoding="utf-8"), newline="")),
                       key=lambda r: r["id_federe"]) for p in (got, want)]  # fmt: skip
        assert rows[0] == rows[1] and len(rows[0]) == v3.count
        return
    read = gpd.read_parquet if suffix == "parquet" else gpd.read_file
    frames = [sorted_rows(read(p)) for p in (got, want)]
    assert len(frames[0]) == v3.count
    assert frames[0].equals(frames[1])
    if suffix == "parquet":
        geo = [json.loads(pq.read_schema(p).metadata[b"geo"]) for p in (got, want)]
        assert geo[0] == geo[1]


@pytest.fixture(params=["gpkg", "postgis"])
def small(request, shared_data, tmp_path):
    """Two publishers, cd66's file writable; built once."""
    data = tmp_path / "data"
    (data / "local").mkdir(parents=True)
    for name in ("federation", "admin_reference_decoupage_administratif",
                 "admin_france_geojson_occitanie"):  # fmt: skip
        (data / name).symlink_to(shared_data / name)
    specs = tmp_path / "collections" / "federation"
    (specs / LAYER).mkdir(parents=True)
    shutil.copy(REPO / "collections/federation" / f"{LAYER}.yml", specs)
    h66, cd66 = table(shared_data / CD66)
    write(data / "local/cd66.csv", h66, cd66)
    publisher(specs, "cd31_haute_garonne", "CD31", "223100017", "31", CD31)
    publisher(specs, "cd66_pyrenees_orientales", "CD66", "226600013", "66", "local/cd66.csv")
    env, store = site_env(request, tmp_path, data, shared_data, "gp_fedk")
    result = run_cli(env, "build", LAYER)
    assert result.returncode == 0, result.stderr
    yield {"env": env, "store": store, "file": data / "local/cd66.csv", "h66": h66,
           "cd66": cd66, "var": tmp_path / "var"}  # fmt: skip
    if request.param == "postgis":
        drop_schema(env["GEOPUBLISH_POSTGIS_DSN"], env["GEOPUBLISH_POSTGIS_SCHEMA"])


@pytest.mark.parametrize("point", ["write", "changes"])
def test_a_killed_incremental_refresh_never_changes_what_is_served(small, point):
    store, col = small["store"], small["h66"].index("id_local")
    before = store.current(LAYER)
    ids_before = set(store.hashes(LAYER))
    write(small["file"], small["h66"], small["cd66"][3:])
    gone = {f"{r[small['h66'].index('insee')]}-{r[col]}" for r in small["cd66"][:3]}
    killed = run_cli({**small["env"], "GEOPUBLISH_KILL_AT": point}, "refresh", LAYER)
    assert killed.returncode == -9, killed.stderr[-2000:]
    assert set(store.hashes(LAYER)) in (ids_before, ids_before - gone)
    result = run_cli(small["env"], "refresh", LAYER)
    assert result.returncode == 0, result.stderr
    served = store.current(LAYER)
    assert set(store.hashes(LAYER)) == ids_before - gone
    assert served.count == before.count - 3
    feed = small["var"] / "history" / LAYER / "changes"
    latest = json.loads(sorted(feed.glob("*.json"))[-1].read_text())
    assert latest["version"] == served.version
    full = diff(store.hashes(LAYER, before.version), store.hashes(LAYER, served.version))
    assert {k: latest[k] for k in full} == full and full["removed"] == sorted(gone)
    leftovers = [p.name for p in (small["var"] / "store" / LAYER).glob(".staging*")]
    assert leftovers == [] and store.cleanup(LAYER) == []
