"""A part's path may be a glob pattern: every matching file, each read once."""

from __future__ import annotations

import json
from pathlib import Path

import pyogrio
import pytest
import yaml
from gpsupport import cli_env, run_cli
from httpfiles import points, points_spec
from pydantic import ValidationError

from geopublish.catalog.models import Part
from geopublish.errors import SourceError
from geopublish.settings import Settings
from geopublish.source import expand_parts

SLICES = {"a": (0, 50), "b": (50, 90), "c": (90, 120)}


def _write(folder: Path, name: str, start: int, stop: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    features = points(stop)["features"][start:stop]
    collection = {"type": "FeatureCollection", "features": features}
    (folder / f"{name}.geojson").write_text(json.dumps(collection))


def test_pattern_expands_in_name_order_after_explicit_parts(tmp_path):
    for name, (start, stop) in SLICES.items():
        _write(tmp_path / "pts", name, start, stop)
    (tmp_path / "pts/notes.txt").write_text("not a layer")
    settings = Settings(source_root=tmp_path)
    parts = [Part(path="pts/b.geojson", url="https://example.org/b.geojson")]
    parts.append(Part(path="pts/*.geojson", layer="x"))

    expanded = expand_parts(parts, settings, "layer")

    assert expanded[0] == parts[0]  # the explicit part keeps its place and its url
    assert [Path(p.path).name for p in expanded[1:]] == ["a.geojson", "c.geojson"]
    assert all(p.layer == "x" and p.url is None for p in expanded[1:])


def test_pattern_matching_nothing_alone_is_one_line_naming_layer_and_pattern(tmp_path):
    settings = Settings(source_root=tmp_path)
    with pytest.raises(SourceError) as caught:
        expand_parts([Part(path="pts/*.geojson")], settings, "layer")
    message = str(caught.value)
    assert "\n" not in message
    assert "collection 'layer': no source file matches 'pts/*.geojson'" in message


def test_pattern_matching_nothing_beside_other_parts_is_logged_and_skipped(tmp_path, caplog):
    settings = Settings(source_root=tmp_path)
    explicit = Part(url="https://example.org/a.geojson")  # fetched: no local mirror
    expanded = expand_parts([explicit, Part(path="pts/*.geojson")], settings, "layer")
    assert expanded == [explicit]
    assert "layer: no source file matches 'pts/*.geojson'" in caplog.text


@pytest.mark.parametrize(
    "part",
    [
        {"path": "pts/*.geojson", "url": "https://example.org/a.geojson"},
        {"path": "pts/*.zip!stops.txt"},
    ],
)
def test_pattern_with_url_or_zip_member_is_refused(part):
    with pytest.raises(ValidationError, match=r"path pattern .* matches local files only"):
        Part(**part)


def test_a_file_dropped_into_the_folder_is_built_at_the_next_refresh(tmp_path):
    data = tmp_path / "data"
    for name, (start, stop) in SLICES.items():
        _write(data / "pts", name, start, stop)
    spec = tmp_path / "collections/test/layer.yml"
    spec.parent.mkdir(parents=True)
    spec.write_text(yaml.safe_dump(points_spec({"path": "pts/*.geojson"})))
    env = cli_env(tmp_path / "var", data, GEOPUBLISH_COLLECTIONS_DIR=str(tmp_path / "collections"))
    current = tmp_path / "var/store/layer/current.gpkg"

    built = run_cli(env, "build", "layer")
    assert built.returncode == 0, built.stderr
    assert sorted(pyogrio.read_dataframe(current, layer="layer")["code"]) == [
        f"P{i:04d}" for i in range(120)
    ]
    assert run_cli(env, "refresh", "layer").stdout.startswith("layer: unchanged")

    _write(data / "pts", "d", 120, 130)
    refreshed = run_cli(env, "refresh", "layer")
    assert refreshed.returncode == 0, refreshed.stderr
    assert "layer: published v2 (+10 ~0 -0)" in refreshed.stdout
    assert len(pyogrio.read_dataframe(current, layer="layer")) == 130
