"""Nothing is read outside GEOPUBLISH_SOURCE_ROOT: '..', absolute paths, symlinks, file://."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from gpsupport import cli_env, layer_spec, run_cli

POINTS = {
    "type": "FeatureCollection",
    "features": [
        {
            "type": "Feature",
            "properties": {"code": "a", "secret": "do not publish"},
            "geometry": {"type": "Point", "coordinates": [3.87, 43.61]},
        }
    ],
}


def spec(part: dict) -> dict:
    return layer_spec(part)


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> dict:
    base = tmp_path_factory.mktemp("contain")
    secret = base / "secret"
    secret.mkdir()
    (secret / "points.geojson").write_text(json.dumps(POINTS))
    root = base / "root"
    root.mkdir()
    (root / "inside.geojson").write_text(json.dumps(POINTS))
    (root / "link.geojson").symlink_to(secret / "points.geojson")
    (root / "linked").symlink_to(secret, target_is_directory=True)
    specs = base / "collections/test"
    specs.mkdir(parents=True)
    env = cli_env(base / "var", root, GEOPUBLISH_COLLECTIONS_DIR=str(base / "collections"))
    del env["GEOPUBLISH_SOURCE_ALLOW"]
    return {"base": base, "root": root, "secret": secret, "specs": specs, "env": env}


CASES = {
    "dotdot": ("../secret/points.geojson", "points.geojson"),
    "absolute": (None, "points.geojson"),
    "symlink": ("link.geojson", "points.geojson"),
    "pattern": ("linked/*.geojson", "points.geojson"),
    "in_zip_dotdot": ("../secret/a.zip!points.geojson", "a.zip"),
}


def test_every_escape_is_one_line_and_the_inside_layer_builds(tree):
    for cid, (path, _) in CASES.items():
        given = path or str(tree["secret"] / "points.geojson")
        (tree["specs"] / f"{cid}.yml").write_text(yaml.safe_dump(spec({"path": given})))
    (tree["specs"] / "inside.yml").write_text(yaml.safe_dump(spec({"path": "inside.geojson"})))
    result = run_cli(tree["env"], "build")
    assert result.returncode == 1
    assert "Traceback" not in result.stdout + result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == len(CASES), result.stderr
    secret = tree["secret"].resolve()
    for cid, (path, name) in CASES.items():
        given = path or str(secret / "points.geojson")
        (line,) = [e for e in errors if e.startswith(f"error: collection {cid!r}:")]
        assert f"resolves to '{secret / name}', outside the source root " in line, line
        assert repr(str(tree["root"].resolve())) in line
        assert not (tree["base"] / "var/store" / cid).exists()
        if cid != "pattern":
            assert repr(given.split("!")[0]) in line
    assert "inside: published v1: 1 written" in result.stdout
    for cid in CASES:
        (tree["specs"] / f"{cid}.yml").unlink()


def test_file_url_is_refused_by_check(tree):
    url = (tree["secret"] / "points.geojson").as_uri()
    path = tree["specs"] / "file_url.yml"
    path.write_text(yaml.safe_dump(spec({"url": url})))
    try:
        result = run_cli(tree["env"], "check")
    finally:
        path.unlink()
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"error: {path}: source.parts[0]: Value error, url {url!r} must start with http:// or "
        "https:// (a local file is a `path` inside the source root)"
    ]


def test_an_explicit_setting_widens_the_root(tree):
    (tree["specs"] / "widened.yml").write_text(
        yaml.safe_dump(spec({"path": str(tree["secret"] / "points.geojson")}))
    )
    env = {**tree["env"], "GEOPUBLISH_SOURCE_ALLOW": str(tree["secret"])}
    try:
        result = run_cli(env, "build", "widened")
    finally:
        (tree["specs"] / "widened.yml").unlink()
    assert result.returncode == 0, result.stderr
    assert "widened: published v1: 1 written" in result.stdout


def test_settings_resolve_the_root(tmp_path: Path):
    from geopublish.settings import Settings

    (tmp_path / "real").mkdir()
    (tmp_path / "alias").symlink_to(tmp_path / "real", target_is_directory=True)
    settings = Settings(source_root=tmp_path / "alias", source_allow="")
    assert settings.source_roots == [(tmp_path / "real").resolve()]
