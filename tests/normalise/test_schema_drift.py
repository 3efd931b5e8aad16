"""Schema drift across parts: optional fields and alternative source names."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import geopandas as gpd
import pytest
import yaml
from gpsupport import cli_env, run_cli


def collection(rows: list[dict]) -> str:
    features = [
        {
            "type": "Feature",
            "properties": row,
            "geometry": {"type": "Point", "coordinates": [3.8 + i / 100, 43.6]},
        }
        for i, row in enumerate(rows)
    ]
    return json.dumps({"type": "FeatureCollection", "features": features})


def spec(fields: list[dict]) -> dict:
    return {
        "title": "t",
        "description": "t",
        "licence": {"name": "Licence Ouverte 2.0"},
        "attribution": "test",
        "source": {"parts": [{"path": "new.geojson"}, {"path": "old.zip!export/old.geojson"}]},
        "conform": {"fields": fields},
        "feature_id": {"fields": ["code"]},
        "geometry": {"type": "Point", "promote_to_multi": False},
    }


FIELDS = [
    {"name": "code", "source": ["id_local", "idlocal"]},
    {"name": "nom"},
    {"name": "places", "type": "integer", "optional": True},
]


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> dict:
    base = tmp_path_factory.mktemp("drift")
    data = base / "data"
    data.mkdir()
    (data / "new.geojson").write_text(
        collection(
            [
                {"id_local": "n1", "nom": "Gare", "places": 12},
                {"id_local": "n2", "nom": "Port", "places": 3},
            ]
        )
    )
    with zipfile.ZipFile(data / "old.zip", "w") as zf:
        zf.writestr(
            "export/old.geojson",
            collection([{"idlocal": "o1", "nom": "Halles"}, {"idlocal": "o2", "nom": "Pont"}]),
        )
    specs = base / "collections/test"
    specs.mkdir(parents=True)
    env = cli_env(base / "var", data, GEOPUBLISH_COLLECTIONS_DIR=str(base / "collections"))
    return {"base": base, "data": data.resolve(), "specs": specs, "env": env}


def build(tree: dict, cid: str, fields: list[dict]):
    (tree["specs"] / f"{cid}.yml").write_text(yaml.safe_dump(spec(fields)))
    result = run_cli(tree["env"], "build", cid)
    assert "Traceback" not in result.stdout + result.stderr
    return result


def report(var: Path, cid: str) -> dict:
    return json.loads(sorted((var / "reports" / cid).glob("*.json"))[-1].read_text())


def test_optional_and_alternative_columns_across_parts(tree):
    result = build(tree, "drift", FIELDS)
    assert result.returncode == 0, result.stderr
    stored = gpd.read_file(tree["base"] / "var/store/drift/current.gpkg", layer="drift")
    rows = {
        r.code: (r.nom, None if r.places != r.places else int(r.places))
        for r in stored.itertuples()
    }
    assert rows == {
        "n1": ("Gare", 12),
        "n2": ("Port", 3),
        "o1": ("Halles", None),
        "o2": ("Pont", None),
    }
    absent = report(tree["base"] / "var", "drift")["features"]["absent"]
    assert absent == {f"{tree['data'] / 'old.zip'}!export/old.geojson": {"places": 2}}


def test_a_required_column_missing_names_the_zip_member(tree):
    fields = [dict(FIELDS[0]), {"name": "nom"}, {"name": "places", "type": "integer"}]
    result = build(tree, "strict", fields)
    assert result.returncode == 1
    (line,) = result.stderr.strip().splitlines()
    member = f"{tree['data'] / 'old.zip'}!export/old.geojson"
    assert line.startswith(
        f"error: collection 'strict': conform.fields[2] ('places'): column 'places' not found "
        f"in {member!r}; its columns are ['idlocal', 'nom']"
    ), line


def test_no_alternative_present_lists_them(tree):
    fields = [{"name": "code", "source": ["ident", "id"]}, {"name": "nom"}]
    result = build(tree, "alts", fields)
    assert result.returncode == 1
    assert "column any of ['ident', 'id'] not found in " in result.stderr
