"""Row-level validation for national schemas written as JSON Schema over GeoJSON.

Such schemas (aménagements cyclables) refer to ``https://geojson.org/schema/*.json``. Those
references resolve offline to ``schemas/geojson.json`` (RFC 7946 written as JSON Schema for
geopublish), so validation never fetches anything. Each feature is validated on its own,
inside a one-feature collection, so one bad feature is quarantined and the others pass.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path
from typing import Any

from jsonschema import Draft7Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7

from geopublish.validate.rows import Problem

GEOJSON = Path(__file__).with_name("schemas") / "geojson.json"
BASE = "https://geojson.org/schema/"
NAMES = (
    "Point", "LineString", "Polygon", "MultiPoint", "MultiLineString", "MultiPolygon",
    "GeometryCollection", "Geometry", "Feature", "FeatureCollection",
)  # fmt: skip


@lru_cache(maxsize=1)
def registry() -> Registry:
    """geojson.org's schema URLs, each mapped to the local definition of the same name."""
    defs = json.loads(GEOJSON.read_text(encoding="utf-8"))
    resources = []
    for name in NAMES:
        doc = {"$schema": "http://json-schema.org/draft-07/schema#", **defs, "$ref":
               f"#/$defs/{name}"}  # fmt: skip
        resources.append((f"{BASE}{name}.json", Resource(contents=doc, specification=DRAFT7)))
    return Registry().with_resources(resources)


def _rule_field(error: Any) -> tuple[str, str]:
    path = [str(p) for p in error.absolute_path]
    # features / 0 / properties / <name> / ...
    if len(path) >= 4 and path[2] == "properties":
        name = path[3]
    elif len(path) >= 3:
        name = path[2]
    else:
        name = "feature"
    if error.validator == "required" and isinstance(error.instance, dict):
        missing = [r for r in error.validator_value if r not in error.instance]
        name = missing[0] if missing else name
    return name, str(error.validator)


def feature_problems(schema: dict, features: Iterable[dict]) -> list[Problem]:
    """Every failure of each feature against ``schema`` (index in ``features``)."""
    validator = Draft7Validator(schema, registry=registry())
    problems = []
    for index, feature in enumerate(features):
        doc = {"type": "FeatureCollection", "features": [feature]}
        for error in validator.iter_errors(doc):
            name, rule = _rule_field(error)
            value = json.dumps(error.instance, ensure_ascii=False)[:200]
            message = f"{name} : {value[:60]} : {error.message[:200]}"
            problems.append(Problem(index, name, value, rule, message))
    return problems
