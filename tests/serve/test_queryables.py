"""publish.queryables: only declared fields can be filtered on, over both stores."""

from __future__ import annotations

import json
import os

import pytest
import requests
import yaml
from gpsupport import Server, cli_env, run_cli
from pgsupport import drop_schema, postgis_dsn  # noqa: F401
from test_postgis_api import parks_spec


@pytest.fixture(scope="module", params=["gpkg", "postgis"])
def parks(request, shared_data, tmp_path_factory):
    """Parks with `publish.queryables: [classe]`, built on one store and served."""
    dsn = request.getfixturevalue("postgis_dsn") if request.param == "postgis" else None
    root = tmp_path_factory.mktemp(f"queryables-{request.param}")
    spec = parks_spec(shared_data)
    spec["publish"] = {"title_field": "nom", "queryables": ["classe"]}
    (root / "collections/test").mkdir(parents=True)
    (root / "collections/test/parks.yml").write_text(yaml.safe_dump(spec))
    extra = {
        "GEOPUBLISH_COLLECTIONS_DIR": str(root / "collections"),
        "GEOPUBLISH_STORE": request.param,
    }
    schema = None
    if request.param == "postgis":
        schema = f"gp_q_{os.getpid()}".lower()
        extra.update(GEOPUBLISH_POSTGIS_DSN=dsn, GEOPUBLISH_POSTGIS_SCHEMA=schema)
    env = cli_env(root / "var", shared_data, **extra)
    result = run_cli(env, "build")
    assert result.returncode == 0, result.stderr
    server = Server(env, workers=1)
    yield f"{server.url}/collections/parks"
    server.stop()
    if schema:
        drop_schema(dsn, schema)


def items(url: str, **params: str) -> requests.Response:
    return requests.get(f"{url}/items", params={"f": "json", "limit": "1000", **params}, timeout=60)


def test_queryables_lists_only_the_declared_fields(parks):
    body = requests.get(f"{parks}/queryables", params={"f": "json"}, timeout=60).json()
    assert set(body["properties"]) == {"classe", "geometry"}
    page = requests.get(f"{parks}/queryables", params={"f": "html"}, timeout=60)
    assert page.status_code == 200 and "classe" in page.text
    assert "surface_m2" not in page.text and "parc_id" not in page.text
    schema = requests.get(f"{parks}/schema", params={"f": "json"}, timeout=60).json()
    assert {"parc_id", "nom", "classe", "surface_m2"} <= set(schema["properties"])


def test_declared_field_filters(parks):
    every = items(parks).json()["features"]
    expected = sorted(f["id"] for f in every if f["properties"]["classe"] == "ILOT")
    assert expected
    by_property = items(parks, classe="ILOT").json()["features"]
    by_cql = items(parks, filter="classe = 'ILOT'").json()["features"]
    by_json = items(
        parks,
        **{
            "filter-lang": "cql2-json",
            "filter": json.dumps({"op": "=", "args": [{"property": "classe"}, "ILOT"]}),
        },
    ).json()["features"]
    for found in (by_property, by_cql, by_json):
        assert sorted(f["id"] for f in found) == expected


@pytest.mark.parametrize(
    "params",
    [
        {"nom": "Parc Zoologique"},
        {"filter": "surface_m2 > 1000"},
        {"filter": "classe = 'EV' AND nom LIKE 'Parc%'"},
        {"filter-lang": "cql2-json", "filter": '{"op": ">", "args": [{"property": "parc_id"}, 3]}'},
        {"nom": "x", "crs": "http://www.opengis.net/def/crs/EPSG/0/2154"},  # pygeoapi's own path
    ],
)
def test_undeclared_field_filter_is_a_400_naming_it(parks, params):
    response = items(parks, **params)
    assert response.status_code == 400, response.text[:300]
    assert "not queryable" in response.text and "classe" in response.text


def test_sorting_and_selection_stay_open_to_every_field(parks):
    response = items(parks, sortby="-surface_m2", properties="nom,surface_m2")
    assert response.status_code == 200
    areas = [f["properties"]["surface_m2"] for f in response.json()["features"]]
    assert areas == sorted(areas, reverse=True)
