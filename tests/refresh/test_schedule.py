"""Schedules from specs, and `geopublish up` refreshing layers and specs on its own."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import pytest
import requests
import yaml
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from gpsupport import REPO, cli_env, free_port, run_cli
from httpfiles import points, points_spec, write_points

from geopublish.catalog.models import CollectionSpec
from geopublish.errors import CatalogError
from geopublish.refresh.schedule import trigger_for


def spec(refresh: dict | None) -> CollectionSpec:
    out = CollectionSpec.model_validate(points_spec({"path": "x.geojson"}, refresh=refresh))
    out.id = "layer"
    return out


def test_interval_and_cron_become_triggers():
    interval = trigger_for(spec({"interval": "6h"}))
    assert isinstance(interval, IntervalTrigger) and interval.interval.total_seconds() == 21600
    assert isinstance(trigger_for(spec({"cron": "0 3 * * 1"})), CronTrigger)
    assert trigger_for(spec(None)) is None


def test_bad_cron_names_collection_field_and_value():
    with pytest.raises(CatalogError) as err:
        trigger_for(spec({"cron": "0 3 * *"}))
    assert str(err.value).startswith("collection 'layer': refresh.cron: '0 3 * *' is not a cron")


def test_up_refreshes_on_schedule_and_picks_up_new_specs(tmp_path):
    data = tmp_path / "data/points.geojson"
    write_points(data, points(50, gen=0))
    specs = tmp_path / "collections/test"
    specs.mkdir(parents=True)
    body = points_spec({"path": str(data)}, refresh={"interval": "1s"})
    (specs / "layer.yml").write_text(yaml.safe_dump(body))
    env = cli_env(
        tmp_path / "var",
        tmp_path / "data",
        GEOPUBLISH_COLLECTIONS_DIR=str(tmp_path / "collections"),
        GEOPUBLISH_WATCH_INTERVAL="1",
    )
    port = free_port()
    log = open(tmp_path / "up.log", "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "geopublish", "up", "--port", str(port), "--workers", "1"],
        env=env,
        cwd=REPO,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait(lambda: gens(url, "layer") == {0}, proc, tmp_path)
        write_points(data, points(60, gen=1))
        wait(lambda: gens(url, "layer") == {1}, proc, tmp_path)
        (specs / "other.yml").write_text(yaml.safe_dump(points_spec({"path": str(data)})))
        wait(lambda: gens(url, "other") == {1}, proc, tmp_path)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
        log.close()
    runs = run_cli(env, "history", "layer", "--limit", "10000").stdout  # every run, not the last 20
    assert "schedule" in runs and "startup" in runs
    leftover = subprocess.run(["pgrep", "-f", f"schedule --no-initial --parent {proc.pid}"])
    assert leftover.returncode == 1, "the scheduler outlived the server"


def gens(url: str, cid: str) -> set[int] | None:
    try:
        resp = requests.get(f"{url}/collections/{cid}/items?f=json&limit=1000", timeout=5)
    except requests.RequestException:
        return None
    if resp.status_code != 200:
        return None
    return {f["properties"]["gen"] for f in resp.json()["features"]}


def wait(ok, proc: subprocess.Popen, folder, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError((folder / "up.log").read_text()[-3000:])
        if ok():
            return
        time.sleep(0.3)
    raise AssertionError("timed out; log: " + (folder / "up.log").read_text()[-3000:])
