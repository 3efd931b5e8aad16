"""Hostile specs end in one short line: alias bombs, huge echoed values, reserved ids."""

from __future__ import annotations

import time

import pytest
import yaml
from gpsupport import cli_env, run_limited

GB = 1024**3


def bomb(levels: int = 9) -> str:
    lines = ["title: &a0 lol"]
    for i in range(1, levels + 1):
        prev = ", ".join([f"*a{i - 1}"] * 9)
        lines.append(f"k{i}: &a{i} [{prev}]")
    lines.append(
        f"description: *a{levels}\nlicence: {{name: x}}\nattribution: x\n"
        "source: {parts: [{path: x.geojson}]}"
    )
    return "\n".join(lines) + "\n"


@pytest.fixture()
def catalogue(tmp_path):
    specs = tmp_path / "collections/test"
    specs.mkdir(parents=True)
    env = cli_env(tmp_path / "var", tmp_path, GEOPUBLISH_COLLECTIONS_DIR=str(specs.parent))
    return specs, env


@pytest.mark.parametrize("command", ["check", "build"])
def test_a_billion_laughs_spec_is_one_line_in_bounded_memory(catalogue, command):
    specs, env = catalogue
    text = bomb()
    assert len(text) < 1024  # 9^9 = 387M strings once expanded
    (specs / "laughs.yml").write_text(text)
    started = time.monotonic()
    result = run_limited(env, command, limit=GB, timeout=120)
    assert time.monotonic() - started < 60
    assert result.returncode == 1
    assert "Traceback" not in result.stderr + result.stdout
    assert "MemoryError" not in result.stderr
    assert result.stderr.splitlines() == [
        f"error: {specs / 'laughs.yml'}: YAML expands to more than 100000 values once its "
        "aliases (&/*) are expanded; refused (write the values out, or use fewer nested aliases)"
    ]


def test_a_few_aliases_still_load(catalogue):
    specs, env = catalogue
    (specs / "ok.yml").write_text(
        "title: &t Points\ndescription: *t\nlicence: {name: x}\nattribution: *t\n"
        "source: {parts: [{path: x.geojson}]}\n"
    )
    result = run_limited(env, "check", limit=GB, timeout=120)
    assert result.returncode == 0, result.stderr


def test_echoed_values_are_truncated(catalogue):
    specs, env = catalogue
    content = {
        "title": "t",
        "description": "d",
        "licence": {"name": "x"},
        "attribution": "x",
        "source": {"parts": [{"path": "x.geojson"}], "kind": "v" * 100_000},
        "conform": {"fields": [{"name": "a"}, {"name": "b", "type": "X" * 50_000}]},
    }
    (specs / "long.yml").write_text(yaml.safe_dump(content))
    result = run_limited(env, "check", limit=GB, timeout=120)
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert len(lines) == 2
    assert all(len(line) < 600 for line in lines), [len(line) for line in lines]
    assert lines[0].startswith(f"error: {specs / 'long.yml'}: source.kind: Input should be ")
    assert lines[0].endswith("(got '" + "v" * 96 + "...)")
    assert lines[1].startswith(f"error: {specs / 'long.yml'}: conform.fields[1].type: ")


@pytest.mark.parametrize("cid", ["gpkg_layers", "sqlite_stat", "rtree_index"])
def test_reserved_geopackage_prefixes_are_refused_by_check(catalogue, cid):
    specs, env = catalogue
    content = {
        "title": "t",
        "description": "d",
        "licence": {"name": "x"},
        "attribution": "x",
        "source": {"parts": [{"path": "x.geojson"}]},
    }
    (specs / f"{cid}.yml").write_text(yaml.safe_dump(content))
    result = run_limited(env, "check", limit=GB, timeout=120)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"error: {specs / f'{cid}.yml'}: id {cid!r} starts with a prefix GeoPackage and SQLite "
        "reserve ['gpkg', 'sqlite_', 'rtree_']; rename the file"
    ]
