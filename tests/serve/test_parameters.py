"""Every /items parameter against an independent geopandas/shapely reading of the same layer."""

from __future__ import annotations

import json

import geopandas as gpd
import numpy as np
import pyogrio
import pyproj
import pytest
import requests
import shapely
from shapely.geometry import Point, box, shape

TOULOUSE = Point(1.4442, 43.6047)
MONTPELLIER_BOX = (3.80, 43.56, 3.95, 43.66)


def stored(built: dict, cid: str) -> gpd.GeoDataFrame:
    """The published file read by GDAL, storage order kept in the index."""
    path = built["var"] / "store" / cid / "current.gpkg"
    return pyogrio.read_dataframe(path, layer=cid, fid_as_index=True)


@pytest.fixture(scope="module")
def communes(built) -> gpd.GeoDataFrame:
    return stored(built, "communes")


@pytest.fixture(scope="module")
def places(built) -> gpd.GeoDataFrame:
    return stored(built, "carpooling_places")


def items(api: str, cid: str, **params: object) -> dict:
    response = requests.get(
        f"{api}/collections/{cid}/items", params={"f": "json", "limit": 10000, **params}, timeout=60
    )
    assert response.status_code == 200, response.text
    return response.json()


def ids(body: dict) -> list[str]:
    return [f["id"] for f in body["features"]]


def test_small_bbox_on_points_is_exactly_the_points_inside(api, places):
    body = items(api, "carpooling_places", bbox="1.2,43.4,1.7,43.8")
    expected = places[places.intersects(box(1.2, 43.4, 1.7, 43.8))]["id_lieu"]
    assert sorted(ids(body)) == sorted(expected) and body["numberMatched"] == len(expected) > 5


def test_paging_with_filter_and_sort_is_stable_and_complete(api, communes):
    pages, offset = [], 0
    while True:
        body = items(api, "communes", departement="34", sortby="-nom", limit=97, offset=offset)
        pages += ids(body)
        if len(body["features"]) < 97:
            break
        offset += 97
    expected = communes[communes["departement"] == "34"]
    assert len(pages) == len(set(pages)) == len(expected) == body["numberMatched"]
    assert pages == sort_like_sql(expected, [("nom", True)])["code"].tolist()


def test_number_matched_unfiltered_is_the_stored_count_without_a_count_query(built, communes):
    from geopublish.serve.provider import GeoPackageProvider

    path = built["var"] / "store" / "communes" / "current.gpkg"
    provider = GeoPackageProvider(
        {"name": "x", "type": "feature", "data": str(path), "table": "communes", "id_field": "code"}
    )
    statements: list[str] = []
    provider.layer.con.set_trace_callback(statements.append)
    try:
        out = provider.query(limit=1, resulttype="hits")
    finally:
        provider.layer.con.set_trace_callback(None)
    assert out["numberMatched"] == len(communes)
    assert not any("count(" in s.lower() for s in statements)


@pytest.mark.parametrize(
    ("params", "column", "value"),
    [({"departement": "09"}, "departement", "09"), ({"nbre_pl": "20"}, "nbre_pl", 20.0)],
)
def test_property_filter_equals_the_pandas_selection(api, built, params, column, value):
    cid = "communes" if column == "departement" else "carpooling_places"
    frame = stored(built, cid)
    id_col = "code" if cid == "communes" else "id_lieu"
    body = items(api, cid, **params)
    assert sorted(ids(body)) == sorted(frame[frame[column] == value][id_col])


def sort_like_sql(frame: gpd.GeoDataFrame, keys: list[tuple[str, bool]]) -> gpd.GeoDataFrame:
    """ORDER BY keys..., fid with SQLite's NULLs-first ascending, by successive stable sorts."""
    rows = sorted(frame.iterrows(), key=lambda r: r[0])
    for name, descending in reversed(keys):
        rows = sorted(
            rows,
            key=lambda r, n=name: (
                (0, "") if r[1][n] is None or r[1][n] != r[1][n] else (1, r[1][n])
            ),
            reverse=descending,
        )
    return frame.loc[[r[0] for r in rows]]


@pytest.mark.parametrize(
    "sortby",
    ["nbre_pl", "-nbre_pl", "-nbre_pl,com_lieu", "com_lieu,-date_maj", "+date_maj,-id_lieu"],
)
def test_sortby_with_ties_and_nulls_matches_a_stable_sort(api, places, sortby):
    keys = [(k.lstrip("+-"), k.startswith("-")) for k in sortby.split(",")]
    body = items(api, "carpooling_places", sortby=sortby, skipGeometry="true")
    assert ids(body) == sort_like_sql(places, keys)["id_lieu"].tolist()


@pytest.mark.parametrize(
    ("datetime", "low", "high"),
    [
        ("2019-10-29", "2019-10-29", "2019-10-29"),
        ("2019-01-01/2019-12-31", "2019-01-01", "2019-12-31"),
        ("../2018-06-30", "0000", "2018-06-30"),
        ("2021-01-01T00:00:00Z/..", "2021-01-01", "9999"),
    ],
)
def test_datetime_selects_on_the_time_field(api, places, datetime, low, high):
    body = items(api, "carpooling_places", datetime=datetime, skipGeometry="true")
    dates = places["date_maj"]
    expected = places[(dates >= low) & (dates <= high)]["id_lieu"]
    assert sorted(ids(body)) == sorted(expected) and len(expected) > 0


def test_properties_selection_and_skip_geometry(api):
    body = items(
        api, "carpooling_places", properties="nom_lieu,insee", skipGeometry="true", limit=5
    )
    assert len(body["features"]) == 5
    for feature in body["features"]:
        assert set(feature["properties"]) == {"nom_lieu", "insee"}
        assert feature["geometry"] is None


def cql_cases() -> list[tuple[str, str, object]]:
    toulouse = TOULOUSE.wkt
    ring = box(*MONTPELLIER_BOX).wkt
    return [
        ("communes", "departement = '48'", lambda d: d["departement"] == "48"),
        ("communes", "nom LIKE 'Saint-%'", lambda d: d["nom"].str.startswith("Saint-")),
        ("communes", "nom NOT LIKE '%a%'", lambda d: ~d["nom"].str.contains("a")),
        ("communes", "nom LIKE 'L_s%'", lambda d: d["nom"].str.match("^L.s")),
        ("communes", "nom LIKE 'St.%'", lambda d: d["nom"].str.startswith("St.")),
        ("communes", "departement IN ('09', '11')", lambda d: d["departement"].isin(["09", "11"])),
        (
            "communes",
            "code BETWEEN '31000' AND '31100'",
            lambda d: d["code"].between("31000", "31100"),
        ),
        (
            "communes",
            "departement = '31' AND NOT (nom LIKE 'S%' OR nom LIKE 'L%')",
            lambda d: (d["departement"] == "31") & ~d["nom"].str.match("^[SL]"),
        ),
        (
            "communes",
            "departement = '09' OR departement = '11' AND nom LIKE 'A%'",
            lambda d: (
                (d["departement"] == "09")
                | (d["departement"] == "11") & d["nom"].str.startswith("A")
            ),
        ),
        ("carpooling_places", "nbre_pl > 30", lambda d: d["nbre_pl"] > 30),
        ("carpooling_places", "nbre_pmr IS NULL", lambda d: d["nbre_pmr"].isna()),
        (
            "carpooling_places",
            "nbre_pl IS NOT NULL AND nbre_pl <= 20",
            lambda d: d["nbre_pl"] <= 20,
        ),
        (
            "carpooling_places",
            "date_maj >= DATE('2022-01-01')",
            lambda d: d["date_maj"] >= "2022-01-01",
        ),
        ("carpooling_places", "ouvert = true AND insee = '34172'", lambda d: d["insee"] == "34172"),
        ("communes", f"S_INTERSECTS(geometry, {toulouse})", lambda d: d.intersects(TOULOUSE)),
        ("communes", f"S_CONTAINS(geometry, {toulouse})", lambda d: d.contains(TOULOUSE)),
        ("communes", f"S_WITHIN(geometry, {ring})", lambda d: d.within(box(*MONTPELLIER_BOX))),
        (
            "communes",
            f"S_INTERSECTS(geometry, {ring})",
            lambda d: d.intersects(box(*MONTPELLIER_BOX)),
        ),
        (
            "communes",
            f"S_DISJOINT(geometry, {ring}) AND departement = '34'",
            lambda d: d.disjoint(box(*MONTPELLIER_BOX)) & (d["departement"] == "34"),
        ),
        (
            "communes",
            "S_INTERSECTS(geometry, BBOX(1.35, 43.55, 1.52, 43.67))",
            lambda d: d.intersects(box(1.35, 43.55, 1.52, 43.67)),
        ),
        (
            "carpooling_places",
            f"S_WITHIN(geometry, {ring}) OR nbre_pl > 100",
            lambda d: d.within(box(*MONTPELLIER_BOX)) | (d["nbre_pl"] > 100),
        ),
    ]


@pytest.mark.parametrize(("cid", "text", "select"), cql_cases(), ids=[c[1] for c in cql_cases()])
def test_cql2_text_filter_matches_geopandas(api, built, cid, text, select):
    frame = stored(built, cid)
    id_col = "code" if cid == "communes" else "id_lieu"
    body = items(api, cid, filter=text, skipGeometry="true")
    expected = frame[select(frame).fillna(False).astype(bool)][id_col]
    assert sorted(ids(body)) == sorted(expected)
    assert body["numberMatched"] == len(expected)


def test_cql2_json_by_get_and_by_post_match_geopandas(api, communes):
    query = {
        "op": "and",
        "args": [
            {
                "op": "s_intersects",
                "args": [{"property": "geometry"}, {"bbox": list(MONTPELLIER_BOX)}],
            },
            {"op": "like", "args": [{"property": "nom"}, "%e%"]},
        ],
    }
    expected = communes[
        communes.intersects(box(*MONTPELLIER_BOX)) & communes["nom"].str.contains("e")
    ]["code"]
    got = items(api, "communes", **{"filter-lang": "cql2-json", "filter": json.dumps(query)})
    assert sorted(ids(got)) == sorted(expected) and len(expected) > 3
    posted = requests.post(
        f"{api}/collections/communes/items?f=json&limit=1000",
        data=json.dumps(query),
        headers={"Content-Type": "application/query-cql-json"},
        timeout=60,
    )
    assert posted.status_code == 200, posted.text
    assert sorted(ids(posted.json())) == sorted(expected)


@pytest.mark.parametrize(
    "literal", [box(565000, 6275000, 580000, 6285000).wkt, "BBOX(565000, 6275000, 580000, 6285000)"]
)
def test_filter_crs_reprojects_the_filter_geometry(api, communes, literal):
    l93 = box(565000, 6275000, 580000, 6285000)
    body = items(
        api,
        "communes",
        filter=f"S_INTERSECTS(geometry, {literal})",
        **{"filter-crs": "http://www.opengis.net/def/crs/EPSG/0/2154"},
    )
    projected = communes.set_crs(4326, allow_override=True).to_crs(2154)
    assert sorted(ids(body)) == sorted(projected[projected.intersects(l93)]["code"])


def test_crs_4326_answers_in_latitude_longitude_order(api, communes):
    response = requests.get(
        f"{api}/collections/communes/items/31555",
        params={"crs": "http://www.opengis.net/def/crs/EPSG/0/4326"},
        timeout=30,
    )
    got = shape(response.json()["geometry"])
    expected = shapely.transform(
        communes.set_index("code").loc["31555"].geometry, lambda xy: xy[:, ::-1]
    )
    assert got.equals_exact(expected, 1e-9)


def test_crs_3857_on_a_page_matches_pyproj(api, communes):
    body = items(
        api, "communes", departement="48", limit=5, crs="http://www.opengis.net/def/crs/EPSG/0/3857"
    )
    to_3857 = pyproj.Transformer.from_crs("OGC:CRS84", "EPSG:3857", always_xy=True)
    source = communes.set_index("code")
    assert len(body["features"]) == 5
    for feature in body["features"]:
        expected = shapely.transform(
            source.loc[feature["id"]].geometry, lambda xy: np.column_stack(to_3857.transform(*xy.T))
        )
        assert shape(feature["geometry"]).equals_exact(expected, 0.01)
