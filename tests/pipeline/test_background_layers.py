"""Cartographic backgrounds: derived boundaries, generalised coverages, raster coverages."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyogrio
import pyproj
import pytest
import rasterio
import requests
import shapely
import yaml
from gpsupport import REPO, cli_env, run_cli
from rio_cogeo.cogeo import cog_validate
from shapely.strtree import STRtree

DEM = "raster_cevennes_srtm_dem/srtm_cevennes_utm31n_dem.tif"


def layer(built: dict, cid: str):
    return pyogrio.read_dataframe(built["var"] / f"store/{cid}/current.gpkg", layer=cid)


def report(built: dict, cid: str) -> dict:
    return json.loads((built["var"] / "reports" / cid / "latest.json").read_text())


def test_epci_are_built_when_all_members_are_present(shared_data, built):
    epcis = json.loads(
        (shared_data / "admin_reference_decoupage_administratif/epci.json").read_text()
    )
    ref = json.loads(
        (shared_data / "admin_reference_decoupage_administratif/communes.json").read_text()
    )
    current = {c["code"] for c in ref if c["type"] == "commune-actuelle"}
    to_current = {c["code"]: c.get("chefLieu") for c in ref if c["type"] != "commune-actuelle"}
    for c in ref:
        for old in c.get("anciensCodes", []) if c["type"] == "commune-actuelle" else []:
            to_current.setdefault(old, c["code"])
    shared = set(layer(built, "communes").code)
    placed = {code if code in current else to_current.get(code) for code in shared} - {None}
    expected = {e["code"] for e in epcis if {m["code"] for m in e["membres"]} <= placed}
    got = layer(built, "epci")
    assert set(got.code) == expected and len(expected) == 83
    assert report(built, "epci")["derivation"]["unplaced_communes"] == []


def test_epci_area_equals_the_sum_of_its_members(shared_data, built):
    epci = layer(built, "epci").to_crs(2154).set_index("code")
    communes = layer(built, "communes").to_crs(2154).set_index("code")
    epcis = json.loads(
        (shared_data / "admin_reference_decoupage_administratif/epci.json").read_text()
    )
    toulouse = next(e for e in epcis if e["nom"] == "Toulouse Métropole")
    members = [m["code"] for m in toulouse["membres"]]
    total = communes.loc[members].area.sum()
    assert epci.loc[toulouse["code"]].geometry.area == pytest.approx(total, rel=1e-6)
    assert epci.loc[toulouse["code"], "members"] == len(members) == 37


def test_departements_from_communes_match_the_published_layer(built):
    per = report(built, "departements_from_communes")["derivation"]["reference"]["per_departement"]
    assert len(per) == 7
    assert all(v["sym_diff_pct"] < 1.0 for v in per.values())


def overlap_and_gap(geoms: np.ndarray) -> tuple[float, float]:
    tree = STRtree(geoms)
    overlap = 0.0
    for i, j in zip(*tree.query(geoms, predicate="intersects"), strict=True):
        if i < j:
            overlap += shapely.intersection(geoms[i], geoms[j]).area
    union = shapely.union_all(geoms)
    holes = (
        shapely.union_all(
            [shapely.Polygon(r) for p in shapely.get_parts(union) for r in p.interiors]
        )
        if union.geom_type
        else None
    )
    return overlap, 0.0 if holes is None or holes.is_empty else holes.area


@pytest.mark.parametrize("cid", ["communes_250k", "communes_1m"])
def test_generalised_communes_have_no_gaps_or_overlaps(built, cid):
    source = layer(built, "communes").to_crs(2154).geometry.values
    simple = layer(built, cid).to_crs(2154).geometry.values
    assert len(simple) == len(source)
    overlap, gap = overlap_and_gap(simple)
    base_overlap, base_gap = overlap_and_gap(source)
    total = shapely.union_all(source).area
    assert overlap / total < 1e-6
    assert (gap - base_gap) / total < 1e-6  # only the input's own hole (Llívia) remains


def test_generalisation_reduces_vertices(built):
    before = shapely.get_num_coordinates(layer(built, "communes").geometry.values).sum()
    at_1m = shapely.get_num_coordinates(layer(built, "communes_1m").geometry.values).sum()
    at_250k = shapely.get_num_coordinates(layer(built, "communes_250k").geometry.values).sum()
    assert before / at_1m > 6 and before / at_250k > 1.3


def test_dem_is_a_valid_cog_in_lambert93(built):
    path = built["var"] / "store/dem_cevennes/current.tif"
    valid, errors, _ = cog_validate(path, quiet=True)
    assert valid, errors
    with rasterio.open(path) as src:
        assert src.crs.to_epsg() == 2154 and src.nodata is not None


def test_coverage_bbox_request_matches_request_and_source(shared_data, api):
    bbox = (3.6, 44.0, 3.8, 44.2)
    url = f"{api}/collections/dem_cevennes/coverage"
    response = requests.get(
        url, params={"bbox": ",".join(map(str, bbox)), "f": "GTiff"}, timeout=60
    )
    assert response.status_code == 200
    with rasterio.MemoryFile(response.content) as mem, mem.open() as got:
        assert got.crs.to_epsg() == 2154
        to_l93 = pyproj.Transformer.from_crs("OGC:CRS84", "EPSG:2154", always_xy=True)
        x0, y0 = to_l93.transform(bbox[0], bbox[1])
        x1, y1 = to_l93.transform(bbox[2], bbox[3])
        res = got.res[0]
        assert abs(got.bounds.left - x0) <= 2 * res and abs(got.bounds.top - y1) <= 2 * res
        assert abs(got.bounds.right - x1) <= 2 * res and abs(got.bounds.bottom - y0) <= 2 * res
        rows, cols = np.mgrid[10 : got.height - 10 : 40, 10 : got.width - 10 : 40]
        xs, ys = rasterio.transform.xy(got.transform, rows.ravel(), cols.ravel())
        served = got.read(1)[rows.ravel(), cols.ravel()].astype(float)
    with rasterio.open(shared_data / DEM) as src:
        to_utm = pyproj.Transformer.from_crs("EPSG:2154", src.crs.to_wkt(), always_xy=True)
        ux, uy = to_utm.transform(xs, ys)
        original = np.array([v[0] for v in src.sample(zip(ux, uy, strict=True))], dtype=float)
    assert np.median(np.abs(served - original)) < 5


def test_coverage_schema_describes_the_band(api):
    schema = requests.get(
        f"{api}/collections/dem_cevennes/schema", params={"f": "json"}, timeout=30
    ).json()
    assert schema["properties"]["1"]["type"] == "integer"


def test_raster_without_georeferencing_fails_and_publishes_nothing(shared_data, tmp_path):
    bad = tmp_path / "nogeo.tif"
    with rasterio.open(shared_data / DEM) as src:
        data = src.read(1)
    with rasterio.open(
        bad,
        "w",
        driver="GTiff",
        width=data.shape[1],
        height=data.shape[0],
        count=1,
        dtype=data.dtype,
    ) as dst:
        dst.write(data, 1)
    spec = yaml.safe_load((REPO / "collections/backgrounds/dem_cevennes.yml").read_text())
    spec["source"]["parts"] = [{"path": str(bad)}]
    folder = tmp_path / "collections/backgrounds"
    folder.mkdir(parents=True)
    (folder / "dem.yml").write_text(yaml.safe_dump(spec, allow_unicode=True))
    env = cli_env(
        tmp_path / "var", shared_data, GEOPUBLISH_COLLECTIONS_DIR=str(tmp_path / "collections")
    )
    result = run_cli(env, "build", "dem")
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "collection 'dem'" in lines[0] and "georeferencing" in lines[0]
    assert not (tmp_path / "var/store/dem/current.tif").exists()
    spec["source"]["parts"] = [{"path": DEM}]
    spec["source"]["raster"]["expect_crs"] = ["EPSG:2154"]
    (folder / "dem.yml").write_text(yaml.safe_dump(spec, allow_unicode=True))
    result = run_cli(env, "build", "dem")
    assert result.returncode == 1 and "EPSG:32631" in result.stderr.strip().splitlines()[0]
    assert not Path(tmp_path / "var/store/dem/current.tif").exists()


def test_coverage_schema_names_the_band_with_unit_and_nodata(api):
    schema = requests.get(
        f"{api}/collections/dem_cevennes/schema", params={"f": "json"}, timeout=30
    ).json()
    band = schema["properties"]["1"]
    assert band["title"] == "elevation" and band["x-ogc-unit"] == "m"
    assert band["nodata"] == -32768


def test_coverage_schema_is_enriched_when_gzipped_too(api):
    response = requests.get(
        f"{api}/collections/dem_cevennes/schema",
        params={"f": "json"},
        headers={"Accept-Encoding": "gzip"},
        timeout=30,
    )
    assert response.json()["properties"]["1"]["title"] == "elevation"


@pytest.mark.parametrize("cid", ["communes_250k", "communes_1m"])
def test_generalised_collection_states_its_tolerance_and_source(api, cid):
    spec = yaml.safe_load((REPO / f"collections/admin/{cid}.yml").read_text(encoding="utf-8"))
    tolerance = spec["source"]["derived"]["tolerance"]
    doc = requests.get(f"{api}/collections/{cid}", params={"f": "json"}, timeout=30).json()
    assert f"tolérance {tolerance:g} m en EPSG:2154" in doc["description"]
    assert f"{tolerance:g}" not in spec["description"]  # written by the build, not by hand
    sources = [link for link in doc["links"] if link["href"] == f"{api}/collections/communes"]
    assert [link["rel"] for link in sources] == ["related"]


@pytest.mark.parametrize(
    ("cid", "how"),
    [
        ("hillshade_cevennes", "« dem_cevennes » : ombrage, azimut 315°, hauteur du soleil 45°"),
        ("epci", "« communes » par fusion des communes de chaque EPCI"),
        (
            "departements_from_communes",
            "« communes » par fusion des communes de chaque département",
        ),
    ],
)
def test_derived_collection_states_how_it_was_made(api, cid, how):
    doc = requests.get(f"{api}/collections/{cid}", params={"f": "json"}, timeout=30)
    assert f"Dérivée de la collection {how}" in doc.json()["description"]
