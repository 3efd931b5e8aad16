"""Tile serving benchmark: wrk at 8 connections over every tile of one zoom of each layer.

Builds the Montpellier parks (polygons), the car parks (points) and the region into a private
var/ folder on one store, serves them (2 workers), then runs wrk over the layer's stored tiles
(a Lua script cycles through the tile paths). Prints build time and size per layer and wrk's
latency distribution. Usage: .venv/bin/python bench/tiles/run.py [gpkg|postgis] [seconds]
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests"))
from gpsupport import REPO, Server, cli_env, run_cli  # noqa: E402

LAYERS = {
    "parks_montpellier": "environment",
    "car_parks_montpellier": "transport",
    "region": "admin",
}
LUA = """
local paths = {}
for line in io.lines("%s") do paths[#paths + 1] = line end
local i = 0
request = function()
  i = i + 1
  return wrk.format("GET", paths[(i %% #paths) + 1], {["Accept-Encoding"] = "gzip"})
end
"""


def main() -> None:
    store = sys.argv[1] if len(sys.argv) > 1 else "gpkg"
    seconds = sys.argv[2] if len(sys.argv) > 2 else "20"
    root = Path(tempfile.mkdtemp(prefix="bench-tiles-"))
    (root / "collections/b").mkdir(parents=True)
    for cid, theme in LAYERS.items():
        text = (REPO / f"collections/{theme}/{cid}.yml").read_text()
        (root / f"collections/b/{cid}.yml").write_text(text)
    extra = {"GEOPUBLISH_COLLECTIONS_DIR": str(root / "collections"), "GEOPUBLISH_STORE": store}
    if store == "postgis":
        extra.update(
            GEOPUBLISH_POSTGIS_DSN="host=127.0.0.1 user=postgres dbname=test",
            GEOPUBLISH_POSTGIS_SCHEMA="bench_tiles",
        )
    env = cli_env(root / "var", REPO.parent / "shared" / "data", **extra)
    result = run_cli(env, "build")
    assert result.returncode == 0, result.stderr
    for cid in LAYERS:
        report = json.loads(sorted((root / "var/reports" / cid).glob("*.json"))[-1].read_text())
        print(cid, "tiles:", json.dumps(report.get("tiles")))
    server = Server(env, workers=2)
    try:
        for cid in ("parks_montpellier", "car_parks_montpellier"):
            tileset = next((root / "var/tiles" / cid).glob("*.mbtiles"))
            con = sqlite3.connect(tileset)
            rows = con.execute(
                "SELECT zoom_level, tile_column, tile_row FROM tiles WHERE zoom_level >= 10"
            ).fetchall()
            paths = [
                f"/collections/{cid}/tiles/WebMercatorQuad/{z}/{(1 << z) - 1 - r}/{x}"
                for z, x, r in rows
            ]
            listing = root / f"{cid}.paths"
            listing.write_text("\n".join(paths) + "\n")
            script = root / f"{cid}.lua"
            script.write_text(LUA % listing)
            print(f"{cid}: {len(paths)} distinct tiles (z10+)")
            out = subprocess.run(
                ["wrk", "-t2", "-c8", f"-d{seconds}s", "--latency", "-s", str(script), server.url],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            print(out)
    finally:
        server.stop()


if __name__ == "__main__":
    main()
