"""Serving benchmark: geopublish's provider vs pygeoapi's stock providers and tipg, one run.

    .venv/bin/python bench/serve/run.py --sizes 100k 1m --duration 10 --out /tmp/serve.md
    (then copy the table into bench/RESULTS.md)

geopublish serves each layer from both of its stores side by side (the GeoPackage store, and the
same layer built by the CLI into PostGIS, schema ``geopublish`` of the bench database).
``--before DIR`` also serves both from another copy of the ``geopublish`` package (e.g. ``git
archive <commit> geopublish | tar -x -C DIR``): before and after a change, in the same run.

Needs wrk (Debian package), PostgreSQL + PostGIS on 127.0.0.1:5432 (trust auth, user postgres),
tipg in its own virtualenv (``--tipg-python``: pip install tipg uvicorn uvloop httptools) and
stock pygeoapi in another (``--stock-python``: pip install pygeoapi==0.24.0 GDAL==<libgdal
version> sqlalchemy geoalchemy2 psycopg2-binary gunicorn, with libgdal-dev installed).
Each layer is built by the real CLI from ``bench/datasets.py`` polygons; the peers serve the
built features exported unchanged (same ids, same geometries, EPSG:4326) from a GeoPackage
(pygeoapi SQLiteGPKG, OGR) and from PostGIS (pygeoapi PostgreSQL, tipg). Every server runs 2
worker processes on loopback; wrk drives 8 connections per case, one case at a time.
"""

from __future__ import annotations

import argparse
import os
import re
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import requests
import yaml

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
PY = sys.executable
COUNTS = {"100k": 100_000, "1m": 1_000_000}
DB = ["gp_bench"]  # --db: the bench database (peers' tables and geopublish's PostGIS store)
FIELDS = "code, nom, departement, population, superficie, date_maj"


def sh(*args: str, env: dict | None = None) -> None:
    subprocess.run(args, check=True, env=env, cwd=REPO)


def pg_dsn() -> str:
    return f"host=127.0.0.1 user=postgres dbname={DB[0]}"


def geopublish_env(work: Path, store: str = "gpkg", code: str | None = None) -> dict[str, str]:
    """The CLI's environment for one store; ``code``: another copy of the package to run."""
    var = work / ("var" if store == "gpkg" else "var-postgis")
    env = {
        **os.environ,
        "GEOPUBLISH_PROJECT_DIR": str(REPO),
        "GEOPUBLISH_VAR_DIR": str(var),
        "GEOPUBLISH_SOURCE_ROOT": str(work / "data"),
        "GEOPUBLISH_SOURCE_MODE": "local",
        "GEOPUBLISH_COLLECTIONS_DIR": str(work / "collections"),
        "GEOPUBLISH_PYGEOAPI_CONFIG": str(var / "pygeoapi-config.yml"),
        "GEOPUBLISH_OPENAPI": str(var / "openapi.yml"),
        "GEOPUBLISH_STORE": store,
    }
    if store == "postgis":
        env.update(GEOPUBLISH_POSTGIS_DSN=pg_dsn(), GEOPUBLISH_POSTGIS_SCHEMA="geopublish")
    if code is not None:  # its own var/: pid file, served URL and config of its own
        var = Path(env["GEOPUBLISH_VAR_DIR"] + "-before")
        var.mkdir(parents=True, exist_ok=True)
        if store == "gpkg" and not (var / "store").exists():
            (var / "store").symlink_to(work / "var" / "store")
        env.update(
            PYTHONPATH=code,
            GEOPUBLISH_VAR_DIR=str(var),
            GEOPUBLISH_PYGEOAPI_CONFIG=str(var / "pygeoapi-config.yml"),
            GEOPUBLISH_OPENAPI=str(var / "openapi.yml"),
        )
    return env


def _pg_built(cid: str) -> bool:
    import psycopg

    with psycopg.connect(pg_dsn()) as con:
        row = con.execute("SELECT to_regclass('geopublish.geopublish_meta') IS NOT NULL").fetchone()
        if not row[0]:
            return False
        return bool(
            con.execute(
                "SELECT 1 FROM geopublish.geopublish_meta WHERE collection = %s AND current",
                (cid,),
            ).fetchone()
        )


def prepare(size: str, work: Path) -> None:
    """Dataset, geopublish build, peer GeoPackages and the PostGIS table for one size."""
    cid = f"bench_{size}"
    source = work / "data" / f"polygons_{size}.gpkg"
    if not source.exists():
        source.parent.mkdir(parents=True, exist_ok=True)
        sh(PY, "bench/datasets.py", "polygons", "--count", str(COUNTS[size]), "--out", str(source))
    spec = work / "collections" / "bench" / f"{cid}.yml"
    spec.parent.mkdir(parents=True, exist_ok=True)
    template = (HERE / "spec.yml.in").read_text(encoding="utf-8")
    spec.write_text(template.replace("@ID@", cid).replace("@FILE@", source.name), encoding="utf-8")
    env = geopublish_env(work)
    built = work / "var" / "store" / cid / "current.gpkg"
    if not built.exists():
        sh(PY, "-m", "geopublish", "build", cid, env=env)
    if not _db():
        sh("createdb", "-h", "127.0.0.1", "-U", "postgres", DB[0], env=None)
    if not _pg_built(cid):
        sh(PY, "-m", "geopublish", "build", cid, env=geopublish_env(work, "postgis"))
    peer = work / "peer" / f"{cid}.gpkg"
    if not peer.exists():
        peer.parent.mkdir(parents=True, exist_ok=True)
        sql = f'SELECT fid, {FIELDS}, geom FROM "{cid}"'
        sh("ogr2ogr", "-f", "GPKG", str(peer), str(built), "-sql", sql, "-nln", cid)
        with sqlite3.connect(peer) as con:
            con.execute(f"CREATE UNIQUE INDEX {cid}_code ON {cid}(code)")
        con.close()
        sh(
            "psql",
            "-h",
            "127.0.0.1",
            "-U",
            "postgres",
            "-d",
            DB[0],
            "-qc",
            "CREATE EXTENSION IF NOT EXISTS postgis",
        )
        sh(
            "ogr2ogr",
            "-f",
            "PostgreSQL",
            f"PG:{pg_dsn()}",
            str(peer),
            "-nln",
            cid,
            "-overwrite",
            "-lco",
            "GEOMETRY_NAME=geom",
            "-lco",
            "FID=fid",
            "-lco",
            "SPATIAL_INDEX=GIST",
        )
        sh(
            "psql",
            "-h",
            "127.0.0.1",
            "-U",
            "postgres",
            "-d",
            DB[0],
            "-qc",
            f"CREATE UNIQUE INDEX ON {cid}(code)",
        )
        sh(
            "psql",
            "-h",
            "127.0.0.1",
            "-U",
            "postgres",
            "-d",
            DB[0],
            "-qc",
            f"VACUUM ANALYZE {cid}",
        )


def _db() -> bool:
    out = subprocess.run(
        ["psql", "-h", "127.0.0.1", "-U", "postgres", "-lqt"], capture_output=True, text=True
    ).stdout
    return any(line.split("|")[0].strip() == DB[0] for line in out.splitlines())


def stock_config(work: Path, sizes: list[str]) -> Path:
    """pygeoapi config: the geopublish resources re-provided by OGR and PostgreSQL.

    pygeoapi's SQLiteGPKG provider is left out: it needs ``sqlite3`` with extension loading
    (mod_spatialite), which this Python (pyenv 3.12) is built without, so it cannot start.
    """
    config = yaml.safe_load((work / "var" / "pygeoapi-config.yml").read_text(encoding="utf-8"))
    resources = {}
    for size in sizes:
        cid = f"bench_{size}"
        base = config["resources"][cid]
        peer = str(work / "peer" / f"{cid}.gpkg")
        providers = {
            "ogr": {
                "name": "OGR",
                "id_field": "code",
                "layer": cid,
                "data": {"source_type": "GPKG", "source": peer},
            },
            "pg": {
                "name": "PostgreSQL",
                "id_field": "code",
                "table": cid,
                "geom_field": "geom",
                "data": {
                    "host": "127.0.0.1",
                    "dbname": DB[0],
                    "user": "postgres",
                    "password": "",
                    "search_path": ["public"],
                },
            },
        }
        for kind, provider in providers.items():
            resources[f"{kind}_{size}"] = {
                **{k: v for k, v in base.items() if k != "providers"},
                "providers": [{"type": "feature", **provider}],
            }
    config["resources"] = resources
    path = work / "stock-config.yml"
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


class Servers:
    """geopublish, stock pygeoapi and tipg, each with 2 workers, on free loopback ports."""

    def __init__(
        self,
        work: Path,
        sizes: list[str],
        tipg_python: str,
        stock_python: str,
        before: str | None = None,
    ) -> None:
        self.procs: list[subprocess.Popen] = []
        log = open(work / "servers.log", "w")
        env = geopublish_env(work)
        self.geopublish: dict[str, str] = {}
        port = 5704
        for code in (None, before) if before else (None,):
            for store in ("gpkg", "postgis"):
                name = f"geopublish {'GeoPackage' if store == 'gpkg' else 'PostGIS'}"
                name += " (before)" if code else ""
                serve = [PY, "-m", "geopublish", "serve", "--port", str(port), "--workers", "2"]
                self.geopublish[name] = self._start(
                    serve, geopublish_env(work, store, code), log, port
                )
                port += 1
        stock = stock_config(work, sizes)
        stock_env = {**env, "PYGEOAPI_CONFIG": str(stock), "PYGEOAPI_OPENAPI": str(work / "o.yml")}
        sh(
            str(Path(stock_python).parent / "pygeoapi"),
            "openapi",
            "generate",
            str(stock),
            "--output-file",
            str(work / "o.yml"),
            env=stock_env,
        )
        gunicorn = [
            stock_python,
            "-m",
            "gunicorn",
            "pygeoapi.flask_app:APP",
            "-b",
            "127.0.0.1:5702",
            "-w",
            "2",
            "-k",
            "gthread",
            "--threads",
            "4",
            "--log-level",
            "warning",
        ]
        self.stock = self._start(gunicorn, stock_env, log, 5702)
        tipg_env = {
            **os.environ,
            "DATABASE_URL": f"postgresql://postgres@127.0.0.1:5432/{DB[0]}",
            "TIPG_CATALOG_TTL": "0",
            "TIPG_DB_TABLES": str([f"public.bench_{s}" for s in sizes]).replace("'", '"'),
            "TIPG_DB_EXCLUDE_FUNCTION_SCHEMAS": '["public", "pg_temp"]',
            "TIPG_DEBUG": "FALSE",
        }
        for size in sizes:
            tipg_env[f"TIPG_TABLE_CONFIG__public_bench_{size}__PK"] = "code"
        uvicorn = [
            tipg_python,
            "-m",
            "uvicorn",
            "tipg.main:app",
            "--port",
            "5703",
            "--workers",
            "2",
            "--loop",
            "uvloop",
            "--http",
            "httptools",
            "--log-level",
            "warning",
            "--no-access-log",
        ]
        self.tipg = self._start(uvicorn, tipg_env, log, 5703)

    def _start(self, cmd: list[str], env: dict, log, port: int) -> str:
        self.procs.append(subprocess.Popen(cmd, env=env, cwd=REPO, stdout=log, stderr=log))
        url = f"http://127.0.0.1:{port}"
        for _ in range(120):
            try:
                requests.get(f"{url}/collections", timeout=5)
                return url
            except requests.RequestException:
                time.sleep(0.5)
        raise RuntimeError(f"{cmd[:4]} did not start; see servers.log")

    def stop(self) -> None:
        for proc in self.procs:
            proc.terminate()
        for proc in self.procs:
            proc.wait(timeout=30)


def cases(size: str, probe_id: str, box: str) -> list[tuple[str, str]]:
    """Case name -> path and query, relative to a collection's /items."""
    cql = "population > 5000 AND departement = '34'"
    return [
        ("first page", "?f=json&limit=100"),
        ("small bbox", f"?f=json&limit=100&bbox={box}"),
        ("deep page", "?f=json&limit=100&offset=50000"),
        ("by id", f"/{probe_id}?f=json"),
        ("limit=1000", "?f=json&limit=1000"),
        (
            "cql2 filter",
            f"?f=json&limit=100&filter-lang=cql2-text&filter={requests.utils.quote(cql)}",
        ),
    ]


def wrk(url: str, duration: int) -> dict:
    out = subprocess.run(
        ["wrk", "-t2", "-c8", f"-d{duration}s", "--latency", "--timeout", "30s", url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    lat = dict(re.findall(r"\s+(50|99)%\s+([\d.]+\w+)", out))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    timeouts = re.search(r"timeout (\d+)", out)
    return {
        "rps": rps,
        "p50": _ms(lat.get("50", "nan")),
        "p99": _ms(lat.get("99", "nan")),
        "errors": int(errors.group(1)) if errors else 0,
        "timeouts": int(timeouts.group(1)) if timeouts else 0,
    }


def _ms(text: str) -> float:
    match = re.match(r"([\d.]+)(us|ms|s|m)", text)
    if not match:
        return float("nan")
    value, unit = float(match.group(1)), match.group(2)
    return value * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def probe(work: Path, size: str) -> tuple[str, str]:
    """A feature id near the middle of the layer and a ~2 km box around it."""
    import pyogrio

    peer = work / "peer" / f"bench_{size}.gpkg"
    frame = pyogrio.read_dataframe(
        peer, fid_as_index=True, skip_features=COUNTS[size] // 2, max_features=1
    )
    x, y = frame.geometry.iloc[0].centroid.coords[0]
    return str(
        frame["code"].iloc[0]
    ), f"{x - 0.01:.5f},{y - 0.01:.5f},{x + 0.01:.5f},{y + 0.01:.5f}"


def verify(url: str) -> str:
    """A one-line sanity check of a case: status and features returned."""
    response = requests.get(url, timeout=120)
    if response.status_code != 200:
        return f"HTTP {response.status_code}"
    body = response.json()
    return str(len(body["features"]) if "features" in body else int(body.get("type") == "Feature"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", default=["100k", "1m"], choices=list(COUNTS))
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--work", type=Path, default=REPO / "var" / "bench-serve")
    parser.add_argument("--tipg-python", default=str(REPO / "var" / "tipg-venv" / "bin" / "python"))
    parser.add_argument(
        "--stock-python",
        default=str(REPO / "var" / "stock-venv" / "bin" / "python"),
        help="Python of a venv with pygeoapi==0.24.0, GDAL bindings, sqlalchemy, geoalchemy2, "
        "psycopg2 and gunicorn (the OGR and PostgreSQL providers need them)",
    )
    parser.add_argument("--out", type=Path, default=REPO / "var" / "bench-serve" / "serve.md")
    parser.add_argument("--db", default="gp_bench", help="PostgreSQL database of the bench")
    parser.add_argument(
        "--before", help="a copy of the geopublish package to serve beside this one"
    )
    args = parser.parse_args()
    DB[0] = args.db
    for size in args.sizes:
        prepare(size, args.work)
    for store in ("gpkg", "postgis"):
        sh(PY, "-m", "geopublish", "publish", env=geopublish_env(args.work, store))
    rows = []
    servers = Servers.__new__(Servers)
    servers.procs = []
    try:
        servers.__init__(args.work, args.sizes, args.tipg_python, args.stock_python, args.before)
        for size in args.sizes:
            fid, box = probe(args.work, size)
            targets = {
                **{
                    name: f"{url}/collections/bench_{size}/items"
                    for name, url in servers.geopublish.items()
                },
                "pygeoapi PostgreSQL": f"{servers.stock}/collections/pg_{size}/items",
                "pygeoapi OGR": f"{servers.stock}/collections/ogr_{size}/items",
                "tipg": f"{servers.tipg}/collections/public.bench_{size}/items",
            }
            for case, tail in cases(size, fid, box):
                for name, base in targets.items():
                    if name == "tipg":  # tipg's f=json is a flat list; its GeoJSON is f=geojson
                        tail = tail.replace("f=json", "f=geojson")
                    check = verify(base + tail)
                    result = wrk(base + tail, args.duration) if check[0].isdigit() else {}
                    rows.append((size, case, name, check, result))
                    print(size, case, name, check, result, flush=True)
    finally:
        servers.stop()
    write(rows, args)
    return 0


def write(rows: list, args: argparse.Namespace) -> None:
    lines = [
        "| size | case | server | returned | req/s | p50 ms | p99 ms | non-2xx | timeouts |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for size, case, name, check, r in rows:
        if not r:
            lines.append(f"| {size} | {case} | {name} | {check} | – | – | – | – | – |")
            continue
        lines.append(
            f"| {size} | {case} | {name} | {check} | {r['rps']:.1f} | {r['p50']:.1f} | "
            f"{r['p99']:.1f} | {r['errors']} | {r['timeouts']} |"
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    table = "\n".join(lines) + "\n"
    args.out.with_suffix(".table.md").write_text(table, encoding="utf-8")
    print(table)


if __name__ == "__main__":
    sys.exit(main())
