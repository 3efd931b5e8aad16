"""CPU per request of geopublish APIs, case by case: robust to a machine shared with others.

    .venv/bin/python bench/serve/cpu.py --duration 8 gpkg=http://127.0.0.1:18731 \
        postgis=http://127.0.0.1:18732 [gpkg-before=URL postgis-before=URL]

On a loaded machine requests/s mostly measures the other processes; the CPU a server spends
per request does not. For each case (the ones of ``stores.sh``) and each API, wrk runs
``--duration`` seconds (2 threads, 4 connections) while the CPU time of the API's processes
(every process listening on its port) and of the PostgreSQL backends connected from them
(``ss`` and ``pg_stat_activity``) is read from /proc before and after. Prints requests/s,
p50/p99 latency and CPU ms per request (server, database, total).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import urllib.parse

import psycopg

CQL = "filter=departement%3D%2734%27%20AND%20nom%20LIKE%20%27S%25%27"
CASES = [
    ("page100", "/collections/communes/items?f=json&limit=100"),
    ("by_id", "/collections/communes/items/31555?f=json"),
    ("bbox", "/collections/communes/items?f=json&limit=100&bbox=3.8,43.5,3.95,43.65"),
    ("cql2", f"/collections/communes/items?f=json&limit=100&{CQL}"),
    ("points1000", "/collections/transport_stops/items?f=json&limit=1000"),
]
TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pids: set[int]) -> float:
    total = 0
    for pid in pids:
        try:
            fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / TICK


def listeners(port: int) -> set[int]:
    out = subprocess.run(["ss", "-tlnpH", f"sport = :{port}"], capture_output=True, text=True)
    return {int(p) for p in re.findall(r"pid=(\d+)", out.stdout)}


def backends(pids: set[int], dsn: str) -> set[int]:
    """PostgreSQL backends serving connections opened by ``pids``."""
    out = subprocess.run(["ss", "-tnpH", "dport = :5432"], capture_output=True, text=True).stdout
    ports = set()
    for line in out.splitlines():
        owners = {int(p) for p in re.findall(r"pid=(\d+)", line)}
        if owners & pids:
            ports.add(int(line.split()[3].rsplit(":", 1)[1]))
    if not ports:
        return set()
    with psycopg.connect(dsn) as con:
        rows = con.execute(
            "SELECT pid FROM pg_stat_activity WHERE client_port = ANY(%s)", (list(ports),)
        ).fetchall()
    return {r[0] for r in rows}


def wrk(url: str, duration: int) -> dict[str, str | int]:
    out = subprocess.run(
        ["wrk", "-t2", "-c4", f"-d{duration}s", "--latency", url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    lat = dict(re.findall(r"\s+(50|99)%\s+(\S+)", out))
    count = int(re.search(r"(\d+) requests in", out).group(1))
    rps = re.search(r"Requests/sec:\s+(\S+)", out).group(1)
    return {"count": count, "rps": rps, "p50": lat.get("50", "?"), "p99": lat.get("99", "?")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("apis", nargs="+", help="label=base URL")
    parser.add_argument("--duration", type=int, default=8)
    parser.add_argument("--dsn", default="host=127.0.0.1 user=postgres dbname=test")
    args = parser.parse_args()
    apis = [a.split("=", 1) for a in args.apis]
    print(
        f"{'case':<11} {'api':<15} {'req/s':>8} {'p50':>9} {'p99':>9} "
        f"{'cpu ms/req':>10} {'server':>7} {'db':>6}"
    )
    for case, path in CASES:
        for label, base in apis:
            port = urllib.parse.urlsplit(base).port
            server = listeners(port)
            subprocess.run(["curl", "-s", "-o", "/dev/null", base + path], check=True)
            db = backends(server, args.dsn)
            before = cpu_seconds(server), cpu_seconds(db)
            result = wrk(base + path, args.duration)
            db |= backends(server, args.dsn)
            after = cpu_seconds(server), cpu_seconds(db)
            n = max(int(result["count"]), 1)
            own, base_db = (after[0] - before[0]) * 1e3 / n, (after[1] - before[1]) * 1e3 / n
            print(
                f"{case:<11} {label:<15} {result['rps']:>8} {result['p50']:>9} "
                f"{result['p99']:>9} {own + base_db:>10.2f} {own:>7.2f} {base_db:>6.2f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
