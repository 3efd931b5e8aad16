"""HTTP behaviour: honest 400s, GeoJSON media type, validators and 304s, caching, gzip, HTML."""

from __future__ import annotations

import gzip
import json
import shutil

import pytest
import requests
from gpsupport import Server, cli_env, run_cli

ITEMS = "/collections/communes/items"
CQL_JSON = {"filter-lang": "cql2-json"}


def get(url: str, headers: dict | None = None, **params: object) -> requests.Response:
    return requests.get(url, params=params, headers=headers or {}, timeout=60)


@pytest.mark.parametrize(
    ("path", "params", "reason"),
    [
        (ITEMS, {"foo": "bar"}, "unknown query parameter 'foo'"),
        (ITEMS, {"q": "Toulouse"}, "free-text search 'q' is not supported"),
        (ITEMS, {"sortby": "-population"}, "cannot sort by 'population'"),
        (ITEMS, {"properties": "nom,population"}, "unknown properties"),
        (ITEMS, {"resulttype": "count"}, "resulttype 'count'"),
        (ITEMS, {"skipGeometry": "maybe"}, "skipGeometry 'maybe'"),
        (ITEMS, {"filter-lang": "cql-json", "filter": "nom = 'x'"}, "filter-lang 'cql-json'"),
        (ITEMS, {"filter": "population > 3"}, "unknown property 'population'"),
        (ITEMS, {"filter": "nom = "}, "not valid CQL2 text"),
        (ITEMS, {"filter": "RELATE(geometry, POINT(1 43), 'T********')"}, "unsupported filter"),
        (ITEMS, {"filter": "S_INTERSECTS(nom, POINT(1 43))"}, "spatial predicates compare"),
        (ITEMS, {"filter": "code + 1 > 3"}, "unsupported expression"),
        (
            ITEMS,
            {**CQL_JSON, "filter": '{"op": "=", "args": [{"property": "nom"}]'},
            "not valid CQL2 JSON",
        ),
        (ITEMS, {"bbox": "1,2,3"}, "bbox"),
        (ITEMS, {"bbox": "1,43,2,44", "bbox-crs": "EPSG:9999"}, "bbox-crs"),
        (ITEMS, {"crs": "http://www.opengis.net/def/crs/EPSG/0/9999"}, "crs"),
        (ITEMS, {"limit": "ten"}, "limit"),
        (ITEMS, {"offset": "-1"}, "offset"),
        ("/collections/carpooling_places/items", {"nbre_pl": "many"}, "cannot compare with 'many'"),
        ("/collections/carpooling_places/items", {"datetime": "last week"}, "datetime"),
        (f"{ITEMS}/31555", {"bbox": "1,43,2,44"}, "unknown query parameter 'bbox'"),
        ("/collections/communes", {"limit": "3"}, "unknown query parameter 'limit'"),
        ("/collections/communes/queryables", {"foo": "1"}, "unknown query parameter 'foo'"),
    ],
)
def test_a_parameter_that_cannot_be_honoured_is_a_400_saying_why(api, path, params, reason):
    response = get(f"{api}{path}", f="json", **params)
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["code"] in ("InvalidParameterValue", "NoApplicableCode", "InvalidQuery")
    assert reason in body["description"]


def test_items_and_features_are_geojson_and_other_documents_json(api):
    assert get(f"{api}{ITEMS}", f="json").headers["Content-Type"].startswith("application/geo+json")
    item = get(f"{api}{ITEMS}/31555", f="json")
    assert item.headers["Content-Type"].startswith("application/geo+json")
    assert (
        get(f"{api}/collections/communes", f="json")
        .headers["Content-Type"]
        .startswith("application/json")
    )
    default = get(f"{api}{ITEMS}", headers={"Accept": "application/geo+json"})
    assert default.headers["Content-Type"].startswith("application/geo+json")
    assert default.json()["type"] == "FeatureCollection"


def test_if_none_match_with_the_current_etag_is_a_304(api):
    first = get(f"{api}{ITEMS}", f="json", limit=3)
    etag = first.headers["ETag"]
    again = get(f"{api}{ITEMS}", {"If-None-Match": etag}, f="json", limit=3)
    assert again.status_code == 304 and again.content == b""
    assert again.headers["ETag"] == etag
    other_page = get(f"{api}{ITEMS}", {"If-None-Match": etag}, f="json", limit=3, offset=3)
    assert other_page.status_code == 200 and other_page.headers["ETag"] != etag
    item = get(f"{api}{ITEMS}/31555", f="json")
    assert (
        get(f"{api}{ITEMS}/31555", {"If-None-Match": item.headers["ETag"]}, f="json").status_code
        == 304
    )


def test_if_modified_since_the_build_is_a_304_and_before_it_a_200(api):
    first = get(f"{api}/collections/communes", f="json")
    modified = first.headers["Last-Modified"]
    assert (
        get(f"{api}/collections/communes", {"If-Modified-Since": modified}, f="json").status_code
        == 304
    )
    old = "Mon, 01 Jan 2001 00:00:00 GMT"
    assert (
        get(f"{api}/collections/communes", {"If-Modified-Since": old}, f="json").status_code == 200
    )


def test_cache_control_comes_from_the_settings_and_cors_stays_on(api):
    response = get(f"{api}{ITEMS}", {"Origin": "https://carto.example.org"}, f="json", limit=1)
    assert response.headers["Cache-Control"] == "public, max-age=60"
    assert response.headers["Access-Control-Allow-Origin"] in ("*", "https://carto.example.org")
    assert "Accept-Encoding" in response.headers["Vary"]


def test_large_responses_are_gzipped_when_the_client_accepts_it(api):
    raw = requests.get(
        f"{api}{ITEMS}?f=json&limit=200",
        headers={"Accept-Encoding": "gzip"},
        stream=True,
        timeout=60,
    )
    assert raw.headers["Content-Encoding"] == "gzip"
    body = gzip.decompress(raw.raw.read())
    assert len(json.loads(body)["features"]) == 200
    assert int(raw.headers["Content-Length"]) < len(body) / 3
    plain = get(f"{api}{ITEMS}", {"Accept-Encoding": "identity"}, f="json", limit=200)
    assert "Content-Encoding" not in plain.headers
    assert plain.headers["ETag"] != raw.headers["ETag"]


def test_html_items_page_shows_the_map(api):
    response = get(f"{api}{ITEMS}", f="html", limit=5)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/html")
    # The map element carries its data as JSON in an attribute (tests/pages checks it draws).
    assert "/assets/vendor/leaflet/" in response.text and "id=\"gp-map\"" in response.text


def test_conformance_declares_only_what_the_suite_checks(api):
    classes = set(get(f"{api}/conformance", f="json").json()["conformsTo"])
    assert (
        "http://www.opengis.net/spec/ogcapi-features-4/1.0/conf/create-replace-delete"
        not in classes
    )
    assert "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/filter" in classes
    assert "http://www.opengis.net/spec/cql2/1.0/conf/cql2-json" in classes


def test_rebuild_with_changed_data_gives_200_and_a_new_etag(shared_data, tmp_path):
    data = tmp_path / "data"
    folder = data / "admin_france_geojson_occitanie"
    folder.mkdir(parents=True)
    source = folder / "departements-occitanie.geojson"
    shutil.copy(shared_data / "admin_france_geojson_occitanie" / source.name, source)
    (data / "README.md").write_text("private copy\n")
    env = cli_env(tmp_path / "var", data)
    assert run_cli(env, "build", "departements").returncode == 0
    server = Server(env, workers=1)
    try:
        url = f"{server.url}/collections/departements/items/34"
        first = get(url, f="json")
        assert first.status_code == 200
        collection = json.loads(source.read_text(encoding="utf-8"))
        for feature in collection["features"]:
            if feature["properties"]["code"] == "34":
                feature["properties"]["nom"] = "Hérault (modifié)"
        source.write_text(json.dumps(collection), encoding="utf-8")
        result = run_cli(env, "build", "departements")
        assert result.returncode == 0, result.stderr
        second = get(url, {"If-None-Match": first.headers["ETag"]}, f="json")
        assert second.status_code == 200
        assert second.headers["ETag"] != first.headers["ETag"]
        assert second.json()["properties"]["nom"] == "Hérault (modifié)"
        assert get(url, {"If-None-Match": second.headers["ETag"]}, f="json").status_code == 304
    finally:
        server.stop()


@pytest.mark.parametrize(
    "params",
    [
        {"limit": 7},
        {"limit": 5, "offset": 2430},
        {"bbox": "1.35,43.55,1.52,43.67", "limit": 50, "sortby": "-nom"},
        {"departement": "48", "properties": "nom", "skipGeometry": "true", "limit": 20},
        {"resulttype": "hits"},
        {"filter": "departement = '34' AND nom LIKE 'Saint-%'", "limit": 100},
    ],
)
def test_direct_json_path_gives_pygeoapis_document(api, params):
    direct = get(f"{api}{ITEMS}", f="json", **params).json()
    stock = get(f"{api}{ITEMS}", {"Accept": "application/geo+json"}, **params).json()
    for key in ("type", "numberMatched", "numberReturned", "features"):
        assert direct[key] == stock[key], key
    assert sorted(x["rel"] for x in direct["links"]) == sorted(x["rel"] for x in stock["links"])


def test_direct_json_path_gives_pygeoapis_feature(api):
    direct = get(f"{api}{ITEMS}/31555", f="json").json()
    stock = get(f"{api}{ITEMS}/31555", {"Accept": "application/geo+json"}).json()
    assert direct == stock
