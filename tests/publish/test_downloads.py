"""Whole-layer downloads: every format, read back with GDAL, is the served layer (both stores)."""

from __future__ import annotations

import hashlib

import geopandas as gpd
import pyogrio
import pytest
import requests
import shapely

LAYER = "parks_montpellier"
FORMATS = {
    "gpkg": "application/geopackage+sqlite3",
    "geojson": "application/geo+json",
    "csv": "text/csv",
    "fgb": "application/vnd.flatgeobuf",
    "parquet": "application/vnd.apache.parquet",
}


@pytest.fixture(scope="module", params=["gpkg", "postgis"])
def served(request):
    """Base URL of a server publishing the parks layer on one store, and its items."""
    url = (
        request.getfixturevalue("api")
        if request.param == "gpkg"
        else request.getfixturevalue("pg_site")["url"]
    )
    items = requests.get(
        f"{url}/collections/{LAYER}/items", params={"f": "json", "limit": 5000}, timeout=60
    ).json()
    return {"url": url, "items": items, "store": request.param}


def read_back(path, suffix: str) -> gpd.GeoDataFrame:
    if suffix == "parquet":  # GDAL here has no Parquet driver: pyarrow reads GeoParquet
        return gpd.read_parquet(path)
    if suffix == "csv":
        frame = pyogrio.read_dataframe(path, layer=LAYER, read_geometry=False)
        geoms = shapely.from_wkt(frame.pop("wkt"))
        return gpd.GeoDataFrame(frame, geometry=geoms, crs="EPSG:4326")
    return pyogrio.read_dataframe(path)


@pytest.mark.parametrize("suffix", list(FORMATS))
def test_download_has_the_served_features(served, suffix, tmp_path):
    response = requests.get(f"{served['url']}/downloads/{LAYER}.{suffix}", timeout=60)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith(FORMATS[suffix])
    path = tmp_path / f"{LAYER}.{suffix}"
    path.write_bytes(response.content)
    listing = requests.get(f"{served['url']}/downloads/{LAYER}", timeout=30).json()
    entry = listing["files"][suffix]
    assert entry["size"] == len(response.content)
    assert entry["sha256"] == hashlib.sha256(response.content).hexdigest()

    features = served["items"]["features"]
    assert served["items"]["numberMatched"] == len(features) == 624
    got = read_back(path, suffix)
    assert len(got) == len(features)
    fields = set(features[0]["properties"])
    assert set(got.columns) - {"geometry"} == fields
    got = got.to_crs("EPSG:4326") if got.crs is not None else got
    by_id = {int(r["parc_id"]): r.geometry for _, r in got.iterrows()}
    for feature in features:
        mine = by_id[int(feature["properties"]["parc_id"])]
        theirs = shapely.geometry.shape(feature["geometry"])
        assert mine.geom_type == theirs.geom_type
        assert shapely.equals_exact(
            shapely.normalize(mine), shapely.normalize(theirs), tolerance=1e-6
        ), feature["properties"]["parc_id"]


def test_collection_links_every_download(served):
    doc = requests.get(f"{served['url']}/collections/{LAYER}", params={"f": "json"}, timeout=30)
    enclosures = {
        link["href"].rsplit(".", 1)[1]: link["type"].split(";")[0]
        for link in doc.json()["links"]
        if link["rel"] == "enclosure"
    }
    assert enclosures == FORMATS


def test_unknown_download_is_404(served):
    assert requests.get(f"{served['url']}/downloads/{LAYER}.shp", timeout=30).status_code == 404
    assert requests.get(f"{served['url']}/downloads/nope.gpkg", timeout=30).status_code == 404
