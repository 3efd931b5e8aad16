"""A bad spec blocks only itself: the others build, its served version stays, exit 1."""

from __future__ import annotations

import json

import yaml
from gpsupport import cli_env, layer_spec, run_cli


def points(code: str) -> dict:
    return {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": {"code": code},
                "geometry": {"type": "Point", "coordinates": [3.87, 43.61]},
            }
        ],
    }


def spec(path: str) -> dict:
    return layer_spec({"path": path})


def test_one_invalid_spec_does_not_stop_build_or_refresh(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    specs = tmp_path / "collections/test"
    specs.mkdir(parents=True)
    for cid in ("alpha", "beta", "gamma"):
        (data / f"{cid}.geojson").write_text(json.dumps(points(cid)))
        (specs / f"{cid}.yml").write_text(yaml.safe_dump(spec(f"{cid}.geojson")))
    env = cli_env(tmp_path / "var", data, GEOPUBLISH_COLLECTIONS_DIR=str(tmp_path / "collections"))
    first = run_cli(env, "build")
    assert first.returncode == 0, first.stderr
    config = tmp_path / "var/pygeoapi-config.yml"
    beta_before = yaml.safe_load(config.read_text())["resources"]["beta"]

    broken = spec("beta.geojson")
    broken["geometry"]["tpye"] = "Point"
    (specs / "beta.yml").write_text(yaml.safe_dump(broken))
    for cid in ("alpha", "gamma"):
        (data / f"{cid}.geojson").write_text(json.dumps(points(cid + "2")))

    result = run_cli(env, "refresh")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr + result.stdout
    assert result.stderr.splitlines() == [
        f"error: {specs / 'beta.yml'}: geometry.tpye: unknown key (typo?)"
    ]
    assert "alpha: published v2" in result.stdout
    assert "gamma: published v2" in result.stdout
    resources = yaml.safe_load(config.read_text())["resources"]
    assert resources["beta"] == beta_before  # still served as before

    (data / "alpha.geojson").write_text(json.dumps(points("alpha3")))
    built = run_cli(env, "build")
    assert built.returncode == 1
    assert built.stderr.splitlines() == [
        f"error: {specs / 'beta.yml'}: geometry.tpye: unknown key (typo?)"
    ]
    assert "alpha: published v3" in built.stdout
    assert "beta" not in built.stdout
    assert set(yaml.safe_load(config.read_text())["resources"]) >= {"alpha", "beta", "gamma"}

    only_bad = run_cli(env, "build", "beta")
    assert only_bad.returncode == 1
    assert "alpha" not in only_bad.stdout
