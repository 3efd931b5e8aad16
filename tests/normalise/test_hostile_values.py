"""Hostile values in producer data: NaN/infinite coordinates, unsafe characters in ids."""

from __future__ import annotations

import json
import math
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyogrio
import pytest
import shapely
import yaml
from gpsupport import cli_env, layer_spec, run_cli

IDS = ['a"b', "<script>", "x\x01y", "ok", "50%", "tab\there", "é"]
ENCODED = ["a%22b", "%3Cscript%3E", "x%01y", "ok", "50%25", "tab%09here", "é"]


def spec(path: str, **extra: object) -> dict:
    conform = {"fields": [{"name": "code", "type": "string"}]}
    return layer_spec({"path": path}, conform=conform, **extra)


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> dict:
    base = tmp_path_factory.mktemp("values")
    data = base / "data"
    data.mkdir()
    nan = gpd.GeoDataFrame(
        {"code": ["good", "nan_x", "inf_y", "good2"]},
        geometry=[
            shapely.Point(3.87, 43.61),
            shapely.Point(np.nan, 43.6),
            shapely.Point(3.8, np.inf),
            shapely.Point(3.9, 43.7),
        ],
        crs="EPSG:4326",
    )
    pyogrio.write_dataframe(nan, data / "nan.gpkg")
    features = [
        {
            "type": "Feature",
            "properties": {"code": code},
            "geometry": {"type": "Point", "coordinates": [3.8 + i / 100, 43.6]},
        }
        for i, code in enumerate(IDS)
    ]
    (data / "ids.geojson").write_text(
        json.dumps({"type": "FeatureCollection", "features": features})
    )
    specs = base / "collections/test"
    specs.mkdir(parents=True)
    (specs / "nan.yml").write_text(yaml.safe_dump(spec("nan.gpkg")))
    (specs / "ids.yml").write_text(yaml.safe_dump(spec("ids.geojson")))
    env = cli_env(base / "var", data, GEOPUBLISH_COLLECTIONS_DIR=str(base / "collections"))
    result = run_cli(env, "build")
    return {"base": base, "result": result}


def report(var: Path, cid: str) -> dict:
    return json.loads(sorted((var / "reports" / cid).glob("*.json"))[-1].read_text())


def test_nan_and_infinite_coordinates_are_dropped_and_counted(built):
    result = built["result"]
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    stored = gpd.read_file(built["base"] / "var/store/nan/current.gpkg", layer="nan")
    assert sorted(stored["code"]) == ["good", "good2"]
    assert all(math.isfinite(v) for v in stored.total_bounds)
    features = report(built["base"] / "var", "nan")["features"]
    assert features["dropped"] == {"NaN or infinite coordinates": 2}
    assert "nan: published v1: 2 written, 4 read, 0 repaired, 2 dropped" in result.stdout


def test_unsafe_characters_in_ids_are_percent_encoded(built):
    assert built["result"].returncode == 0, built["result"].stderr
    stored = gpd.read_file(built["base"] / "var/store/ids/current.gpkg", layer="ids")
    assert sorted(stored["code"]) == sorted(ENCODED)
    assert report(built["base"] / "var", "ids")["features"]["ids_encoded"] == 5
