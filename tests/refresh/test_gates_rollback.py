"""A refresh that halves the layer is refused (CloudEvent sent); --force and rollback."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import requests
import yaml
from gpsupport import REPO, Server, cli_env, run_cli
from httpfiles import FileServer, points, points_spec, write_points


@pytest.fixture(scope="module")
def layer(tmp_path_factory):
    root = tmp_path_factory.mktemp("gates")
    hooks = FileServer(root)
    data = root / "data/points.geojson"
    write_points(data, points(200))
    spec = root / "collections/test/layer.yml"
    spec.parent.mkdir(parents=True)
    spec.write_text(yaml.safe_dump(points_spec({"path": str(data)})))
    env = cli_env(
        root / "var",
        root / "data",
        GEOPUBLISH_COLLECTIONS_DIR=str(root / "collections"),
        GEOPUBLISH_WEBHOOK_URL=f"{hooks.url}/hook",
    )
    assert run_cli(env, "build").returncode == 0
    server = Server(env, workers=1)
    yield {"root": root, "env": env, "url": server.url, "data": data, "hooks": hooks}
    server.stop()
    hooks.stop()


def served_count(layer: dict) -> int:
    url = f"{layer['url']}/collections/layer/items?f=json&limit=1"
    return requests.get(url, timeout=10).json()["numberMatched"]


def history(layer: dict) -> list[dict]:
    result = run_cli(layer["env"], "history", "layer", "--json")
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_half_the_features_is_refused_then_forced_then_rolled_back(layer):
    write_points(layer["data"], points(100))
    result = run_cli(layer["env"], "refresh", "layer")
    assert result.returncode == 1
    assert "refused by quality gate(s): max_drop: 200 -> 100 features (-50.0%)" in result.stderr
    assert served_count(layer) == 200
    refused = history(layer)[0]
    assert refused["outcome"] == "refused" and refused["failed_gates"] == ["max_drop"]
    # CloudEvents: the first build's publication, then the refusal.
    assert [p["type"] for p in layer["hooks"].posts] == [
        "fr.geopublish.layer.published", "fr.geopublish.layer.refused",
    ]  # fmt: skip
    assert layer["hooks"].posts[1]["subject"] == "layer"
    assert layer["hooks"].posts[1]["data"]["failed_gates"] == ["max_drop"]

    again = run_cli(layer["env"], "refresh", "layer")  # same source: not rebuilt, not re-sent
    assert (
        again.returncode == 0 and "layer: unchanged; source unchanged since build" in again.stdout
    )
    assert len(layer["hooks"].posts) == 2

    forced = run_cli(layer["env"], "publish", "--force", "layer")
    assert forced.returncode == 0, forced.stderr
    assert served_count(layer) == 100
    assert history(layer)[0]["trigger"] == "forced"

    back = run_cli(layer["env"], "rollback", "layer")
    assert back.returncode == 0, back.stderr
    assert back.stdout.startswith("layer: published v1 (+100 ~0 -0); rolled back from v2 to v1")
    assert served_count(layer) == 200
    assert run_cli(layer["env"], "refresh", "layer").stdout.startswith("layer: unchanged")
    assert served_count(layer) == 200
    text = run_cli(layer["env"], "history", "layer").stdout.splitlines()
    assert [line.split()[2] for line in text[:5]] == [
        "unchanged", "published", "published", "unchanged", "refused",
    ]  # fmt: skip
    missing = run_cli(layer["env"], "rollback", "layer", "--version", "7")
    assert missing.returncode == 1
    assert missing.stderr.startswith(
        "error: collection 'layer': version 7 is not kept; kept: [1, 2]"
    )


def test_sigkill_during_refresh_keeps_layer_and_next_refresh_succeeds(layer):
    before = served_count(layer)
    write_points(layer["data"], points(20000))
    spec = layer["root"] / "collections/test/layer.yml"
    content = yaml.safe_load(spec.read_text())
    content["checks"]["max_drop_ratio"] = 1.0
    spec.write_text(yaml.safe_dump(content))
    env = {**layer["env"], "GEOPUBLISH_BATCH_SIZE": "50"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "geopublish", "refresh", "layer"],
        env=env,
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    folder = layer["root"] / "var/store/layer"
    deadline = time.monotonic() + 60
    while not any(folder.glob(".staging-*.gpkg")) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert any(folder.glob(".staging-*.gpkg")), "refresh never started writing"
    time.sleep(0.2)
    os.kill(proc.pid, signal.SIGKILL)
    assert proc.wait() == -signal.SIGKILL
    assert served_count(layer) == before
    write_points(layer["data"], points(300))
    result = run_cli(layer["env"], "refresh", "layer")
    assert result.returncode == 0, result.stderr
    assert "layer: published" in result.stdout
    assert served_count(layer) == 300
    assert not any(folder.glob(".staging-*"))
    runs = history(layer)
    assert runs[0]["outcome"] == "published"
    assert runs[1]["outcome"] == "failed" and runs[1]["error"].startswith("interrupted")
