"""The request model on both stores: every malformed value a 400 with its reason, never a 5xx;
the same CQL2 answers from GeoPackage and PostGIS; datetime, OpenAPI limit, values as stored."""

from __future__ import annotations

import gzip
import json
import os
import re
from pathlib import Path

import pytest
import requests
import yaml
from gpsupport import Server, cli_env, run_cli

ITEMS = "/collections/communes/items"
POLYGON = {"type": "Polygon", "coordinates": [[1, 2]]}


def get(url: str, headers: dict | None = None, **params: object) -> requests.Response:
    return requests.get(url, params={"f": "json", **params}, headers=headers or {}, timeout=120)


@pytest.mark.parametrize(
    ("path", "params", "reason"),
    [
        (ITEMS, {"limit": "true"}, "limit 'true'"),
        (ITEMS, {"limit": "0"}, "limit 0"),
        (ITEMS, {"offset": str(2**70)}, "offset"),
        (ITEMS, {"bbox": "nan,43,2,44"}, "finite"),
        (ITEMS, {"bbox": "1,43,inf,44"}, "finite"),
        (ITEMS, {"bbox": "1,44,2,43"}, "lower corner"),
        (ITEMS, {"code": "a\x00b"}, "NUL"),
        (ITEMS, {"filter": "nom = 'a\x00b'"}, "NUL"),
        (ITEMS, {"filter": "NOT (" * 50 + "departement = '34'" + ")" * 50}, "nested 50 levels"),
        (
            ITEMS,
            {
                "filter-lang": "cql2-json",
                "filter": json.dumps(
                    {"op": "s_intersects", "args": [{"property": "geometry"}, POLYGON]}
                ),
            },
            "geometry",
        ),
        (ITEMS, {"datetime": "2020-13-45"}, "datetime"),
        (ITEMS, {"datetime": "2021-01-01/2020-01-01"}, "datetime"),
        (ITEMS, {"limit": "5", "bbox-crs": "urn:nope"}, "bbox-crs"),
        (ITEMS, {"filter": "S_INTERSECTS(nom, POINT(1 43))"}, "spatial predicates compare"),
        ("/collections/carpooling_places/items", {"filter": f"nbre_pl > {2**70}"}, "64 bits"),
        ("/collections/carpooling_places/items", {"nbre_pl": str(2**70)}, "cannot compare"),
        ("/collections/dem_cevennes/coverage", {"bbox": "0,0,0,0"}, "bbox"),
        ("/collections/dem_cevennes/coverage", {"bbox": "10,10,11,11"}, "does not overlap"),
        ("/collections/dem_cevennes/coverage", {"bbox": "3.5,44,3.6,44.1", "bbox-crs": "x"}, "x"),
    ],
)
def test_a_malformed_value_is_a_400_with_its_reason(api, path, params, reason):
    if "coverage" in path:
        response = requests.get(f"{api}{path}", params=params, timeout=120)
    else:
        response = get(f"{api}{path}", **params)
    assert response.status_code == 400, response.text[:500]
    body = response.json()
    assert body["code"] == "InvalidParameterValue"
    assert reason is None or reason in body["description"], body["description"]


def test_a_long_chain_of_and_is_answered_and_the_same_as_fewer_terms(api):
    many = " AND ".join(f"departement <> '{i:02d}'" for i in range(35, 130))
    long = get(f"{api}{ITEMS}", filter=f"departement = '34' AND {many}", limit=1000)
    short = get(f"{api}{ITEMS}", departement="34", limit=1000)
    assert long.status_code == 200, long.text[:300]
    assert [f["id"] for f in long.json()["features"]] == [f["id"] for f in short.json()["features"]]


def test_ogc_crs_uris_in_coverage_bbox_crs_are_understood(api):
    response = requests.get(
        f"{api}/collections/dem_cevennes/coverage",
        params={"bbox": "3.5,44,3.52,44.02", "f": "json", "bbox-crs": CRS84},
        timeout=120,
    )
    assert response.status_code == 200, response.text[:300]
    assert response.json()["type"] == "Coverage"


CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"


def test_accept_with_q_0_is_not_a_server_error(api):
    for url in (f"{api}{ITEMS}?limit=1", f"{api}/collections", f"{api}/"):
        response = requests.get(url, headers={"Accept": "application/json;q=0"}, timeout=60)
        assert response.status_code < 500, (url, response.status_code)


def test_an_error_labelled_gzip_is_gzip(api):
    raw = requests.get(
        f"{api}/?f=x", headers={"Accept-Encoding": "gzip"}, stream=True, timeout=60
    ).raw
    assert raw.status == 400
    data = raw.read(decode_content=False)
    if raw.headers.get("Content-Encoding") == "gzip":
        data = gzip.decompress(data)
    assert "code" in json.loads(data)


@pytest.mark.parametrize("path", ["/asyncapi", "/stac-api/search"])
def test_what_is_not_configured_is_404_not_501(api, path):
    assert requests.head(f"{api}{path}", timeout=60).status_code == 404
    assert requests.get(f"{api}{path}", timeout=60).status_code == 404


def test_post_to_items_takes_only_a_cql2_json_body(api):
    url = f"{api}{ITEMS}?f=json&limit=100"
    text = requests.post(url, data="hello", headers={"Content-Type": "text/plain"}, timeout=60)
    assert text.status_code == 415, text.text[:200]
    empty = requests.post(url, data="", headers={"Content-Type": "application/json"}, timeout=60)
    assert empty.status_code == 400
    junk = requests.post(url, data="{}", headers={"Content-Type": "application/json"}, timeout=60)
    assert junk.status_code == 400
    body = {"op": "=", "args": [{"property": "departement"}, "48"]}
    posted = requests.post(
        url, json=body, headers={"Content-Type": "application/query-cql-json"}, timeout=60
    )
    assert posted.status_code == 200, posted.text[:300]
    expected = get(f"{api}{ITEMS}", departement="48", limit=100).json()
    assert {f["id"] for f in posted.json()["features"]} == {f["id"] for f in expected["features"]}


def test_datetime_on_a_collection_without_time_field_is_an_empty_result(api):
    for value in ("2020-01-01", "2020-01-01T00:00:00Z", "../..", "2019-01-01/.."):
        body = get(f"{api}{ITEMS}", datetime=value).json()
        assert body["numberMatched"] == 0 and body["features"] == [], value
    html = requests.get(f"{api}{ITEMS}", params={"f": "html", "datetime": "../.."}, timeout=60)
    assert html.status_code == 200


def test_datetime_is_declared_on_every_items_path_and_limit_is_one_component(api):
    doc = requests.get(f"{api}/openapi", params={"f": "json"}, timeout=60).json()
    limit = doc["components"]["parameters"]["limit"]
    assert limit["schema"]["maximum"] >= 1000 and limit["schema"]["default"] >= 1
    assert "datetime" in doc["components"]["parameters"]
    items = [p for p in doc["paths"] if p.endswith("/items")]
    collections = requests.get(f"{api}/collections", params={"f": "json"}, timeout=60).json()
    features = [c["id"] for c in collections["collections"] if c.get("itemType") == "feature"]
    assert sorted(items) == sorted(f"/collections/{c}/items" for c in features)
    for path in items:
        refs = [p.get("$ref") for p in doc["paths"][path]["get"]["parameters"]]
        names = [p.get("name") for p in doc["paths"][path]["get"]["parameters"]]
        assert "#/components/parameters/limit" in refs and "limit" not in names, path
        assert "#/components/parameters/datetime" in refs, path


def test_rejected_requests_leave_no_stack_trace_in_the_log(store, request):
    var = request.getfixturevalue("built" if store["kind"] == "gpkg" else "postgis_built")["var"]
    port = store["url"].rsplit(":", 1)[1]
    for params in ({"limit": "true"}, {"bbox": "nan,1,2,3"}, {"filter": "nom ="}, {"x": "1"}):
        assert get(f"{store['url']}{ITEMS}", **params).status_code == 400
    for fid in ("no_such_id", "a%00b", "0"):
        for f in ("json", "html"):
            assert get(f"{store['url']}{ITEMS}/{fid}", f=f).status_code == 404, (fid, f)
    log = (Path(var) / f"server-{port}.log").read_text(encoding="utf-8", errors="replace")
    assert "Traceback" not in log, log[-3000:]


# The same CQL2 filter answers the same features, id by id, from both stores.
FILTERS = [
    ("communes", "departement = '34'"),
    ("communes", "departement IN ('09', '11', '48')"),
    ("communes", "departement NOT IN ('31', '34')"),
    ("communes", "nom LIKE 'Saint-%'"),
    ("communes", "nom LIKE '%sur-%' AND departement = '12'"),
    ("communes", "NOT (nom LIKE 'S%') AND departement = '48'"),
    ("communes", "code BETWEEN '31000' AND '31100'"),
    ("communes", "code < '09050' OR code > '82190'"),
    ("communes", "CASEI(nom) = casei('TOULOUSE')"),
    ("communes", "nom IS NULL"),
    ("communes", "S_INTERSECTS(geometry, POINT(1.4442 43.6047))"),
    ("communes", "S_INTERSECTS(geometry, BBOX(3.8, 43.5, 3.95, 43.65))"),
    ("communes", "S_WITHIN(geometry, POLYGON((3.5 43.4, 4.2 43.4, 4.2 43.9, 3.5 43.9, 3.5 43.4)))"),
    ("communes", "S_CONTAINS(geometry, POINT(3.8767 43.6108))"),
    ("communes", "S_DISJOINT(geometry, BBOX(-1, 42, 4, 45.5)) AND departement = '30'"),
    ("communes", "departement = '34' OR departement = '30' AND nom LIKE 'A%'"),
    ("carpooling_places", "nbre_pl >= 20"),
    ("carpooling_places", "nbre_pl BETWEEN 5 AND 10 AND nbre_pl <> 7"),
    ("carpooling_places", "nbre_pl IS NULL OR nbre_pl = 0"),
    ("carpooling_places", "S_INTERSECTS(geometry, BBOX(1.2, 43.4, 1.7, 43.8))"),
    ("departements", "code IN ('31', '34')"),
    ("departements", "S_TOUCHES(geometry, POINT(100 0)) OR code = '46'"),
]


@pytest.fixture(scope="module")
def both(gpkg_api, postgis_api) -> tuple[str, str]:
    return gpkg_api, postgis_api


@pytest.mark.parametrize(("cid", "text"), FILTERS)
def test_cql2_result_sets_are_identical_on_both_stores(both, cid, text):
    answers = []
    for url in both:
        response = get(
            f"{url}/collections/{cid}/items", filter=text, limit=10000, skipGeometry="true"
        )
        assert response.status_code == 200, response.text[:300]
        body = response.json()
        assert body["numberMatched"] == len(body["features"])
        answers.append([f["id"] for f in body["features"]])
    assert answers[0] == answers[1]


def test_the_filters_are_not_all_empty(gpkg_api):
    sizes = [
        get(f"{gpkg_api}/collections/{c}/items", filter=t, resulttype="hits").json()[
            "numberMatched"
        ]
        for c, t in FILTERS
    ]
    assert sum(1 for s in sizes if s > 0) >= 18, sizes


# A small layer whose values hold markup: f=json gives them back exactly as stored.
ODD = ["<b>gras</b>", 'a "quote" & <script>x</script>', "x';alert(1)//"]


def _points(root: Path) -> Path:
    features = [
        {
            "type": "Feature",
            "properties": {"code": f"p{i}", "label": label, "n": i},
            "geometry": {"type": "Point", "coordinates": [3.87 + i / 100, 43.61]},
        }
        for i, label in enumerate(ODD)
    ]
    path = root / "data" / "points.geojson"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    return path


def _spec() -> dict:
    return {
        "schema_version": 1,
        "title": "Points",
        "description": "Points de test.",
        "keywords": ["test"],
        "licence": {"name": "Licence Ouverte", "url": "https://www.etalab.gouv.fr/"},
        "attribution": "tests",
        "publisher": "tests",
        "source": {"parts": [{"path": "points.geojson"}]},
        "conform": {
            "fields": [
                {"name": "code", "type": "string", "source": "code"},
                {"name": "label", "type": "string", "source": "label"},
                {"name": "n", "type": "integer", "source": "n"},
            ]
        },
        "feature_id": {"fields": ["code"]},
        "geometry": {"type": "Point"},
        "checks": {"min_features": 1, "bbox": [3.7, 43.5, 4.0, 43.7]},
        "refresh": {"interval": "1d"},
    }


@pytest.fixture(scope="module")
def points(store, request, tmp_path_factory):
    """The small layer on the store under test, served by `geopublish serve --port P`."""
    root = tmp_path_factory.mktemp(f"points-{store['kind']}")
    data = _points(root).parent
    (root / "collections/test").mkdir(parents=True)
    (root / "collections/test/points.yml").write_text(yaml.safe_dump(_spec()))
    extra = {"GEOPUBLISH_COLLECTIONS_DIR": str(root / "collections")}
    schema = None
    if store["kind"] == "postgis":
        from pgsupport import drop_schema

        dsn = request.getfixturevalue("postgis_dsn")
        schema = f"gp_points_{os.getpid()}"
        extra.update(
            GEOPUBLISH_STORE="postgis", GEOPUBLISH_POSTGIS_DSN=dsn, GEOPUBLISH_POSTGIS_SCHEMA=schema
        )
    env = cli_env(root / "var", data, **extra)
    result = run_cli(env, "build")
    assert result.returncode == 0, result.stderr
    server = Server(env)
    yield {"url": server.url, "port": server.port, "env": env, "root": root}
    server.stop()
    if schema:
        drop_schema(dsn, schema)


def test_json_values_come_back_as_stored(points):
    body = get(f"{points['url']}/collections/points/items").json()
    assert sorted(f["properties"]["label"] for f in body["features"]) == sorted(ODD)
    # pygeoapi's own path (another CRS) too.
    other = get(
        f"{points['url']}/collections/points/items",
        crs="http://www.opengis.net/def/crs/EPSG/0/4326",
    ).json()
    assert sorted(f["properties"]["label"] for f in other["features"]) == sorted(ODD)
    one = get(f"{points['url']}/collections/points/items/p1").json()
    assert one["properties"]["label"] == ODD[1]


def test_serve_port_is_kept_by_later_builds_and_refreshes_with_default_settings(points):
    env = {k: v for k, v in points["env"].items() if k != "GEOPUBLISH_PORT"}
    config = Path(env["GEOPUBLISH_PYGEOAPI_CONFIG"])
    config.unlink()  # whatever runs next must write it again, from the deployment's settings
    for command in ("build", "refresh"):
        result = run_cli(env, command)
        assert result.returncode == 0, result.stderr
        written = yaml.safe_load(config.read_text())
        assert written["server"]["url"] == f"http://127.0.0.1:{points['port']}", command
        assert written["server"]["bind"]["port"] == points["port"]
    links = json.dumps(get(f"{points['url']}/collections").json())
    ports = set(re.findall(r"http://127\.0\.0\.1:(\d+)", links))
    assert ports == {str(points["port"])}


def test_the_openapi_document_resolves_offline(api):
    """Every $ref is local: clients and validators need no OGC schema server."""
    text = requests.get(f"{api}/openapi", params={"f": "json"}, timeout=60).text
    remote = re.findall(r'"\$ref":\s*"(https?://[^"]+)"', text)
    assert remote == []
    doc = json.loads(text)
    for ref in set(re.findall(r'"\$ref":\s*"#/([^"]+)"', text)):
        node = doc
        for part in ref.split("/"):
            node = node[part.replace("~1", "/").replace("~0", "~")]
        assert node is not None, ref
