"""Bad input: one line naming the layer and the problem, and what is served stays served."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
import yaml
from gpsupport import REPO, Server, cli_env, run_cli

PARKS = "montpellier_opendata/VilleMTP_MTP_EspacesVertsSurface/VilleMTP_MTP_EspacesVertsSurface.zip"


def spec(data: Path, **changes: object) -> dict:
    base = yaml.safe_load((REPO / "collections/environment/parks_montpellier.yml").read_text())
    base["source"]["parts"] = [{"path": str(data / PARKS)}]
    base.update(changes)
    return base


@pytest.fixture(scope="module")
def served(shared_data, tmp_path_factory):
    """A private catalogue with one layer 'layer', built and served."""
    root = tmp_path_factory.mktemp("bad")
    (root / "collections/test").mkdir(parents=True)
    env = cli_env(root / "var", shared_data, GEOPUBLISH_COLLECTIONS_DIR=str(root / "collections"))
    write_spec(root, spec(shared_data))
    result = run_cli(env, "build")
    assert result.returncode == 0, result.stderr
    server = Server(env, workers=1)
    yield {"root": root, "env": env, "url": server.url, "data": shared_data}
    server.stop()


def write_spec(root: Path, content: dict | str) -> None:
    text = content if isinstance(content, str) else yaml.safe_dump(content, allow_unicode=True)
    (root / "collections/test/layer.yml").write_text(text)


def snapshot(served: dict) -> tuple[str, str]:
    url = f"{served['url']}/collections/layer/items?f=json&limit=10000"
    body = requests.get(url, timeout=30).json()
    link = (served["root"] / "var/store/layer/current.gpkg").resolve()
    return json.dumps(body["features"], sort_keys=True), str(link)


def bad_build(served: dict, content: dict | str) -> list[str]:
    before = snapshot(served)
    write_spec(served["root"], content)
    result = run_cli(served["env"], "build", "layer")
    assert result.returncode != 0
    assert snapshot(served) == before
    return result.stderr.strip().splitlines()


def test_missing_file(served):
    lines = bad_build(served, spec(served["data"], source={"parts": [{"path": "nowhere/x.shp"}]}))
    assert lines == [
        f"error: collection 'layer': source file '{served['data'].resolve()}/nowhere/x.shp' not "
        f"found and no url to fetch it from (source root: {served['data']})"
    ]


def test_corrupt_file(served, tmp_path):
    bad = tmp_path / "corrupt.geojson"
    bad.write_bytes(b'{"type": "FeatureCollection", "features": [{"type": "Feat')
    lines = bad_build(served, spec(served["data"], source={"parts": [{"path": str(bad)}]}))
    assert len(lines) == 1
    assert lines[0].startswith(f"error: collection 'layer': cannot read '{bad}'")


def test_unknown_column_in_conform(served):
    content = spec(served["data"])
    content["conform"]["fields"][1]["source"] = "LIBELE"
    lines = bad_build(served, content)
    assert len(lines) == 1
    assert lines[0].startswith(
        "error: collection 'layer': conform.fields[1] ('nom'): column 'LIBELE' not found in "
    )
    assert "'LIBEL'" in lines[0]  # the real columns are listed


def test_mislabelled_crs(served):
    path = served["data"] / (
        "montpellier_opendata/VilleMTP_AggloMTP_PistesCyclables/"
        "VilleMTP_AggloMTP_PistesCyclables.kml.geojson"
    )
    content = yaml.safe_load(
        (REPO / "collections/transport/cycle_paths_montpellier.yml").read_text()
    )
    content["source"]["parts"] = [{"path": str(path)}]
    lines = bad_build(served, content)
    assert len(lines) == 1
    assert "cannot be EPSG:4326 (degrees)" in lines[0]
    assert "set `source.crs: EPSG:2154` in the spec" in lines[0]
    assert lines[0].startswith("error: collection 'layer': coordinates in ")


def test_typo_key(served):
    content = spec(served["data"])
    content["geometry"] = {"tpye": "MultiPolygon"}
    lines = bad_build(served, content)
    layer = served["root"] / "collections/test/layer.yml"
    assert lines == [
        f"error: {layer}: geometry.type: Field required",
        f"error: {layer}: geometry.tpye: unknown key (typo?)",
    ]


def test_sigkill_while_writing_keeps_served_layer_and_next_build_succeeds(served):
    before = snapshot(served)
    # Many small batches of a repeated source make the write long enough to interrupt.
    content = spec(served["data"])
    content["source"]["parts"] = [{"path": str(served["data"] / PARKS)}] * 40
    content["dedupe"] = {"fields": ["parc_id"]}
    content["checks"] = {"max_drop_ratio": 1.0}
    write_spec(served["root"], content)
    env = {**served["env"], "GEOPUBLISH_BATCH_SIZE": "20"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "geopublish", "build", "layer"],
        env=env,
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    staging = served["root"] / "var/store/layer"
    deadline = time.monotonic() + 120
    while not any(staging.glob(".staging-*.gpkg")) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert any(staging.glob(".staging-*.gpkg")), "build never started writing"
    time.sleep(0.3)
    os.kill(proc.pid, signal.SIGKILL)
    assert proc.wait() == -signal.SIGKILL  # killed mid-build, not finished or failed
    assert snapshot(served) == before
    write_spec(served["root"], spec(served["data"]))
    result = run_cli(served["env"], "build", "layer")
    assert result.returncode == 0, result.stderr
    assert not any(staging.glob(".staging-*"))
