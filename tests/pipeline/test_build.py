"""The default catalogue builds from the real data with the figures its README promises."""

from __future__ import annotations

import json
import sqlite3

import pyogrio
import shapely


def report(built: dict, cid: str) -> dict:
    return json.loads((built["var"] / "reports" / cid / "latest.json").read_text())


def test_parks_report_counts_two_repaired_geometries(built):
    features = report(built, "parks_montpellier")["features"]
    assert features["read"] == 624
    assert features["repaired"] == 2
    assert features["written"] == 624


def test_parks_are_all_valid_once_stored(built):
    gdf = pyogrio.read_dataframe(
        built["var"] / "store/parks_montpellier/current.gpkg", layer="parks_montpellier"
    )
    assert len(gdf) == 624 and gdf.geometry.is_valid.all()
    assert set(gdf.geometry.geom_type) == {"MultiPolygon"}


def test_cycle_paths_report_counts_one_dropped_null_geometry(built):
    features = report(built, "cycle_paths_montpellier")["features"]
    assert features["read"] == 319
    assert features["dropped"] == {"null geometry": 1}
    assert features["written"] == 318


def test_plu_attributes_keep_their_accents(shared_data, built):
    raw = pyogrio.read_dataframe(shared_data / "plu_30014_lambert93/30014_ZONE_URBA_20171013.shp")
    gdf = pyogrio.read_dataframe(
        built["var"] / "store/plu_30014_zoning/current.gpkg", layer="plu_30014_zoning"
    )
    assert sorted(gdf.libelong.dropna()) == sorted(raw.LIBELONG.dropna())
    assert "Zone urbaine soumise à des prescriptions architecturales particulières" in set(
        gdf.libelong
    )
    assert set(gdf.datvalid) == {"2017-10-13"}


def test_communes_merge_every_shared_file_with_insee_ids(shared_data, built):
    expected = set()
    for path in (shared_data / "admin_france_geojson_occitanie").glob("communes-*.geojson"):
        expected |= {f["properties"]["code"] for f in json.loads(path.read_text())["features"]}
    gdf = pyogrio.read_dataframe(built["var"] / "store/communes/current.gpkg", layer="communes")
    assert len(gdf) == len(expected) == 2434
    assert set(gdf.code) == expected
    assert gdf.set_index("code").loc["31555", "nom"] == "Toulouse"


def test_carpooling_places_are_restricted_to_occitanie(shared_data, built):
    import csv

    occitanie = {"09", "11", "12", "30", "31", "32", "34", "46", "48", "65", "66", "81", "82"}
    with open(shared_data / "bnlc_lieux_covoiturage/bnlc-2024-07-30.csv", encoding="utf-8") as f:
        rows = [r for r in csv.DictReader(f) if r["insee"][:2] in occitanie]
    gdf = pyogrio.read_dataframe(
        built["var"] / "store/carpooling_places/current.gpkg", layer="carpooling_places"
    )
    assert len(gdf) == len(rows) == 1833
    first = gdf.set_index("id_lieu").loc[rows[0]["id_lieu"]]
    assert abs(first.geometry.x - float(rows[0]["Xlong"])) < 1e-9
    features = report(built, "carpooling_places")["features"]
    assert features["filtered"] == 15086 - 1833


def test_reports_have_bbox_fingerprint_duration_and_gates(built):
    data = report(built, "communes")
    assert data["outcome"] == "published"
    minx, miny, maxx, maxy = data["bbox_crs84"]
    assert 0.4 < minx < maxx < 4.9 and 42.3 < miny < maxy < 45.0
    assert len(data["source"]["fingerprint"]["sha256"]) == 64
    assert data["duration_s"] > 0
    assert all(g["ok"] for g in data["gates"])


def test_store_has_rtree_index_and_unique_id_index(built):
    path = built["var"] / "store/communes/current.gpkg"
    with sqlite3.connect(path) as con:
        ext = con.execute("SELECT extension_name FROM gpkg_extensions").fetchall()
        assert ("gpkg_rtree_index",) in ext
        assert con.execute("SELECT count(*) FROM rtree_communes_geom").fetchone()[0] == 2434
        indexes = con.execute("PRAGMA index_list('communes')").fetchall()
        assert any(i[2] == 1 for i in indexes)  # unique
    con.close()


def test_two_builds_give_identical_ids_and_features(built, tmp_path):
    from gpsupport import run_cli

    link = built["var"] / "store/parks_montpellier/current.gpkg"
    old = link.resolve()
    before = pyogrio.read_dataframe(old, layer="parks_montpellier")
    result = run_cli(built["env"], "build", "parks_montpellier")
    assert result.returncode == 0, result.stderr
    assert link.resolve() != old  # a new version was published
    after = pyogrio.read_dataframe(link.resolve(), layer="parks_montpellier")
    assert list(before.parc_id) == list(after.parc_id)
    assert before.drop(columns="geometry").equals(after.drop(columns="geometry"))
    assert all(shapely.equals_exact(before.geometry.values, after.geometry.values, 0))


def test_latin1_csv_with_dbf_headers_and_decimal_commas(shared_data, built):
    raw = (
        (
            shared_data / "montpellier_opendata/VilleMTP_MTP_ParkingOuvrage/"
            "VilleMTP_MTP_ParkingOuv.csv"
        )
        .read_bytes()
        .decode("latin-1")
        .splitlines()
    )
    first = raw[1].split(",")
    gdf = layer_frame(built, "car_parks_montpellier")
    assert len(gdf) == len(raw) - 1 == 22
    row = gdf.set_index("id").loc["7-Foch Préfecture"]
    assert row["places"] == 685 and row["domanialite"] == "Public"
    arc = gdf.set_index("parking_id").loc[int(first[0])]
    x = float(raw[1].split('"')[1].replace(",", "."))
    assert abs(arc.geometry.x - x) < 1e-6  # EPSG:4171 -> CRS84 keeps lon/lat to the micro-degree
    assert arc["debut_contrat"] == "2008-01-01"  # "01/01/08"


def test_repeated_source_ids_are_an_error_not_an_overwrite(shared_data, tmp_path):
    import yaml
    from gpsupport import REPO, cli_env, run_cli

    spec = yaml.safe_load((REPO / "collections/transport/car_parks_montpellier.yml").read_text())
    spec["feature_id"] = {"fields": ["parking_id"]}
    folder = tmp_path / "collections/t"
    folder.mkdir(parents=True)
    (folder / "parks.yml").write_text(yaml.safe_dump(spec, allow_unicode=True))
    env = cli_env(
        tmp_path / "var", shared_data, GEOPUBLISH_COLLECTIONS_DIR=str(tmp_path / "collections")
    )
    result = run_cli(env, "build")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "error: collection 'parks': feature id '11' occurs more than once (5 repeated id(s)) in "
        "field(s) ['parking_id']; ids must be unique: choose other feature_id.fields or declare "
        "`dedupe`"
    ]
    assert not (tmp_path / "var/store/parks/current.gpkg").exists()


def layer_frame(built: dict, cid: str):
    return pyogrio.read_dataframe(built["var"] / f"store/{cid}/current.gpkg", layer=cid)
