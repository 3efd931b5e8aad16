"""Rasters go through the same store and swap-and-record step as feature layers."""

from __future__ import annotations

import json
import shutil

from gpsupport import REPO, cli_env, run_cli


def test_a_hillshade_is_built_from_the_served_dem_when_the_dem_rebuild_fails(shared_data, tmp_path):
    collections = tmp_path / "collections" / "backgrounds"
    collections.mkdir(parents=True)
    for name in ("dem_cevennes", "hillshade_cevennes"):
        shutil.copy(REPO / "collections" / "backgrounds" / f"{name}.yml", collections)
    env = cli_env(
        tmp_path / "var", shared_data, GEOPUBLISH_COLLECTIONS_DIR=str(tmp_path / "collections")
    )
    first = run_cli(env, "build")
    assert first.returncode == 0, first.stderr
    # the DEM spec now refuses its own source: its rebuild fails, v1 stays served
    dem = collections / "dem_cevennes.yml"
    dem.write_text(dem.read_text().replace("units: m}", "units: m, expect_crs: [EPSG:4326]}"))
    second = run_cli(env, "build")
    assert second.returncode == 1
    errors = [line for line in second.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "dem_cevennes" in errors[0], second.stderr
    assert "hillshade_cevennes: published v2" in second.stdout, second.stdout
    store = tmp_path / "var" / "store"
    assert (store / "dem_cevennes" / "current.tif").resolve().name == "v000001.tif"
    assert (store / "hillshade_cevennes" / "current.tif").resolve().name == "v000002.tif"
    record = json.loads((store / "hillshade_cevennes" / "v000002.json").read_text())
    assert record["kind"] == "coverage" and record["raster"]["width"] > 0
    changes = sorted((tmp_path / "var" / "history" / "hillshade_cevennes" / "changes").iterdir())
    assert [json.loads(p.read_text())["version"] for p in changes] == [1, 2]
