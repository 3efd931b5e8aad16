"""The API answers the same over both stores; a PostGIS layer survives rebuilds and kills."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import geopandas as gpd
import pytest
import requests
import shapely
import yaml
from gpsupport import REPO, Server, cli_env, run_cli
from pgsupport import drop_schema, postgis_dsn  # noqa: F401

PARKS = "montpellier_opendata/VilleMTP_MTP_EspacesVertsSurface/VilleMTP_MTP_EspacesVertsSurface.zip"
BBOX = (3.86, 43.6, 3.89, 43.62)


def parks_spec(data: Path, parts: int = 1) -> dict:
    spec = yaml.safe_load((REPO / "collections/environment/parks_montpellier.yml").read_text())
    spec["source"]["parts"] = [{"path": str(data / PARKS)}] * parts
    spec["crs"] = {"storage": "OGC:CRS84", "offered": ["OGC:CRS84", "EPSG:2154"]}
    if parts > 1:
        spec["dedupe"] = {"fields": ["parc_id"]}
    return spec


def make_site(root: Path, data: Path, store: str, dsn: str | None) -> dict:
    (root / "collections/test").mkdir(parents=True)
    (root / "collections/test/parks.yml").write_text(yaml.safe_dump(parks_spec(data)))
    extra = {"GEOPUBLISH_COLLECTIONS_DIR": str(root / "collections"), "GEOPUBLISH_STORE": store}
    schema = None
    if store == "postgis":
        schema = f"gp_api_{os.getpid()}_{root.name[-6:]}".replace("-", "_").lower()
        extra.update(GEOPUBLISH_POSTGIS_DSN=dsn, GEOPUBLISH_POSTGIS_SCHEMA=schema)
    env = cli_env(root / "var", data, **extra)
    result = run_cli(env, "build")
    assert result.returncode == 0, result.stderr
    return {"root": root, "env": env, "schema": schema}


@pytest.fixture(scope="module", params=["gpkg", "postgis"])
def site(request, shared_data, tmp_path_factory):
    """The parks layer built on one store and served by 2 workers."""
    dsn = request.getfixturevalue("postgis_dsn") if request.param == "postgis" else None
    site = make_site(tmp_path_factory.mktemp(request.param), shared_data, request.param, dsn)
    server = Server(site["env"])
    yield {**site, "url": f"{server.url}/collections/parks/items", "kind": request.param}
    server.stop()
    if site["schema"]:
        drop_schema(dsn, site["schema"])


@pytest.fixture(scope="module")
def parks(shared_data) -> gpd.GeoDataFrame:
    """The source read with geopandas, independently of geopublish."""
    gdf = gpd.read_file(f"zip://{shared_data / PARKS}")
    gdf["geometry"] = shapely.make_valid(gdf.geometry.values)
    return gdf


def get(url: str, **params: object) -> requests.Response:
    return requests.get(url, params={"f": "json", **params}, timeout=60)


def test_number_matched_is_the_source_count(site, parks):
    body = get(site["url"], limit=1).json()
    assert body["numberMatched"] == len(parks) and body["numberReturned"] == 1


def test_bbox_returns_exactly_the_parks_geopandas_finds(site, parks):
    body = get(site["url"], bbox=",".join(map(str, BBOX)), limit=1000).json()
    crs84 = parks.to_crs("OGC:CRS84")
    expected = set(crs84[crs84.intersects(shapely.box(*BBOX))]["PARCJARD_I"].astype(int))
    assert {f["id"] for f in body["features"]} == expected
    assert body["numberMatched"] == len(expected) > 5


def test_item_by_id_has_the_source_attributes_and_404_otherwise(site, parks):
    row = parks.iloc[17]
    feature = get(f"{site['url']}/{int(row['PARCJARD_I'])}").json()
    assert feature["id"] == int(row["PARCJARD_I"])
    assert feature["properties"]["nom"] == row["LIBEL"]
    assert feature["properties"]["surface_m2"] == pytest.approx(row["AREA"])
    assert get(f"{site['url']}/999999999").status_code == 404
    assert get(f"{site['url']}/not-a-number").status_code == 404


def test_crs_lambert93_gives_back_the_source_coordinates(site, parks):
    row = parks.iloc[3]
    response = get(
        f"{site['url']}/{int(row['PARCJARD_I'])}", crs="http://www.opengis.net/def/crs/EPSG/0/2154"
    )
    assert response.status_code == 200
    assert "EPSG/0/2154" in response.headers["Content-Crs"]
    got = shapely.geometry.shape(response.json()["geometry"])
    assert got.symmetric_difference(row.geometry).area < 1.0  # m², after two reprojections


def test_pages_cover_every_feature_once_in_a_stable_order(site, parks):
    ids = []
    for offset in range(0, len(parks), 97):
        ids += [
            f["id"]
            for f in get(site["url"], limit=97, offset=offset, skipGeometry="true").json()[
                "features"
            ]
        ]
    assert len(ids) == len(set(ids)) == len(parks)
    assert set(ids) == set(parks["PARCJARD_I"].astype(int))


def test_sortby_and_cql2_filter_match_geopandas(site, parks):
    body = get(
        site["url"], filter="surface_m2 > 50000 AND classe = 'EV'", sortby="-surface_m2", limit=500
    ).json()
    big = parks[(parks["AREA"] > 50000) & (parks["CLASS"] == "EV")].sort_values(
        "AREA", ascending=False
    )
    assert [f["id"] for f in body["features"]] == list(big["PARCJARD_I"].astype(int))
    assert body["numberMatched"] == len(big) > 0


def test_spatial_and_like_filters_match_geopandas(site, parks):
    crs84 = parks.to_crs("OGC:CRS84")
    area = shapely.box(*BBOX)
    text = f"S_INTERSECTS(geometry, {area.wkt}) AND nom LIKE 'Parc%'"
    body = get(site["url"], filter=text, limit=1000).json()
    hit = crs84[crs84.intersects(area) & crs84["LIBEL"].fillna("").str.startswith("Parc")]
    assert {f["id"] for f in body["features"]} == set(hit["PARCJARD_I"].astype(int))
    assert body["numberMatched"] == len(hit) > 0


def test_unsupported_parameters_are_400_with_a_reason(site):
    for params in (
        {"sortby": "nope"},
        {"q": "parc"},
        {"filter": "nope = 1"},
        {"surface_m2": "big"},
    ):
        response = get(site["url"], **params)
        assert response.status_code == 400, params
        assert response.json()["description"], params


def test_both_stores_answer_identically(shared_data, tmp_path, postgis_dsn):  # noqa: F811
    sites = [make_site(tmp_path / k, shared_data, k, postgis_dsn) for k in ("gpkg", "postgis")]
    servers = [Server(s["env"], workers=1) for s in sites]
    try:
        for params in (
            {"limit": 50, "offset": 20},
            {"bbox": ",".join(map(str, BBOX))},
            {"sortby": "nom,-parc_id", "limit": 30},
        ):
            bodies = [get(f"{s.url}/collections/parks/items", **params).json() for s in servers]
            assert bodies[0]["features"] == bodies[1]["features"], params
            assert bodies[0]["numberMatched"] == bodies[1]["numberMatched"]
    finally:
        for server in servers:
            server.stop()
        drop_schema(postgis_dsn, sites[1]["schema"])


@pytest.fixture
def pg_site(shared_data, tmp_path, postgis_dsn):  # noqa: F811
    site = make_site(tmp_path, shared_data, "postgis", postgis_dsn)
    server = Server(site["env"], workers=2)
    yield {**site, "url": f"{server.url}/collections/parks/items"}
    server.stop()
    drop_schema(postgis_dsn, site["schema"])


def snapshot(site: dict) -> str:
    body = get(site["url"], limit=10000).json()
    return json.dumps(body["features"], sort_keys=True)


def test_reader_sees_no_error_and_no_partial_layer_during_ten_rebuilds(pg_site, parks):
    """Builds alternate between every park and the 'EV' class only: two complete layers."""
    complete = {
        (len(parks), len(parks)),
        ((parks["CLASS"] == "EV").sum(), (parks["CLASS"] == "EV").sum()),
    }
    seen: list[tuple[int, int, int]] = []
    stop = threading.Event()

    def hammer() -> None:
        while not stop.is_set():
            response = get(pg_site["url"], limit=10000, skipGeometry="true")
            body = response.json() if response.status_code == 200 else {}
            seen.append(
                (response.status_code, body.get("numberMatched", -1), len(body.get("features", [])))
            )

    readers = [threading.Thread(target=hammer) for _ in range(2)]
    for reader in readers:
        reader.start()
    data = Path(pg_site["env"]["GEOPUBLISH_SOURCE_ROOT"])
    try:
        for k in range(10):
            spec = parks_spec(data)
            if k % 2 == 0:
                spec["source"]["where"] = "CLASS == 'EV'"
            (pg_site["root"] / "collections/test/parks.yml").write_text(yaml.safe_dump(spec))
            result = run_cli(pg_site["env"], "build", "parks")
            assert result.returncode == 0, result.stderr
    finally:
        stop.set()
        for reader in readers:
            reader.join()
    assert len(seen) > 20
    assert {s for s, _, _ in seen} == {200}
    assert {(m, r) for _, m, r in seen} == complete  # both versions seen, nothing in between


def test_killed_loader_leaves_published_table_and_next_build_cleans_up(pg_site, postgis_dsn):  # noqa: F811
    import psycopg

    before = snapshot(pg_site)
    data = Path(pg_site["env"]["GEOPUBLISH_SOURCE_ROOT"])
    (pg_site["root"] / "collections/test/parks.yml").write_text(
        yaml.safe_dump(parks_spec(data, 40))
    )
    env = {**pg_site["env"], "GEOPUBLISH_BATCH_SIZE": "20"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "geopublish", "build", "parks"],
        env=env,
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    query = "SELECT count(*) FROM pg_tables WHERE schemaname = %s AND tablename LIKE 'parks\\_\\_stage\\_%%'"
    with psycopg.connect(postgis_dsn, autocommit=True) as con:
        deadline = time.monotonic() + 120
        while (
            con.execute(query, (pg_site["schema"],)).fetchone()[0] == 0
            and time.monotonic() < deadline
        ):
            time.sleep(0.02)
        assert con.execute(query, (pg_site["schema"],)).fetchone()[0] == 1, (
            "build never started loading"
        )
        time.sleep(0.5)
        os.kill(proc.pid, signal.SIGKILL)
        assert proc.wait() == -signal.SIGKILL
        assert snapshot(pg_site) == before
        (pg_site["root"] / "collections/test/parks.yml").write_text(
            yaml.safe_dump(parks_spec(data))
        )
        time.sleep(0.5)  # the server notices the dead session and releases its lock
        result = run_cli(pg_site["env"], "build", "parks")
        assert result.returncode == 0, result.stderr
        assert con.execute(query, (pg_site["schema"],)).fetchone()[0] == 0
    report = json.loads((pg_site["root"] / "var/reports/parks/latest.json").read_text())
    assert "removed 1 leftover staging file(s)" in report["notes"]
    assert snapshot(pg_site) == before


@pytest.fixture(params=["gpkg", "postgis"])
def one_worker(request, shared_data, tmp_path):
    """The parks layer on one store, served by one worker: it reuses what it read last."""
    dsn = request.getfixturevalue("postgis_dsn") if request.param == "postgis" else None
    site = make_site(tmp_path, shared_data, request.param, dsn)
    server = Server(site["env"], workers=1)
    yield {**site, "url": f"{server.url}/collections/parks/items"}
    server.stop()
    if site["schema"]:
        drop_schema(dsn, site["schema"])


def test_a_rebuild_and_a_rollback_show_at_the_very_next_request(one_worker, shared_data):
    url = one_worker["url"]
    every = get(url, limit=10000, skipGeometry="true").json()["features"]
    ilot = next(f["id"] for f in every if f["properties"]["classe"] != "EV")
    green = next(f["id"] for f in every if f["properties"]["classe"] == "EV")
    greens = sum(f["properties"]["classe"] == "EV" for f in every)

    def state() -> tuple:
        page, item = get(url, limit=5), get(f"{url}/{green}")
        gone = get(f"{url}/{ilot}").status_code
        return page.json()["numberMatched"], gone, page.headers["ETag"], item.headers["ETag"]

    for _ in range(3):  # the worker's last record is this version's
        first = state()
    assert first[:2] == (len(every), 200)
    spec = parks_spec(shared_data)
    spec["source"]["where"] = "CLASS == 'EV'"
    (one_worker["root"] / "collections/test/parks.yml").write_text(yaml.safe_dump(spec))
    assert run_cli(one_worker["env"], "build", "parks").returncode == 0

    rebuilt = state()
    assert rebuilt[:2] == (greens, 404)
    assert rebuilt[2] != first[2] and rebuilt[3] != first[3]
    stale = {"If-None-Match": first[2]}
    assert requests.get(url, params={"f": "json", "limit": 5}, headers=stale).status_code == 200
    html = requests.get(f"{url}/{ilot}", params={"f": "html"}, timeout=60)
    assert html.status_code == 404

    back = run_cli(one_worker["env"], "rollback", "parks")
    assert back.returncode == 0, back.stderr
    assert state() == first
    assert requests.get(f"{url}/{ilot}", params={"f": "html"}, timeout=60).status_code == 200
