"""Tile serving benchmark: geopublish against tipg on the same layers and tiles, in one run.

Builds the Montpellier parks (polygons), the car parks (points) and the region into a private
var/ folder on one store, copies the served rows of the two Montpellier layers into PostGIS
(schema ``tiles_bench``, a GiST index, for tipg), then serves them with

- ``geopublish serve`` (2 workers) from this tree,
- optionally the same ``geopublish serve`` from a baseline tree (``--baseline DIR``, e.g. an
  export of main: the "before" of a change, on the same var/ folder),
- tipg (``uvicorn tipg.main:app --workers 2``, from ``--tipg VENV``),

and runs ``wrk -t2 -c8 --latency`` over the same tile list on each (every stored tile of zoom
>= 10 of the layer; a Lua script cycles through them, ``Accept-Encoding: gzip``), the servers
taking turns ``--rounds`` times so that the machine's load falls on all of them alike. Prints
each run and a summary table (median over the rounds of req/s and of p50/p90/p99).

Usage: .venv/bin/python bench/tiles/run.py [gpkg|postgis] [seconds] [--baseline DIR]
       [--tipg /work/peers/tipg] [--rounds 2]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg
import pyogrio
import requests
import shapely
from psycopg import sql

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests"))
from gpsupport import REPO, Server, cli_env, free_port, run_cli  # noqa: E402

LAYERS = {
    "parks_montpellier": "environment",
    "car_parks_montpellier": "transport",
    "region": "admin",
}
BENCHED = ("parks_montpellier", "car_parks_montpellier")
DSN = "host=127.0.0.1 user=postgres dbname=test"
TIPG_SCHEMA = "tiles_bench"
LUA = """
local paths = {}
for line in io.lines("%s") do paths[#paths + 1] = line end
local i = 0
request = function()
  i = i + 1
  return wrk.format("GET", paths[(i %% #paths) + 1], {["Accept-Encoding"] = "gzip"})
end
"""
PG_TYPES = {"int": "bigint", "float": "double precision", "bool": "boolean"}


def build(store: str, root: Path) -> dict[str, str]:
    """Build the layers into ``root/var`` on ``store``; return the CLI environment."""
    (root / "collections/b").mkdir(parents=True)
    for cid, theme in LAYERS.items():
        text = (REPO / f"collections/{theme}/{cid}.yml").read_text()
        (root / f"collections/b/{cid}.yml").write_text(text)
    extra = {"GEOPUBLISH_COLLECTIONS_DIR": str(root / "collections"), "GEOPUBLISH_STORE": store}
    if store == "postgis":
        extra.update(GEOPUBLISH_POSTGIS_DSN=DSN, GEOPUBLISH_POSTGIS_SCHEMA="tiles_bench_store")
    env = cli_env(root / "var", REPO.parent / "shared" / "data", **extra)
    result = run_cli(env, "build")
    assert result.returncode == 0, result.stderr
    for cid in LAYERS:
        report = json.loads(sorted((root / "var/reports" / cid).glob("*.json"))[-1].read_text())
        print(cid, "tiles:", json.dumps(report.get("tiles")))
    return env


def served_rows(url: str, cid: str):
    """The served features of a layer, as geopublish answers them (any store)."""
    response = requests.get(f"{url}/collections/{cid}/items?f=json&limit=10000", timeout=60)
    response.raise_for_status()
    return pyogrio.read_dataframe(response.content)


def load_for_tipg(url: str) -> None:
    """Copy the served rows of each benched layer into ``tiles_bench.<id>`` (EPSG:4326)."""
    with psycopg.connect(DSN, autocommit=True) as con:
        con.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(TIPG_SCHEMA)))
        con.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(TIPG_SCHEMA)))
        for cid in BENCHED:
            frame = served_rows(url, cid)
            columns = [c for c in frame.columns if c != "geometry"]
            kinds = {
                c: next((t for k, t in PG_TYPES.items() if k in str(frame[c].dtype)), "text")
                for c in columns
            }
            family = shapely.get_type_id(frame.geometry.values[0])
            gtype = {0: "Point", 1: "LineString", 3: "Polygon", 4: "MultiPoint",
                     5: "MultiLineString", 6: "MultiPolygon"}[family]  # fmt: skip
            table = sql.Identifier(TIPG_SCHEMA, cid)
            defs = [sql.SQL("{} {}").format(sql.Identifier(c), sql.SQL(kinds[c])) for c in columns]
            defs.append(sql.SQL("geom geometry({}, 4326)").format(sql.SQL(gtype)))
            con.execute(sql.SQL("CREATE TABLE {} ({})").format(table, sql.SQL(", ").join(defs)))
            names = sql.SQL(", ").join(sql.Identifier(c) for c in [*columns, "geom"])
            with con.cursor().copy(sql.SQL("COPY {} ({}) FROM STDIN").format(table, names)) as cp:
                for row, geom in zip(
                    frame[columns].itertuples(index=False), frame.geometry.values, strict=True
                ):
                    values = [None if v != v else v for v in row]  # NaN -> NULL
                    cp.write_row(
                        [
                            *values,
                            shapely.to_wkb(
                                shapely.set_srid(geom, 4326), hex=True, include_srid=True
                            ),
                        ]
                    )
            con.execute(sql.SQL("CREATE INDEX ON {} USING gist (geom)").format(table))
            con.execute(sql.SQL("ANALYZE {}").format(table))
            print(f"tipg: {TIPG_SCHEMA}.{cid}: {len(frame)} rows ({gtype})")


class Tipg:
    """tipg under uvicorn (2 workers) on a free port, serving the ``tiles_bench`` schema."""

    def __init__(self, venv: Path, log: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = dict(os.environ)
        env.update(
            DATABASE_URL="postgresql://postgres@127.0.0.1:5432/test",
            TIPG_DB_SCHEMAS=json.dumps([TIPG_SCHEMA]),
            TIPG_DB_TABLES=json.dumps([f"{TIPG_SCHEMA}.{cid}" for cid in BENCHED]),
            TIPG_CATALOG_TTL="0",
        )
        env.pop("PYTHONPATH", None)
        self.log = open(log, "w")
        self.proc = subprocess.Popen(
            [str(venv / "bin/uvicorn"), "tipg.main:app", "--workers", "2", "--loop", "uvloop",
             "--http", "httptools", "--port", str(self.port), "--log-level", "warning"],
            env=env, cwd=tempfile.gettempdir(), stdout=self.log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        deadline = time.monotonic() + 120
        probe = f"{self.url}/collections/{TIPG_SCHEMA}.{BENCHED[0]}"
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"tipg exited: {Path(log).read_text()[-2000:]}")
            try:
                if requests.get(probe, timeout=10).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.5)
        raise RuntimeError("tipg did not answer in time")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)
        self.log.close()


def tile_list(var: Path, cid: str) -> list[tuple[int, int, int]]:
    """(z, x, y) of every stored tile of zoom >= 10 of the served tile set."""
    tileset = next((var / "tiles" / cid).glob("*.mbtiles"))
    con = sqlite3.connect(tileset)
    rows = con.execute(
        "SELECT zoom_level, tile_column, tile_row FROM tiles WHERE zoom_level >= 10"
    ).fetchall()
    con.close()
    return [(z, x, (1 << z) - 1 - r) for z, x, r in rows]


def wrk(url: str, paths: list[str], root: Path, name: str, seconds: str) -> dict[str, float]:
    """One wrk run over ``paths``; its req/s, latency percentiles (ms) and non-2xx count."""
    listing = root / f"{name}.paths"
    listing.write_text("\n".join(paths) + "\n")
    script = root / f"{name}.lua"
    script.write_text(LUA % listing)
    out = subprocess.run(
        ["wrk", "-t2", "-c8", f"-d{seconds}s", "--latency", "-s", str(script), url],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    print(out)

    def ms(label: str) -> float:
        match = re.search(rf"^\s+{label}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        assert match, out
        return float(match[1]) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[match[2]]

    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out)[1]),
        "p50": ms("50"),
        "p90": ms("90"),
        "p99": ms("99"),
        "non2xx": int(errors[1]) if errors else 0,
    }


def check_same_tiles(servers: dict[str, str], paths: dict[str, list[str]]) -> None:
    """Every server answers every tile of the list (200, or 204: GDAL's tiles keep features in
    the buffer around a tile, tipg's may not), most of them with features."""
    for name, base in servers.items():
        sizes = []
        for path in paths[name]:
            response = requests.get(base + path, timeout=30)
            assert response.status_code in (200, 204), (name, path, response.status_code)
            sizes.append(len(response.content))
        assert sum(1 for n in sizes if n) >= len(sizes) / 2, (name, sizes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("store", nargs="?", default="gpkg", choices=["gpkg", "postgis"])
    parser.add_argument("seconds", nargs="?", default="15")
    parser.add_argument("--baseline", type=Path, help="a tree whose geopublish serves 'before'")
    parser.add_argument("--tipg", type=Path, default=Path("/work/peers/tipg"))
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bench-tiles-"))
    env = build(args.store, root)
    var = root / "var"
    servers: dict[str, object] = {}
    try:
        servers["geopublish"] = Server(env, workers=2)
        if args.baseline:
            # Its own var/ (a copy: one gunicorn pid file per var/), the same tile sets.
            shutil.copytree(var, root / "var-baseline", symlinks=True)
            (root / "var-baseline/gunicorn.pid").unlink(missing_ok=True)
            base_env = {**env, "GEOPUBLISH_VAR_DIR": str(root / "var-baseline")}
            base_env["GEOPUBLISH_PYGEOAPI_CONFIG"] = str(root / "var-baseline/pygeoapi-config.yml")
            base_env["GEOPUBLISH_OPENAPI"] = str(root / "var-baseline/openapi.yml")
            servers["baseline"] = Server(base_env, workers=2, tree=args.baseline)
        load_for_tipg(servers["geopublish"].url)
        if args.tipg:
            servers["tipg"] = Tipg(args.tipg, root / "tipg.log")
        results: dict[tuple[str, str], list[dict[str, float]]] = {}
        for cid in BENCHED:
            tiles = tile_list(var, cid)
            ours = [f"/collections/{cid}/tiles/WebMercatorQuad/{z}/{y}/{x}" for z, x, y in tiles]
            theirs = [
                f"/collections/{TIPG_SCHEMA}.{cid}/tiles/WebMercatorQuad/{z}/{x}/{y}"
                for z, x, y in tiles
            ]
            paths = {n: theirs if n == "tipg" else ours for n in servers}
            check_same_tiles({n: s.url for n, s in servers.items()}, paths)
            print(f"{cid}: {len(tiles)} distinct tiles (z10+), same list on every server")
            for turn in range(args.rounds):
                for name, server in servers.items():
                    print(f"--- {cid} {name} round {turn + 1}")
                    run = wrk(server.url, paths[name], root, f"{cid}-{name}", args.seconds)
                    results.setdefault((cid, name), []).append(run)
        print(f"\nstore {args.store}, wrk -t2 -c8 -d{args.seconds}s, median of {args.rounds}:")
        print("| layer | server | req/s | p50 ms | p90 ms | p99 ms | non-2xx |")
        print("|---|---|---|---|---|---|---|")
        for (cid, name), runs in results.items():
            med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
            print(f"| {cid} | {name} | {med['rps']:.0f} | {med['p50']:.1f} | {med['p90']:.1f} "
                  f"| {med['p99']:.1f} | {sum(r['non2xx'] for r in runs)} |")  # fmt: skip
        for cid in BENCHED:
            if (cid, "tipg") in results:
                ours = statistics.median(r["rps"] for r in results[(cid, "geopublish")])
                theirs = statistics.median(r["rps"] for r in results[(cid, "tipg")])
                print(f"{cid}: geopublish / tipg throughput = {ours / theirs:.2f}x")
    finally:
        for server in servers.values():
            server.stop()
        with psycopg.connect(DSN, autocommit=True) as con:
            con.execute(
                sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(TIPG_SCHEMA))
            )
            if args.store == "postgis":
                con.execute("DROP SCHEMA IF EXISTS tiles_bench_store CASCADE")


if __name__ == "__main__":
    main()
