"""HTTP sources: unchanged -> no rebuild; changed -> new data served, exact change feed."""

from __future__ import annotations

import json

import pytest
import requests
import yaml
from gpsupport import Server, cli_env, run_cli
from httpfiles import FileServer, independent_diff, points, points_spec, write_points

MODES = ["etag", "lm", "none"]


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """Three layers, one per validator mode, fetched from a live file server and served."""
    root = tmp_path_factory.mktemp("http")
    files = FileServer(root / "site")
    for mode in MODES:
        write_points(root / "site" / mode / "points.geojson", points(120))
        spec = points_spec({"url": f"{files.url}/{mode}/points.geojson"})
        path = root / "collections/test" / f"points_{mode}.yml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(spec))
    env = cli_env(
        root / "var",
        root / "site",
        GEOPUBLISH_COLLECTIONS_DIR=str(root / "collections"),
        GEOPUBLISH_SOURCE_MODE="remote",
        GEOPUBLISH_HTTP_TIMEOUT="2",
    )
    result = run_cli(env, "build")
    assert result.returncode == 0, result.stderr
    server = Server(env, workers=1)
    yield {"root": root, "env": env, "files": files, "url": server.url}
    server.stop()
    files.stop()


def served(site: dict, cid: str) -> dict[str, str]:
    body = requests.get(f"{site['url']}/collections/{cid}/items?limit=10000", timeout=30).json()
    return {f["properties"]["code"]: f["properties"]["nom"] for f in body["features"]}


def versions(site: dict, cid: str) -> list[str]:
    return sorted(p.name for p in (site["root"] / "var/store" / cid).glob("v*.gpkg"))


def last_run(site: dict, cid: str) -> dict:
    result = run_cli(site["env"], "history", cid, "--json", "-n", "1")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.splitlines()[0])


@pytest.mark.parametrize("mode", MODES)
def test_unchanged_http_source_is_not_rebuilt(site, mode):
    cid = f"points_{mode}"
    before = versions(site, cid)
    path = f"/{mode}/points.geojson"
    seen = len(site["files"].gets(path))
    result = run_cli(site["env"], "refresh", cid)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"{cid}: unchanged")
    assert versions(site, cid) == before
    run = last_run(site, cid)
    assert run["outcome"] == "unchanged" and run["trigger"] == "refresh"
    assert site["files"].gets(path)[seen:] == ([200] if mode == "none" else [304])
    if mode == "etag":
        assert run["source"]["http"][0]["etag"].startswith('"')


@pytest.mark.parametrize("mode", MODES)
def test_changed_http_source_is_served_with_exact_change_feed(site, mode):
    cid = f"points_{mode}"
    file = site["root"] / "site" / mode / "points.geojson"
    old = json.loads(file.read_text())
    new = points(124, renamed={5, 17, 60})
    new["features"] = [
        f for f in new["features"] if f["properties"]["code"] not in {"P0003", "P0099"}
    ]
    write_points(file, new, bump=5)
    feed = requests.get(f"{site['url']}/collections/{cid}/changes", timeout=10).json()
    result = run_cli(site["env"], "refresh", cid)
    assert result.returncode == 0, result.stderr
    assert f"{cid}: published" in result.stdout
    expected = {f["properties"]["code"]: f["properties"]["nom"] for f in new["features"]}
    assert served(site, cid) == expected
    url = f"{site['url']}/collections/{cid}/changes?since={feed['latest']}"
    changes = requests.get(url, timeout=10).json()["changes"]
    assert len(changes) == 1
    diff = independent_diff(old, new)
    assert diff["added"] == ["P0120", "P0121", "P0122", "P0123"]
    assert {k: changes[0][k] for k in diff} == diff
    meta = requests.get(f"{site['url']}/collections/{cid}?f=json", timeout=10).json()
    assert meta["geopublish"]["version"] == changes[0]["version"]
    assert meta["updated"] == changes[0]["published_at"]
    assert any(link["href"].endswith(f"/collections/{cid}/changes") for link in meta["links"])
    assert last_run(site, cid)["counts"]["modified"] == 3


@pytest.mark.parametrize("failure", ["status", "timeout"])
def test_http_error_or_timeout_is_a_failed_run_and_layer_stays(site, failure):
    cid = "points_etag"
    before = served(site, cid)
    file = site["root"] / "site/etag/points.geojson"
    write_points(file, points(10), bump=10)
    if failure == "status":
        site["files"].fail = 503
    else:
        site["files"].delay = 4
    try:
        result = run_cli(site["env"], "refresh", cid)
    finally:
        site["files"].fail, site["files"].delay = None, 0.0
    assert result.returncode == 1
    line = result.stderr.strip().splitlines()[-1]
    assert line.startswith(
        f"error: collection '{cid}': GET {site['files'].url}/etag/points.geojson"
    )
    assert ("HTTP 503" in line) if failure == "status" else ("timed out" in line.lower())
    assert last_run(site, cid)["outcome"] == "failed"
    assert served(site, cid) == before
