"""JSON Schema national schemas (GeoJSON) validated per feature, offline."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from geopublish.validate.features import feature_problems

pytestmark = pytest.mark.data
SCHEMA = "federation/amenagements_cyclables/schema"


@pytest.fixture(scope="module")
def cycling(shared_data: Path) -> tuple[dict, dict]:
    folder = shared_data / SCHEMA
    schema = json.loads((folder / "schema_amenagements_cyclables.json").read_text())
    example = json.loads((folder / "exemple-valide.json").read_text())
    return schema, example


def test_the_schemas_valid_example_passes_with_geojson_resolved_offline(cycling):
    schema, example = cycling
    assert feature_problems(schema, example["features"]) == []


def test_each_bad_feature_is_named_by_field_value_and_rule(cycling):
    schema, example = cycling
    good = example["features"][0]
    missing = copy.deepcopy(good)
    del missing["properties"]["id_local"]
    null_text = copy.deepcopy(good)
    null_text["properties"]["ame_d"] = "null"  # the string, which the schema forbids
    bad_geometry = copy.deepcopy(good)
    bad_geometry["geometry"] = {"type": "LineString", "coordinates": [[2.3, 48.8]]}
    problems = feature_problems(schema, [good, missing, null_text, bad_geometry])
    by_row = {}
    for p in problems:
        by_row.setdefault(p.index, []).append((p.field, p.rule))
    assert 0 not in by_row
    assert ("id_local", "required") in by_row[1]
    assert by_row[2] and all(f == "ame_d" for f, _ in by_row[2])
    assert "null" in next(p.value for p in problems if p.index == 2)
    assert by_row[3] and by_row[3][0][0] == "geometry"
