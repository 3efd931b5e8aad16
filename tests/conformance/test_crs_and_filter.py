"""OGC API - Features Part 2 (CRS, OGC 18-058r1) and Part 3 (filtering, OGC 19-079r2) on the live API."""

from __future__ import annotations

import json

import pyproj
import pytest
from conftest import CRS84, OGC_REL, fetch, link
from gpsupport import REPO
from shapely.geometry import Point, box, shape

L93 = "http://www.opengis.net/def/crs/EPSG/0/2154"
WGS84 = "http://www.opengis.net/def/crs/EPSG/0/4326"
CQL2 = "http://www.opengis.net/spec/cql2/1.0/conf"
FILTER = "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf"


def test_part2_collections_declare_crs_and_storage_crs(feature_collections):
    for collection in feature_collections:
        assert CRS84 in collection["crs"], collection["id"]
        assert collection["storageCrs"] in collection["crs"]


@pytest.mark.parametrize("crs", [CRS84, WGS84, L93, "http://www.opengis.net/def/crs/EPSG/0/3857"])
def test_part2_crs_parameter_sets_content_crs_and_coordinates(api, crs):
    plain = fetch(f"{api}/collections/departements/items/31").json()
    response = fetch(f"{api}/collections/departements/items/31", crs=crs)
    assert response.status_code == 200
    assert response.headers["Content-Crs"] == f"<{crs}>"
    lon, lat = shape(plain["geometry"]).representative_point().coords[0]
    transformer = pyproj.Transformer.from_crs("OGC:CRS84", pyproj.CRS.from_user_input(crs))
    expected = transformer.transform(lon, lat)
    assert (
        shape(response.json()["geometry"])
        .buffer(1e-6 if crs in (CRS84, WGS84) else 1)
        .contains(Point(expected))
    )


def test_part2_items_default_content_crs_is_crs84(api):
    assert fetch(f"{api}/collections/communes/items").headers["Content-Crs"] == f"<{CRS84}>"


def test_part2_unsupported_crs_and_bbox_crs_are_400(api):
    url = f"{api}/collections/communes/items"
    assert fetch(url, crs="http://www.opengis.net/def/crs/EPSG/0/32631").status_code == 400
    assert fetch(url, bbox="1,43,2,44", **{"bbox-crs": "EPSG:32631"}).status_code == 400


def test_part2_bbox_crs_4326_is_latitude_first(api):
    crs84 = fetch(f"{api}/collections/communes/items", bbox="1.40,43.58,1.46,43.62", limit=500)
    latlon = fetch(
        f"{api}/collections/communes/items",
        bbox="43.58,1.40,43.62,1.46",
        limit=500,
        **{"bbox-crs": WGS84},
    )
    ids = [f["id"] for f in crs84.json()["features"]]
    assert ids and ids == [f["id"] for f in latlon.json()["features"]]


def test_part3_conformance_declares_filter_classes(api):
    classes = fetch(f"{api}/conformance").json()["conformsTo"]
    for name in ("filter", "features-filter", "queryables", "queryables-query-parameters"):
        assert f"{FILTER}/{name}" in classes
    for name in ("basic-cql2", "cql2-text", "cql2-json", "advanced-comparison-operators"):
        assert f"{CQL2}/{name}" in classes


def test_part3_queryables_are_the_stored_fields(api, built, feature_collections):
    import sqlite3

    from geopublish.catalog.loader import load_catalog

    # A spec may declare its queryables (publish.queryables); otherwise every stored field is one.
    declared = {s.cid: s.publish.queryables for s in load_catalog(REPO / "collections").select()}
    for collection in feature_collections:
        cid = collection["id"]
        href = link(collection, f"{OGC_REL}/queryables", "application/schema+json")
        response = fetch(href.split("?")[0])
        assert response.headers["Content-Type"].startswith("application/schema+json")
        schema = response.json()
        assert schema["type"] == "object" and "$schema" in schema and "$id" in schema
        path = built["var"] / "store" / cid / "current.gpkg"
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as con:
            (fields,) = con.execute(
                "SELECT value FROM geopublish_meta WHERE key = 'fields'"
            ).fetchone()
        expected = set(declared[cid] or json.loads(fields))
        assert set(schema["properties"]) - {"geometry"} == expected, cid


def test_part3_queryable_as_query_parameter(api):
    body = fetch(f"{api}/collections/communes/items", departement="66", limit=1000).json()
    assert body["numberMatched"] == len(body["features"]) > 200
    assert {f["properties"]["departement"] for f in body["features"]} == {"66"}


def test_part3_filter_text_and_json_agree(api):
    text = "departement = '11' AND S_INTERSECTS(geometry, BBOX(2.0, 43.0, 2.5, 43.3))"
    as_json = {
        "op": "and",
        "args": [
            {"op": "=", "args": [{"property": "departement"}, "11"]},
            {
                "op": "s_intersects",
                "args": [{"property": "geometry"}, {"bbox": [2.0, 43.0, 2.5, 43.3]}],
            },
        ],
    }
    url = f"{api}/collections/communes/items"
    by_text = fetch(url, filter=text, limit=1000).json()
    by_json = fetch(
        url, filter=json.dumps(as_json), limit=1000, **{"filter-lang": "cql2-json"}
    ).json()
    ids = sorted(f["id"] for f in by_text["features"])
    assert ids and ids == sorted(f["id"] for f in by_json["features"])
    for feature in by_text["features"]:
        assert shape(feature["geometry"]).intersects(box(2.0, 43.0, 2.5, 43.3))


def test_part3_filter_crs(api):
    url = f"{api}/collections/departements/items"
    point = fetch(url, filter="S_INTERSECTS(geometry, POINT(43.6 1.44))", **{"filter-crs": WGS84})
    assert [f["id"] for f in point.json()["features"]] == ["31"]


def test_part3_invalid_filter_is_400(api):
    url = f"{api}/collections/communes/items"
    assert fetch(url, filter="departement = ").status_code == 400
    assert fetch(url, filter="altitude > 3").status_code == 400
    assert fetch(url, filter="nom = 'x'", **{"filter-lang": "sql"}).status_code == 400


def test_part2_every_offered_crs_on_every_collection(api, feature_collections):
    """/req/crs/fc-md-crs-list, fc-crs-valid-value, ogc-crs-header on every collection."""
    for collection in feature_collections:
        url = f"{api}/collections/{collection['id']}/items"
        first = fetch(url, limit=1).json()["features"][0]["id"]
        for crs in collection["crs"]:
            page = fetch(url, limit=2, crs=crs)
            assert page.status_code == 200, (collection["id"], crs, page.text[:200])
            assert page.headers["Content-Crs"] == f"<{crs}>"
            one = fetch(f"{url}/{first}", crs=crs)
            assert one.status_code == 200 and one.headers["Content-Crs"] == f"<{crs}>"


def test_part2_bbox_crs_in_the_storage_crs_selects_the_same_as_crs84(api, feature_collections):
    """/req/crs/fc-bbox-crs-action: a bbox given in the storage CRS selects what CRS84 does."""
    for collection in feature_collections:
        url = f"{api}/collections/{collection['id']}/items"
        storage = collection["storageCrs"]
        minx, miny, maxx, maxy = collection["extent"]["spatial"]["bbox"][0]
        cx, cy = (minx + maxx) / 2, (miny + maxy) / 2
        small = (cx - 0.05, cy - 0.05, cx + 0.05, cy + 0.05)
        transformer = pyproj.Transformer.from_crs("OGC:CRS84", storage, always_xy=True)
        native = transformer.transform_bounds(*small)
        if pyproj.CRS(storage).axis_info[0].direction == "north":
            native = (native[1], native[0], native[3], native[2])
        plain = fetch(url, bbox=",".join(map(str, small)), limit=10000, skipGeometry="true")
        given = fetch(
            url,
            bbox=",".join(map(str, native)),
            limit=10000,
            skipGeometry="true",
            **{"bbox-crs": storage},
        )
        assert given.status_code == 200, (collection["id"], given.text[:200])
        inside = {f["id"] for f in plain.json()["features"]}
        # The reprojected box holds the CRS84 one: it selects at least the same features.
        assert inside <= {f["id"] for f in given.json()["features"]}, collection["id"]
