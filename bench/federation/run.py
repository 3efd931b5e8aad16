"""Federation benchmark: N publishers x M rows shaped like the real carpooling files.

Each generated publisher copies one real publisher file's layout and defects (quoted CRLF
national slices, Corse's 2A/2B codes, Grenoble's BOM, 0.2.x layout and lower-case columns):
its rows are the real rows cycled, with a unique ``id_local`` (``id_lieu`` for the old layout),
points moved by up to ~300 m, and on top 1 % placeholder SIRENs, 0.5 % postcodes in ``insee``.
Then: a full build (time, CPU, peak RSS of the CLI process) and a refresh where one publisher
changed, with the path the refresh took (``incremental`` or ``full``). The vector tiles are off
unless ``--tiles``: the tile set is rebuilt whole at every version and measured apart. Usage::

    .venv/bin/python bench/federation/run.py --publishers 200 --rows 5000 --work var/bench/fed
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import random
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DATA = Path(os.environ.get("GEOPUBLISH_SOURCE_ROOT", REPO.parent / "shared" / "data"))
PUB = "federation/lieux_covoiturage/publishers"
SHAPES = [  # real file, territory YAML, mapping YAML
    ("cd31_haute_garonne/bnlc_rows_removed_in_37518d2.csv", "{departements: ['31']}", ""),
    ("cd66_pyrenees_orientales/bnlc_rows_removed_in_b64dd75.csv", "{departements: ['66']}", ""),
    ("collectivite_de_corse/bnlc_rows_removed_in_ff3e45c.csv", "{departements: ['2A', '2B']}", ""),
    ("grenoble_alpes_metropole/covoiturage.csv",
     "{epci: ['200040715', '200018166', '243800984']}", "mapping: {migrate_from: '0.2.8'}\n"),
]  # fmt: skip
SIRENS = ["223100017", "226600013", "200076958", "200040715"]


def generate(work: Path, publishers: int, rows: int, seed: int = 42, tiles: bool = False) -> None:
    """Write the source root (links to the shared data + generated files) and the specs."""
    rnd = random.Random(seed)
    data = work / "data"
    specs = work / "collections" / "bench"
    shutil.rmtree(work, ignore_errors=True)
    (data / "gen").mkdir(parents=True)
    (specs / "fed").mkdir(parents=True)
    for name in ("federation", "admin_reference_decoupage_administratif",
                 "admin_france_geojson_occitanie"):  # fmt: skip
        (data / name).symlink_to(DATA / name)
    spec = (REPO / "collections/federation/covoiturage_federe.yml").read_text()
    spec = spec.replace("publishers: federation/covoiturage_federe", "publishers: bench/fed")
    spec = re.sub(r"  priorities: .*\n", "", spec)
    spec = spec.replace("dedupe: {distance_m: 25, fields: [insee]}", "dedupe: {distance_m: 1}")
    if not tiles:  # the tile set is rebuilt whole at every version: measured apart
        spec += "tiles: {enabled: false}\n"
    (specs / "fed_bench.yml").write_text(spec)
    for k in range(publishers):
        file, territory, mapping = SHAPES[k % len(SHAPES)]
        raw = (DATA / PUB / file).read_bytes()
        bom = raw.startswith(b"\xef\xbb\xbf")
        text = raw.decode("utf-8-sig")
        table = list(csv.reader(io.StringIO(text, newline="")))
        header, real = table[0], table[1:]
        col = {name.lower(): i for i, name in enumerate(header)}
        key = col["id_local"] if "id_local" in col else col["id_lieu"]
        out = []
        for n in range(rows):
            row = list(real[n % len(real)])
            ident = f"B{k:03d}{n:05d}"
            row[key] = f"{row[col['insee']]}-{ident}" if "id_local" not in col else ident
            for axis in ("xlong", "ylat"):
                row[col[axis]] = f"{float(row[col[axis]]) + rnd.uniform(-0.003, 0.003):.6f}"
            draw = rnd.random()
            if draw < 0.01:
                row[col["source"]] = "123456789"
            elif draw < 0.015:
                row[col["insee"]] = "38920"
            out.append(row)
        buf = io.StringIO(newline="")
        quoting = csv.QUOTE_ALL if raw.startswith(b'"') else csv.QUOTE_MINIMAL
        csv.writer(buf, quoting=quoting, lineterminator="\r\n").writerows([header, *out])
        target = data / "gen" / f"p{k:03d}.csv"
        target.write_bytes((b"\xef\xbb\xbf" if bom else b"") + buf.getvalue().encode())
        (specs / "fed" / f"p{k:03d}.yml").write_text(
            f"name: Éditeur {k}\nsiren: '{SIRENS[k % 4]}'\nterritory: {territory}\n"
            f"parts:\n  - path: gen/p{k:03d}.csv\n{mapping}"
        )


def timed(env: dict[str, str], *args: str) -> dict[str, float]:
    """Wall seconds and peak RSS (MB) of one CLI run, from /usr/bin/time -v."""
    start = time.monotonic()
    proc = subprocess.run(
        ["/usr/bin/time", "-v", sys.executable, "-m", "geopublish", *args],
        env=env, cwd=REPO, capture_output=True, text=True,
    )  # fmt: skip
    wall = time.monotonic() - start
    if proc.returncode != 0:
        raise SystemExit(proc.stderr[-3000:])
    rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", proc.stderr).group(1))
    cpu = sum(
        float(re.search(rf"{kind} time \(seconds\): ([\d.]+)", proc.stderr).group(1))
        for kind in ("User", "System")
    )
    return {"wall_s": round(wall, 1), "cpu_s": round(cpu, 1), "peak_rss_mb": round(rss / 1024)}


def main() -> None:
    """Generate, build, change one publisher, refresh; print the figures as JSON."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--publishers", type=int, default=200)
    parser.add_argument("--rows", type=int, default=5000)
    parser.add_argument("--work", type=Path, default=REPO / "var/bench/fed")
    parser.add_argument("--store", default="gpkg")
    parser.add_argument("--tiles", action="store_true", help="build the vector tiles too")
    args = parser.parse_args()
    work = args.work.resolve()
    t0 = time.monotonic()
    generate(work, args.publishers, args.rows, tiles=args.tiles)
    gen_s = round(time.monotonic() - t0, 1)
    env = dict(os.environ)
    env.update(
        GEOPUBLISH_PROJECT_DIR=str(REPO), GEOPUBLISH_VAR_DIR=str(work / "var"),
        GEOPUBLISH_SOURCE_ROOT=str(work / "data"), GEOPUBLISH_SOURCE_MODE="local",
        GEOPUBLISH_COLLECTIONS_DIR=str(work / "collections"), GEOPUBLISH_STORE=args.store,
        GEOPUBLISH_PYGEOAPI_CONFIG=str(work / "var/pygeoapi-config.yml"),
        GEOPUBLISH_OPENAPI=str(work / "var/openapi.yml"), GEOPUBLISH_KEEP_VERSIONS="2",
    )  # fmt: skip
    if args.store == "postgis":
        env.setdefault(
            "GEOPUBLISH_POSTGIS_DSN", "host=127.0.0.1 port=5432 user=postgres dbname=test"
        )
        env["GEOPUBLISH_POSTGIS_SCHEMA"] = f"fed_bench_{os.getpid()}"
    full = timed(env, "build", "fed_bench")
    changed = work / "data/gen/p007.csv"
    lines = changed.read_bytes().split(b"\r\n")
    changed.write_bytes(b"\r\n".join(lines[:-200]) + b"\r\n")  # the publisher removed rows
    refresh = timed(env, "refresh", "fed_bench")
    layer = json.loads((work / "var/federation/fed_bench/layer.json").read_text())
    path = json.loads((work / "var/reports/fed_bench/latest.json").read_text())["build_path"]
    outcomes: dict[str, int] = {}
    for p in layer["publishers"].values():
        outcomes[p["outcome"]] = outcomes.get(p["outcome"], 0) + 1
    total = sum(p.get("valid", 0) for p in layer["publishers"].values())
    print(json.dumps({
        "publishers": args.publishers, "rows_each": args.rows, "store": args.store,
        "generate_s": gen_s, "full": full, "refresh_one_changed": refresh,
        "refresh_share_of_full_wall": round(refresh["wall_s"] / full["wall_s"], 3),
        "refresh_share_of_full_cpu": round(refresh["cpu_s"] / full["cpu_s"], 3),
        "refresh_outcomes": outcomes,
        "refresh_path": {k: v for k, v in path.items() if k != "replaced"}, "tiles": args.tiles,
        "valid_rows": total,
        "duplicate_pairs": len(layer["duplicates"]), "collisions": len(layer["collisions"]),
    }, indent=2))  # fmt: skip
    if args.store == "postgis":
        import psycopg

        with psycopg.connect(env["GEOPUBLISH_POSTGIS_DSN"], autocommit=True) as con:
            con.execute(f'DROP SCHEMA IF EXISTS "{env["GEOPUBLISH_POSTGIS_SCHEMA"]}" CASCADE')


if __name__ == "__main__":
    main()
