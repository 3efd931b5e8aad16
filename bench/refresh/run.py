"""Refresh benchmarks: an unchanged refresh, and swap latency (source changed -> served).

    .venv/bin/python bench/refresh/run.py --synthetic 100000 --repeats 20

Copies the inputs of the largest default layer (``communes``, 7 GeoJSON files) into a private
source root, builds it (and, with ``--synthetic N``, a layer of N polygons written by
bench/datasets.py), then:

- unchanged: ``run_collection(skip_unchanged=True)`` in-process, ``--repeats`` times (median
  and max), and the whole ``geopublish refresh ID`` command once (process start included);
- swap latency: with a live ``geopublish serve``, one commune renamed in the source, then
  ``geopublish refresh communes``; time until a GET of that commune returns the new name,
  split into the refresh command and the wait after it returned.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests
import yaml

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests"))
from gpsupport import Server, cli_env, run_cli  # noqa: E402


def unchanged(env: dict[str, str], cid: str, repeats: int) -> dict[str, float]:
    os.environ.update(env)
    from geopublish.catalog import load_catalog
    from geopublish.pipeline import run_collection
    from geopublish.settings import get_settings
    from geopublish.store import open_stores

    settings = get_settings()
    catalog = load_catalog(settings.collections_dir)
    spec = catalog.specs[cid]
    stores = open_stores(settings)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        report = run_collection(
            spec, settings, stores, catalog, trigger="bench", skip_unchanged=True
        )
        times.append(time.perf_counter() - start)
        assert report["outcome"] == "unchanged", report
    start = time.perf_counter()
    result = run_cli(env, "refresh", cid)
    command = time.perf_counter() - start
    assert "unchanged" in result.stdout, result.stdout + result.stderr
    return {"median_s": statistics.median(times), "max_s": max(times), "command_s": command}


def swap(env: dict[str, str], source: Path) -> dict[str, float]:
    path = source / "admin_france_geojson_occitanie/communes-34-herault.geojson"
    data = json.loads(path.read_text())
    feature = data["features"][0]["properties"]
    code, name = feature["code"], f"{feature['nom']} (bench {time.time():.0f})"
    server = Server(env, workers=2)
    env = {**env, "GEOPUBLISH_PORT": str(server.port)}  # the server's config: no reload
    try:
        url = f"{server.url}/collections/communes/items/{code}?f=json"
        assert requests.get(url, timeout=10).status_code == 200
        feature["nom"] = name
        path.write_text(json.dumps(data))
        start = time.perf_counter()
        result = run_cli(env, "refresh", "communes")
        returned = time.perf_counter()
        assert "communes: published" in result.stdout, result.stdout + result.stderr
        while requests.get(url, timeout=10).json()["properties"]["nom"] != name:
            time.sleep(0.005)
        served = time.perf_counter()
    finally:
        server.stop()
    return {"refresh_command_s": returned - start, "served_after_return_s": served - returned,
            "total_s": served - start}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--synthetic", type=int, default=0, help="Also a layer of N polygons.")
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared/data")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-refresh-"))
    source = work / "data"
    name = "admin_france_geojson_occitanie"
    shutil.copytree(args.data / name, source / name)
    specs = work / "collections/admin"
    specs.mkdir(parents=True)
    shutil.copy(REPO / "collections/admin/communes.yml", specs)
    layers = ["communes"]
    if args.synthetic:
        out = source / f"polygons_{args.synthetic}.gpkg"
        subprocess.run([sys.executable, str(REPO / "bench/datasets.py"), "polygons", "--count",
                        str(args.synthetic), "--out", str(out)], check=True)  # fmt: skip
        spec = {"title": "Polygons", "description": "bench", "licence": {"name": "bench"},
                "attribution": "bench", "source": {"parts": [{"path": str(out)}]},
                "feature_id": {"fields": ["code"]}, "dedupe": {"fields": ["code"]},
                "geometry": {"type": "MultiPolygon"}, "crs": {"storage": "EPSG:2154"},
                "checks": {"min_valid_ratio": 0.99}}  # fmt: skip
        (specs / f"polygons_{args.synthetic}.yml").write_text(yaml.safe_dump(spec))
        layers.append(f"polygons_{args.synthetic}")
    env = cli_env(work / "var", source, GEOPUBLISH_COLLECTIONS_DIR=str(work / "collections"))
    start = time.perf_counter()
    result = run_cli(env, "build", timeout=3600)
    print(f"build: {time.perf_counter() - start:.1f} s\n{result.stdout}{result.stderr[-2000:]}")
    print(f"| layer | features | unchanged refresh, median (max) of {args.repeats} "
          "| `geopublish refresh ID` |")  # fmt: skip
    print("|---|---|---|---|")
    for cid in layers:
        latest = json.loads((work / f"var/reports/{cid}/latest.json").read_text())
        figures = unchanged(env, cid, args.repeats)
        print(f"| {cid} | {latest['features']['written']} | {figures['median_s'] * 1000:.1f} ms "
              f"({figures['max_s'] * 1000:.1f} ms) | {figures['command_s']:.2f} s |")  # fmt: skip
    figures = swap(env, source)
    print(f"\nswap latency (communes): refresh command {figures['refresh_command_s']:.2f} s, "
          f"served {figures['served_after_return_s'] * 1000:.0f} ms after it returned, "
          f"total {figures['total_s']:.2f} s")  # fmt: skip
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
