"""OGC API - Features - Part 1 (OGC 17-069r4) abstract test suite, Annex A, on the live API.

Test names carry the ATS identifier (A.2.x) they port; core, oas30, geojson and html classes.
"""

from __future__ import annotations

import datetime as dt

import pytest
import requests
from conftest import CRS84, fetch, link
from shapely.geometry import box, shape

CORE = "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf"


def test_a_2_2_landing_page_links_api_conformance_and_data(api):
    response = fetch(f"{api}/")
    assert response.status_code == 200
    landing = response.json()
    for rel in ("service-desc", "conformance", "data", "self"):
        assert link(landing, rel)
    assert fetch(f"{api}/", f="html").headers["Content-Type"].startswith("text/html")


def test_a_2_3_api_definition_is_openapi_3_with_every_collection(api, feature_collections):
    href = link(fetch(f"{api}/").json(), "service-desc")
    definition = requests.get(href, params={"f": "json"}, timeout=60).json()
    assert definition["openapi"].startswith("3.0")
    for collection in feature_collections:
        assert f"/collections/{collection['id']}/items" in definition["paths"]
        assert f"/collections/{collection['id']}/items/{{featureId}}" in definition["paths"]


def test_a_2_4_conformance_declares_core_geojson_html_oas30(api):
    classes = fetch(f"{api}/conformance").json()["conformsTo"]
    for name in ("core", "geojson", "html", "oas30"):
        assert f"{CORE}/{name}" in classes


def test_a_2_5_http_1_1(api):
    response = fetch(f"{api}/collections")
    assert response.raw.version == 11


def test_a_2_6_collections_describe_every_layer(api, feature_collections):
    body = fetch(f"{api}/collections").json()
    assert link(body, "self")
    assert len(feature_collections) >= 10
    for collection in feature_collections:
        assert link(collection, "items", "application/geo+json")
        bbox = collection["extent"]["spatial"]["bbox"][0]
        assert -180 <= bbox[0] < bbox[2] <= 180 and -90 <= bbox[1] < bbox[3] <= 90
        assert collection["extent"]["spatial"].get("crs", CRS84) == CRS84


def test_a_2_7_collection_document_matches_its_entry(api, feature_collections):
    for entry in feature_collections:
        response = fetch(f"{api}/collections/{entry['id']}")
        assert response.status_code == 200
        single = response.json()
        assert single["id"] == entry["id"] and single["extent"] == entry["extent"]
    assert fetch(f"{api}/collections/no_such_layer").status_code == 404


def test_a_2_8_items_default_and_maximum_limit(api):
    body = fetch(f"{api}/collections/communes/items").json()
    assert body["type"] == "FeatureCollection" and len(body["features"]) == 10
    assert body["numberReturned"] == 10 and body["numberMatched"] == 2434
    capped = fetch(f"{api}/collections/communes/items", limit=100000, skipGeometry="true").json()
    assert len(capped["features"]) <= 10000
    assert fetch(f"{api}/collections/communes/items", limit=0).status_code == 400


def test_a_2_8_limit_response_never_exceeds_limit(api):
    for limit in (1, 7, 500):
        body = fetch(f"{api}/collections/transport_stops/items", limit=limit).json()
        assert body["numberReturned"] == len(body["features"]) == limit


def test_a_2_9_bbox_response_only_intersecting_features(api):
    query = (3.82, 43.58, 3.92, 43.64)
    body = fetch(
        f"{api}/collections/parks_montpellier/items", bbox=",".join(map(str, query)), limit=1000
    ).json()
    assert body["numberMatched"] == len(body["features"]) > 0
    for feature in body["features"]:
        assert shape(feature["geometry"]).intersects(box(*query))


def test_a_2_9_bbox_invalid_is_400(api):
    for bad in ("1,2", "a,b,c,d", "1,44,2,43"):
        assert fetch(f"{api}/collections/communes/items", bbox=bad).status_code == 400


def test_a_2_9_bbox_across_the_antimeridian_is_both_sides(api):
    url = f"{api}/collections/departements/items"
    across = fetch(url, bbox="4.5,42,0.5,45", limit=100).json()
    east = {f["id"] for f in fetch(url, bbox="4.5,42,180,45", limit=100).json()["features"]}
    west = {f["id"] for f in fetch(url, bbox="-180,42,0.5,45", limit=100).json()["features"]}
    assert {f["id"] for f in across["features"]} == east | west and east and west


def test_a_2_10_datetime_response_inside_the_interval(api):
    body = fetch(
        f"{api}/collections/carpooling_places/items", datetime="2019-01-01/2019-06-30", limit=1000
    ).json()
    assert body["numberReturned"] > 0
    for feature in body["features"]:
        assert "2019-01-01" <= feature["properties"]["date_maj"] <= "2019-06-30"


def test_a_2_11_response_links_and_paging_through_next(api):
    url = f"{api}/collections/departements/items?f=json&limit=5"
    seen, pages = [], 0
    while url:
        response = requests.get(url, timeout=60)
        assert response.headers["Content-Type"].startswith("application/geo+json")
        body = response.json()
        assert link(body, "self") and link(body, "alternate", "text/html")
        stamp = dt.datetime.fromisoformat(body["timeStamp"].replace("Z", "+00:00"))
        assert stamp.tzinfo is not None
        assert body["numberReturned"] == len(body["features"])
        seen += [f["id"] for f in body["features"]]
        url = next((x["href"] for x in body["links"] if x["rel"] == "next"), None)
        pages += 1
    assert pages == 3 and len(seen) == len(set(seen)) == 13


@pytest.mark.parametrize(("cid", "fid"), [("communes", "31555"), ("departements", "34")])
def test_a_2_12_feature_document(api, cid, fid):
    response = fetch(f"{api}/collections/{cid}/items/{fid}")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/geo+json")
    feature = response.json()
    assert feature["type"] == "Feature" and str(feature["id"]) == fid
    assert link(feature, "self") and link(feature, "collection")
    assert shape(feature["geometry"]).is_valid
    assert fetch(f"{api}/collections/{cid}/items/nope").status_code == 404


def test_a_3_geojson_every_layer_serves_valid_features(api, feature_collections):
    for collection in feature_collections:
        body = fetch(f"{api}/collections/{collection['id']}/items", limit=3).json()
        assert body["type"] == "FeatureCollection", collection["id"]
        for feature in body["features"]:
            assert feature["type"] == "Feature" and "id" in feature
            assert isinstance(feature["properties"], dict)
            assert (
                shape(feature["geometry"]).is_valid or collection["id"] == "cycle_paths_montpellier"
            )


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/conformance",
        "/collections",
        "/collections/communes",
        "/collections/communes/items/31555",
    ],
)
def test_a_4_html_pages(api, path):
    response = fetch(f"{api}{path}", f="html")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/html")


def test_a_2_3_every_items_operation_declares_limit_bbox_and_datetime(api, feature_collections):
    definition = requests.get(f"{api}/openapi", params={"f": "json"}, timeout=60).json()
    components = definition["components"]["parameters"]
    for collection in feature_collections:
        parameters = definition["paths"][f"/collections/{collection['id']}/items"]["get"][
            "parameters"
        ]
        refs = {p.get("$ref", "").rsplit("/", 1)[-1] for p in parameters}
        assert {"limit", "bbox", "datetime"} <= refs, collection["id"]
    assert components["limit"]["schema"]["maximum"] >= 1000  # QGIS reads its page size here


@pytest.mark.parametrize(
    "value",
    ["2019-03-01", "2019-03-01T12:00:00Z", "2019-01-01/2019-06-30", "../2019-06-30", "../.."],
)
def test_a_2_10_datetime_on_every_feature_collection(api, feature_collections, value):
    """/req/core/fc-time-definition and fc-time-response on every collection.

    Only carpooling_places has a temporal property (date_maj); elsewhere no feature has a
    temporal geometry, so none intersects the requested time and the result is empty.
    """
    for collection in feature_collections:
        response = fetch(f"{api}/collections/{collection['id']}/items", datetime=value, limit=1000)
        assert response.status_code == 200, (collection["id"], response.text[:200])
        assert response.headers["Content-Type"].startswith("application/geo+json")
        body = response.json()
        assert body["numberReturned"] == len(body["features"]) <= body["numberMatched"]
        if collection["id"] != "carpooling_places":
            assert body["numberMatched"] == 0, collection["id"]
            continue
        low, _, high = value.partition("/")
        for feature in body["features"]:
            stamp = feature["properties"]["date_maj"]
            if high:
                assert low in ("..", "") or stamp >= low
                assert high in ("..", "") or stamp[: len(high)] <= high
            else:
                assert stamp.startswith(value[:10])
    assert fetch(f"{api}/collections/communes/items", datetime="not-a-date").status_code == 400
