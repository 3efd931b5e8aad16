"""Derived boundary layers on the real 2018 Occitanie communes and the COG 2026 tables."""

from __future__ import annotations

import json
import re
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from geopublish.errors import NormaliseError
from geopublish.normalise.boundaries import (
    derive_departements,
    derive_epci,
    reconcile_codes,
    simplify_coverage,
)
from geopublish.normalise.boundaries.dissolve import departement_code

pytestmark = pytest.mark.data
TOULOUSE_METROPOLE = "Toulouse Métropole"


@pytest.fixture(scope="module")
def admin(shared_data: Path) -> Path:
    return shared_data / "admin_france_geojson_occitanie"


@pytest.fixture(scope="module")
def ref(shared_data: Path) -> Path:
    return shared_data / "admin_reference_decoupage_administratif"


@pytest.fixture(scope="module")
def communes(admin: Path) -> gpd.GeoDataFrame:
    files = sorted(admin.glob("communes-*.geojson"))
    return pd.concat([gpd.read_file(f) for f in files], ignore_index=True)


@pytest.fixture(scope="module")
def communes_l93(communes: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    return communes.to_crs(2154)


@pytest.fixture(scope="module")
def cog(ref: Path) -> list[dict]:
    return json.loads((ref / "communes.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def epcis(ref: Path) -> list[dict]:
    return json.loads((ref / "epci.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def current_of(communes: gpd.GeoDataFrame, cog: list[dict]) -> dict[str, str]:
    """Old -> 2026 code, computed by hand: actuelle, then chefLieu, then anciensCodes."""
    actuelle = {r["code"] for r in cog if r["type"] == "commune-actuelle"}
    chef = {r["code"]: r["chefLieu"] for r in cog if "chefLieu" in r}
    former = {old: r["code"] for r in cog for old in r.get("anciensCodes", [])}
    out = {}
    for code in communes["code"]:
        new = code if code in actuelle else chef.get(code, former.get(code))
        if new is not None:
            out[code] = new
    return out


def test_reconcile_places_every_2018_code_and_remaps_to_current(communes, ref, cog, current_of):
    codes = communes["code"].tolist()
    mapping, report = reconcile_codes(codes, ref / "communes.json", collection="communes")
    actuelle = {r["code"] for r in cog if r["type"] == "commune-actuelle"}
    records = {r["code"] for r in cog}
    anywhere = records | {old for r in cog for old in r.get("anciensCodes", [])}

    assert report["unchanged"] + len(report["remapped"]) + len(report["unplaced"]) == 2434
    assert report["unplaced"] == sorted(set(codes) - anywhere) == []
    assert len(report["remapped"]) == 21 == len(set(codes) - actuelle)
    assert set(report["remapped"].values()) <= actuelle
    assert mapping == current_of
    # the two 2018 codes the README says no longer exist in any record form
    gone = sorted(set(codes) - records)
    assert len(gone) == 2 and report["via_former_code"] == gone
    assert report["merged"]["48127"] == ["48057", "48127", "48133", "48189", "48197"]


def test_reconcile_lists_codes_found_nowhere_as_unplaced(ref):
    mapping, report = reconcile_codes(
        ["31555", "99999", "13201"], ref / "communes.json", collection="communes"
    )
    assert report["unplaced"] == ["99999"]
    assert mapping == {"31555": "31555", "13201": "13055"}


def test_reconcile_unreadable_reference_names_collection_and_file(tmp_path):
    bad = tmp_path / "communes.json"
    bad.write_text("{not json", encoding="utf-8")
    with pytest.raises(NormaliseError, match=r"collection 'epci'.*communes\.json.*etalab"):
        reconcile_codes(["31555"], bad, collection="epci")


def test_epci_built_exactly_for_those_with_every_member_present(communes, ref, epcis, current_of):
    built, report = derive_epci(communes, ref / "epci.json", ref / "communes.json", collection="e")
    present = set(current_of.values())
    touched = [e for e in epcis if {m["code"] for m in e["membres"]} & present]
    complete = {e["code"] for e in touched if {m["code"] for m in e["membres"]} <= present}

    assert len(touched) == 89
    assert set(built["code"]) == complete and len(built) == 83
    assert report["partial_skipped"]["count"] == 89 - 83
    assert set(report["partial_skipped"]["codes"]) == {e["code"] for e in touched} - complete
    assert report["unplaced_communes"] == []
    assert built["complete"].all() and (built["members"] == built["members_present"]).all()
    assert set(built.geom_type) == {"MultiPolygon"} and built.crs == communes.crs
    assert built.columns.tolist() == [
        "code", "nom", "type", "siren", "population",
        "members", "members_present", "complete", "geometry",
    ]  # fmt: skip


def test_epci_union_area_equals_sum_of_member_areas(communes, communes_l93, ref, epcis, current_of):
    built, _ = derive_epci(communes, ref / "epci.json", ref / "communes.json", collection="e")
    membres = {e["code"]: {m["code"] for m in e["membres"]} for e in epcis}
    current = communes_l93["code"].map(current_of)
    areas = built.to_crs(2154).set_index("code").area
    for code, area in areas.items():
        members_area = communes_l93.area[current.isin(membres[code])].sum()
        assert area == pytest.approx(members_area, rel=1e-4), code


def test_epci_toulouse_metropole_has_all_its_members(communes, ref, epcis):
    (tm,) = [e for e in epcis if e["nom"] == TOULOUSE_METROPOLE]
    built, _ = derive_epci(communes, ref / "epci.json", ref / "communes.json", collection="e")
    row = built.set_index("code").loc[tm["code"]]
    assert (row["siren"], row["type"], row["population"]) == (
        tm["code"],
        "METRO",
        tm["populationTotale"],
    )
    assert row["members"] == row["members_present"] == len(tm["membres"]) == 37


def test_epci_partial_ones_built_on_request_and_flagged(communes, ref):
    paths = (ref / "epci.json", ref / "communes.json")
    _, default = derive_epci(communes, *paths, collection="e")
    built, report = derive_epci(communes, *paths, collection="e", complete_only=False)
    partial = built[~built["complete"]]
    assert len(built) == 89 and report["partial_skipped"]["count"] == 0
    assert partial["code"].tolist() == default["partial_skipped"]["codes"]
    assert (partial["members_present"] < partial["members"]).all()


def test_epci_missing_code_field_names_field_and_alternatives(communes, ref):
    with pytest.raises(NormaliseError, match=r"collection 'e': field 'insee' missing.*'code'"):
        derive_epci(
            communes, ref / "epci.json", ref / "communes.json", code_field="insee", collection="e"
        )


def _dept_reference(admin: Path) -> gpd.GeoDataFrame:
    return gpd.read_file(admin / "departements-occitanie.geojson")


def test_departements_dissolved_match_reference_within_one_percent(communes, admin):
    reference = _dept_reference(admin)
    built, report = derive_departements(communes, collection="d", reference=reference)
    expected = communes["code"].str[:2].value_counts()

    assert report["departements"] == len(built) == 7
    assert dict(zip(built["code"], built["communes"], strict=True)) == expected.to_dict()
    assert built.set_index("code").loc["31", "nom"] == "Haute-Garonne"
    per = report["reference"]["per_departement"]
    ref_l93 = reference.set_index("code").to_crs(2154).geometry
    com_l93 = communes.to_crs(2154)
    for code in expected.index:
        mine = shapely.union_all(com_l93.geometry[com_l93["code"].str[:2] == code].values)
        diff = mine.symmetric_difference(ref_l93[code]).area
        assert per[code]["sym_diff_km2"] == pytest.approx(diff / 1e6, abs=1e-3)
        assert per[code]["sym_diff_pct"] == pytest.approx(100 * diff / ref_l93[code].area, abs=1e-4)
        assert per[code]["sym_diff_pct"] < 1.0


@pytest.mark.parametrize(
    ("code", "dept"), [("31555", "31"), ("2A004", "2A"), ("2B033", "2B"), ("97411", "974")]
)
def test_departement_code_of_commune_code(code, dept):
    assert departement_code(code) == dept


def test_departements_reject_codes_read_as_integers(communes):
    broken = communes.assign(code=communes["code"].map(int))
    with pytest.raises(NormaliseError, match=r"'code' .*non-string value 9126 .*'31555'"):
        derive_departements(broken, collection="d")


def _overlap_area(geoms: np.ndarray) -> float:
    left, right = shapely.STRtree(geoms).query(geoms, predicate="intersects")
    pairs = left < right
    return float(shapely.area(shapely.intersection(geoms[left[pairs]], geoms[right[pairs]])).sum())


def _holes(geoms: np.ndarray) -> list[shapely.Polygon]:
    union = shapely.union_all(geoms)
    return [shapely.Polygon(r) for p in shapely.get_parts(union) for r in p.interiors]


def _new_gap_area(before: np.ndarray, after: np.ndarray) -> float:
    old = shapely.union_all(_holes(before))
    return sum(h.area for h in _holes(after) if not h.intersects(old))


@pytest.mark.parametrize(("tolerance", "min_ratio"), [(500.0, 4.0), (125.0, 1.35)])
def test_simplified_coverage_has_no_new_gaps_or_overlaps(communes_l93, tolerance, min_ratio):
    out, report = simplify_coverage(communes_l93, tolerance, collection="communes_1m")
    before = np.asarray(communes_l93.geometry.array)
    after = np.asarray(out.geometry.array)
    total = shapely.area(before).sum()
    vertices = shapely.get_num_coordinates(before).sum() / shapely.get_num_coordinates(after).sum()

    assert report["coverage_valid_before"] and report["coverage_valid_after"]
    assert report["ratio"] == pytest.approx(vertices, rel=1e-3) and vertices >= min_ratio
    assert out["code"].tolist() == communes_l93["code"].tolist()
    assert shapely.is_valid(after).all() and not shapely.is_empty(after).any()
    assert _overlap_area(after) / total <= max(_overlap_area(before) / total, 1e-6)
    assert _new_gap_area(before, after) / total < 1e-6
    assert len(_holes(after)) == len(_holes(before))


@pytest.fixture(scope="module")
def broken_coverage(communes_l93: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Communes simplified one by one: neighbours no longer share edges."""
    return communes_l93.assign(geometry=communes_l93.simplify(100))


def _union_area(geoms) -> float:
    return shapely.union_all(np.asarray(geoms)).area


def test_simplify_cleans_an_invalid_input_coverage(broken_coverage):
    before = np.asarray(broken_coverage.geometry.array)
    out, report = simplify_coverage(broken_coverage, 500, collection="c", id_field="code")
    after = np.asarray(out.geometry.array)
    cleaning = report["coverage_cleaning"]
    overlap = shapely.area(before).sum() - _union_area(before)  # pairwise, by another route

    assert not report["coverage_valid_before"] and report["coverage_valid_after"]
    assert cleaning["invalid_edges_before"] > 2000 and cleaning["gap_width"] == 0
    assert cleaning["overlap_area"] == pytest.approx(overlap, rel=1e-3)
    assert 0 < cleaning["features_changed"] <= len(out) == len(broken_coverage)
    assert set(cleaning["ids"]) <= set(broken_coverage["code"])
    assert out["code"].tolist() == broken_coverage["code"].tolist()
    assert shapely.is_valid(after).all() and not shapely.is_empty(after).any()
    assert _overlap_area(after) / shapely.area(after).sum() < 1e-9
    assert _new_gap_area(before, after) / shapely.area(after).sum() < 1e-6


def test_simplify_fills_gaps_narrower_than_gap_width_only(broken_coverage):
    out, report = simplify_coverage(broken_coverage, 500, collection="c", gap_width=200)
    holes = _holes(np.asarray(out.geometry.array))
    assert report["coverage_cleaning"]["gap_width"] == 200 and report["coverage_valid_after"]
    assert len(_holes(np.asarray(broken_coverage.geometry.array))) > 1000
    assert holes and all(not h.buffer(-100).is_empty for h in holes)  # Llívia stays


def test_simplify_refuses_to_lose_a_feature_hidden_under_its_neighbours(communes_l93):
    toulouse = communes_l93[communes_l93["code"] == "31555"].assign(code="99999")
    doubled = pd.concat([communes_l93, toulouse], ignore_index=True)
    with pytest.raises(NormaliseError) as caught:
        simplify_coverage(doubled, 500, collection="communes_1m", id_field="code")
    message = str(caught.value)
    assert "\n" not in message
    assert re.search(r"'communes_1m': 1 feature\(s\) lie wholly inside .*'(31555|99999)'", message)


def test_departements_and_epci_clean_an_invalid_input_coverage(broken_coverage, ref):
    broken = broken_coverage.to_crs(4326)
    depts, dept_report = derive_departements(broken, collection="d")
    epci, epci_report = derive_epci(
        broken, ref / "epci.json", ref / "communes.json", collection="e"
    )

    assert len(depts) == broken["code"].str[:2].nunique()
    for built, report in ((depts, dept_report), (epci, epci_report)):
        assert report["coverage_valid"] is False
        assert report["coverage_cleaning"]["invalid_edges_before"] > 2000
        geoms = np.asarray(built.to_crs(2154).geometry.array)
        assert _overlap_area(geoms) / shapely.area(geoms).sum() < 1e-9
    total = shapely.area(np.asarray(depts.to_crs(2154).geometry.array)).sum()
    assert total == pytest.approx(_union_area(broken_coverage.geometry.array), rel=1e-6)


def test_simplify_refuses_geographic_crs_and_says_to_reproject(communes):
    with pytest.raises(NormaliseError, match=r"'communes_1m'.*EPSG:4326.*to_crs\('EPSG:2154'\)"):
        simplify_coverage(communes, 500, collection="communes_1m")


def test_report_counts_shared_vertices_once(communes_l93):
    out, report = simplify_coverage(communes_l93, 1000.0, collection="communes_1m")
    positions = set()
    for geom in out.geometry:
        for part in getattr(geom, "geoms", [geom]):
            for ring in [part.exterior, *part.interiors]:
                positions.update(ring.coords)
    assert report["unique_vertices_after"] == len(positions)
    # neighbours share their boundary: far fewer distinct positions than stored coordinates
    assert report["unique_vertices_after"] < 0.75 * report["vertices_after"]
    assert report["unique_ratio"] > report["ratio"]
