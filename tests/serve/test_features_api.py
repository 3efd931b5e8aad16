"""OGC API Features over the built default catalogue, checked against independent reads."""

from __future__ import annotations

import json

import geopandas as gpd
import pandas as pd
import pyproj
import pytest
import requests
import shapely
from shapely.geometry import box, shape

TOULOUSE_BBOX = (1.35, 43.55, 1.52, 43.67)


@pytest.fixture(scope="module")
def communes(shared_data) -> gpd.GeoDataFrame:
    files = sorted((shared_data / "admin_france_geojson_occitanie").glob("communes-*.geojson"))
    return pd.concat([gpd.read_file(f) for f in files], ignore_index=True)


def get(url: str, **params: object) -> requests.Response:
    return requests.get(url, params={"f": "json", **params}, timeout=60)


def test_collections_lists_every_layer_with_its_extent(api, built):
    body = get(f"{api}/collections").json()
    listed = {c["id"]: c for c in body["collections"]}
    from gpsupport import REPO

    from geopublish.catalog import load_catalog

    assert set(load_catalog(REPO / "collections").specs) <= set(listed)
    for cid, collection in listed.items():
        bbox = collection["extent"]["spatial"]["bbox"][0]
        assert bbox[0] < bbox[2] and bbox[1] < bbox[3], cid


def test_communes_number_matched_is_the_number_of_shared_communes(api, communes):
    response = get(f"{api}/collections/communes/items", limit=1)
    assert response.status_code == 200
    assert response.json()["numberMatched"] == len(communes) == 2434


def test_bbox_around_toulouse_returns_exactly_the_intersecting_communes(api, communes):
    body = get(
        f"{api}/collections/communes/items", bbox=",".join(map(str, TOULOUSE_BBOX)), limit=1000
    ).json()
    expected = set(communes[communes.intersects(box(*TOULOUSE_BBOX))]["code"])
    got = {f["id"] for f in body["features"]}
    assert got == expected
    assert body["numberMatched"] == len(expected) > 10


def test_bbox_in_lambert93_with_bbox_crs(api, communes):
    l93 = (565000.0, 6275000.0, 580000.0, 6285000.0)
    body = get(
        f"{api}/collections/communes/items",
        bbox=",".join(map(str, l93)),
        limit=1000,
        **{"bbox-crs": "http://www.opengis.net/def/crs/EPSG/0/2154"},
    ).json()
    projected = communes.set_crs(4326).to_crs(2154)
    expected = set(projected[projected.intersects(box(*l93))]["code"])
    assert {f["id"] for f in body["features"]} == expected


def test_item_31555_is_toulouse(api, communes):
    response = get(f"{api}/collections/communes/items/31555")
    assert response.status_code == 200
    feature = response.json()
    assert feature["id"] == "31555"
    assert feature["properties"]["nom"] == "Toulouse"
    source = communes.set_index("code").loc["31555", "geometry"]
    assert shapely.equals_exact(shape(feature["geometry"]).geoms[0], source, 1e-9)


def test_unknown_item_is_404(api):
    assert get(f"{api}/collections/communes/items/99999").status_code == 404


def test_crs_2154_returns_lambert93_coordinates(api, communes):
    url = f"{api}/collections/communes/items/31555"
    response = get(url, crs="http://www.opengis.net/def/crs/EPSG/0/2154")
    assert response.status_code == 200
    assert response.headers["Content-Crs"] == "<http://www.opengis.net/def/crs/EPSG/0/2154>"
    got = shape(response.json()["geometry"])
    to_l93 = pyproj.Transformer.from_crs("OGC:CRS84", "EPSG:2154", always_xy=True)
    source = communes.set_index("code").loc["31555", "geometry"]
    expected = shapely.transform(source, lambda xy: pd.DataFrame(to_l93.transform(*xy.T)).T.values)
    assert 560000 < got.bounds[0] < got.bounds[2] < 585000
    assert got.geoms[0].equals_exact(expected, 0.001)


def test_paging_visits_every_feature_exactly_once(api, communes):
    seen: list[str] = []
    offset, limit = 0, 500
    while True:
        body = get(
            f"{api}/collections/communes/items", offset=offset, limit=limit, skipGeometry="true"
        ).json()
        seen += [f["id"] for f in body["features"]]
        if not any(link["rel"] == "next" for link in body["links"]):
            break
        offset += limit
    assert len(seen) == len(set(seen)) == len(communes)
    assert set(seen) == set(communes["code"])


def test_cors_header_is_sent(api):
    response = requests.get(
        f"{api}/collections/communes/items?f=json&limit=1",
        headers={"Origin": "https://carto.example.org"},
        timeout=30,
    )
    assert response.headers["Access-Control-Allow-Origin"] == "https://carto.example.org"


def test_build_report_is_linked_and_served(api):
    collection = get(f"{api}/collections/parks_montpellier").json()
    href = next(link["href"] for link in collection["links"] if link["rel"] == "describedby")
    report = requests.get(href, timeout=30).json()
    assert report["collection"] == "parks_montpellier"
    assert report["features"]["repaired"] == 2


def test_download_is_the_served_geopackage(api, built, store_kind):
    import pyogrio

    response = requests.get(f"{api}/downloads/parks_montpellier.gpkg", timeout=30)
    collection = get(f"{api}/collections/parks_montpellier").json()
    enclosures = {k["type"]: k["href"] for k in collection["links"] if k["rel"] == "enclosure"}
    # Every publication derives the downloads, on both stores (tests/publish/test_downloads.py
    # reads each format back); the GeoPackage link is the file served here.
    assert response.status_code == 200, store_kind
    assert enclosures["application/geopackage+sqlite3"].endswith(
        "/downloads/parks_montpellier.gpkg"
    )
    path = built["var"] / "download.gpkg"
    path.write_bytes(response.content)
    assert len(pyogrio.read_dataframe(path, layer="parks_montpellier")) == 624


def test_property_filter_on_a_field(api, communes):
    body = get(f"{api}/collections/communes/items", departement="48", limit=1000).json()
    expected = communes[communes["code"].str.startswith("48")]
    assert body["numberMatched"] == len(expected) == 158
    assert json.dumps(body)  # serialisable
