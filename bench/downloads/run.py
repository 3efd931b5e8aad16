"""Peak memory and time of the whole-layer downloads of a large layer, on bench/datasets.py data.

    .venv/bin/python bench/downloads/run.py --count 1000000 --stores gpkg,postgis

For each store: ``geopublish build`` (which writes the five downloads before its swap, in a
child process) under ``/usr/bin/time -v``: wall time and the peak RSS of the largest process
of the tree; then, from the build report, each process's own high-water mark (the build
process's ``peak_rss_mb``, the downloads child's ``downloads_process``) and the child's time and
high-water mark after each format. ``--alone`` also times the downloads of the served version
in a fresh process. The PostgreSQL server's memory is not counted. Prints Markdown tables and
the files' sizes.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "bench"))
sys.path.insert(0, str(REPO / "bench" / "build"))
import datasets  # noqa: E402
from run import postgis_ok, spec, timed  # noqa: E402

SCHEMA = "geopublish_bench_dl"  # + the count: runs of two sizes may overlap


def alone(var: Path, cid: str, out: Path) -> None:
    """Write the downloads of the served version of ``cid`` into ``out`` (child process)."""
    from geopublish.publish.downloads import Downloads
    from geopublish.settings import get_settings
    from geopublish.store import LayerSchema, Staged, open_store

    settings = get_settings()
    store = open_store(settings)
    layer = store.published(cid)
    schema = LayerSchema(
        cid, layer.fields, layer.geometry_type or "Geometry", layer.storage_crs,
        layer.id_column or "id",
    )  # fmt: skip
    staged = Staged(cid, str(layer.location), schema)
    shutil.rmtree(out, ignore_errors=True)
    manifest = Downloads(out).write(
        cid, layer.build_id, store.scan(staged, settings.batch_size),
        geometry_type=schema.geometry_type, storage_crs=layer.storage_crs, bbox=layer.bbox,
    )  # fmt: skip
    print(json.dumps({k: v["size"] for k, v in manifest["files"].items()}))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=1_000_000)
    parser.add_argument("--stores", default="gpkg,postgis")
    parser.add_argument("--workdir", type=Path, default=REPO / "var/bench")
    parser.add_argument(
        "--postgis-dsn", default="host=127.0.0.1 port=5432 user=postgres dbname=test"
    )
    parser.add_argument("--alone", action="store_true", help="also time the downloads alone")
    parser.add_argument("--tiles", action="store_true", help="build the tile set too")
    parser.add_argument("--child", nargs=3, metavar=("VAR", "ID", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        alone(Path(args.child[0]), args.child[1], Path(args.child[2]))
        return 0
    work = args.workdir.resolve()
    name = f"polygons_{args.count}"
    source = work / "data" / f"{name}.gpkg"
    if not source.exists():
        datasets.write("polygons", args.count, source)
    collections = work / "collections" / f"dl_{name}"
    (collections / "bench").mkdir(parents=True, exist_ok=True)
    layer = spec("polygons", source)
    if not args.tiles:  # the tile set is measured by bench/tiles, not here
        layer["tiles"] = {"enabled": False}
    (collections / "bench" / f"{name}.yml").write_text(yaml.safe_dump(layer))
    rows: list[dict] = []
    steps: list[dict] = []
    for store in args.stores.split(","):
        if store == "postgis" and not postgis_ok(args.postgis_dsn):
            print("PostGIS not reachable: skipped", file=sys.stderr)
            continue
        var = work / "var" / f"dl-{name}-{store}"
        shutil.rmtree(var, ignore_errors=True)
        env = dict(os.environ)
        env.update(
            GEOPUBLISH_PROJECT_DIR=str(REPO),
            GEOPUBLISH_COLLECTIONS_DIR=str(collections),
            GEOPUBLISH_VAR_DIR=str(var),
            GEOPUBLISH_SOURCE_MODE="local",
            GEOPUBLISH_SOURCE_ALLOW=str(work / "data"),  # the generated inputs
            GEOPUBLISH_PYGEOAPI_CONFIG=str(var / "pygeoapi-config.yml"),
            GEOPUBLISH_OPENAPI=str(var / "openapi.yml"),
            GEOPUBLISH_KEEP_VERSIONS="1",
            GEOPUBLISH_STORE=store,
        )
        if store == "postgis":
            import psycopg

            schema = f"{SCHEMA}_{args.count}"
            with psycopg.connect(args.postgis_dsn, autocommit=True) as con:
                con.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
            env.update(GEOPUBLISH_POSTGIS_DSN=args.postgis_dsn, GEOPUBLISH_POSTGIS_SCHEMA=schema)
        build = timed([sys.executable, "-m", "geopublish", "-q", "build", name], env)
        report = json.loads((var / "reports" / name / "latest.json").read_text())
        child = report["downloads_process"]
        build["processes"] = {"build": report["peak_rss_mb"], "downloads": child["peak_rss_mb"]}
        rows.append({"store": store, "step": "build incl. downloads", **build})
        print(json.dumps(rows[-1]), flush=True)
        steps.append({"store": store, "sizes": report["downloads"], **child})
        print(json.dumps(steps[-1]), flush=True)
        if not args.alone:
            continue
        out = var / "downloads-alone"
        cmd = [sys.executable, __file__, "--child", str(var), name, str(out)]
        dl = timed(cmd, env)
        manifest = next((out / name).iterdir()) / "manifest.json"
        sizes = {k: v["size"] for k, v in json.loads(manifest.read_text())["files"].items()}
        rows.append({"store": store, "step": "downloads alone", **dl, "sizes": sizes})
        print(json.dumps(rows[-1]), flush=True)
    print("| store | step | wall s | CPU s | peak MB (largest process) | build / downloads "
          "process peak MB |\n|---|---|---|---|---|---|")  # fmt: skip
    for r in rows:
        own = r.get("processes")
        each = f"{own['build']:.0f} / {own['downloads']:.0f}" if own else "–"
        print(
            f"| {r['store']} | {r['step']} | {r['seconds']:.1f} | {r['cpu_seconds']:.1f} "
            f"| {r['peak_mb']:.0f} | {each} |"
        )
    print("\n| store | format | s | MB (child high-water mark at its end) | file MB |")
    print("|---|---|---|---|---|")
    for s in steps:
        for key, figures in s["steps"].items():
            size = s["sizes"][key]["size"] / 2**20  # each format's key is its suffix
            print(
                f"| {s['store']} | {key} | {figures['seconds']:.1f} "
                f"| {figures['peak_rss_mb']:.0f} | {size:.0f} |"
            )
    for r in rows:
        if "sizes" in r:
            mb = {k: round(v / 2**20) for k, v in r["sizes"].items()}
            print(f"{r['store']} file sizes (MB): {mb}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
