"""Swaps under load: no failed request, each response wholly one version; specs hot-added."""

from __future__ import annotations

import threading
import time

import pytest
import requests
import yaml
from gpsupport import Server, cli_env, run_cli
from httpfiles import points, points_spec, write_points

SWAPS = 10


def count(gen: int) -> int:
    return 150 + 7 * gen


class Load:
    """Threads reading a layer's items until stopped; every response is checked."""

    def __init__(self, url: str, threads: int = 3) -> None:
        self.url = url
        self.stop = threading.Event()
        self.responses: list[tuple[int, int | None]] = []
        self.problems: list[str] = []
        self.threads = [threading.Thread(target=self.run) for _ in range(threads)]
        for thread in self.threads:
            thread.start()

    def run(self) -> None:
        session = requests.Session()
        while not self.stop.is_set():
            try:
                resp = session.get(self.url, timeout=30)
            except requests.RequestException as exc:
                self.problems.append(f"request failed: {exc!r}")
                continue
            if resp.status_code != 200:
                self.problems.append(f"HTTP {resp.status_code}")
                self.responses.append((resp.status_code, None))
                continue
            body = resp.json()
            gens = {f["properties"]["gen"] for f in body["features"]}
            gen = gens.pop() if len(gens) == 1 else None
            if (
                gen is None
                or len(body["features"]) != count(gen)
                or body["numberMatched"] != count(gen)
            ):
                self.problems.append(f"mixed response: gens {gens}, {len(body['features'])}")
            self.responses.append((200, gen))
            time.sleep(0.02)

    def finish(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join()


@pytest.fixture(scope="module")
def layer(tmp_path_factory):
    root = tmp_path_factory.mktemp("swap")
    data = root / "data/points.geojson"
    write_points(data, points(count(0), gen=0))
    spec = root / "collections/test/layer.yml"
    spec.parent.mkdir(parents=True)
    spec.write_text(yaml.safe_dump(points_spec({"path": str(data)})))
    env = cli_env(root / "var", root / "data", GEOPUBLISH_COLLECTIONS_DIR=str(root / "collections"))
    assert run_cli(env, "build").returncode == 0
    server = Server(env, workers=2)
    env["GEOPUBLISH_PORT"] = str(server.port)  # same config as the server's: data swaps only
    yield {"root": root, "env": env, "url": server.url, "data": data}
    server.stop()


def test_ten_swaps_under_load_lose_no_request_and_mix_no_versions(layer):
    load = Load(f"{layer['url']}/collections/layer/items?f=json&limit=1000")
    try:
        for gen in range(1, SWAPS + 1):
            write_points(layer["data"], points(count(gen), gen=gen))
            result = run_cli(layer["env"], "refresh", "layer")
            assert result.returncode == 0, result.stderr
            assert "layer: published" in result.stdout
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and not any(g == gen for _, g in load.responses):
                time.sleep(0.05)
    finally:
        load.finish()
    assert load.problems == []
    seen = {g for _, g in load.responses}
    assert seen == set(range(SWAPS + 1)) or seen == set(range(1, SWAPS + 1))
    assert len(load.responses) > 50


def test_new_and_edited_specs_appear_without_restart_and_without_failed_request(layer):
    load = Load(f"{layer['url']}/collections/layer/items?f=json&limit=1000", threads=2)
    try:
        extra = layer["root"] / "data/more.geojson"
        write_points(extra, points(30, gen=0))
        added = layer["root"] / "collections/test/more_points.yml"
        added.write_text(yaml.safe_dump(points_spec({"path": str(extra)}, title="More points")))
        assert run_cli(layer["env"], "refresh").returncode == 0
        ids = wait_for(layer["url"], lambda c: "more_points" in c)
        assert "layer" in ids
        for n in range(3):  # three more graceful reloads under load
            edited = yaml.safe_load(added.read_text())
            edited["title"] = f"More points, renamed {n}"
            added.write_text(yaml.safe_dump(edited))
            result = run_cli(layer["env"], "refresh")
            assert "more_points: unchanged" in result.stdout  # a title is not a rebuild
            wait_for(
                layer["url"], lambda c, n=n: c.get("more_points") == f"More points, renamed {n}"
            )
        time.sleep(1)
    finally:
        load.finish()
    assert load.problems == []
    assert len(load.responses) > 20


def wait_for(url: str, ok, timeout: float = 30) -> dict[str, str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = requests.get(f"{url}/collections?f=json", timeout=10).json()
        titles = {c["id"]: c["title"] for c in body["collections"]}
        if ok(titles):
            return titles
        time.sleep(0.2)
    raise AssertionError(f"collections never matched: {titles}")
