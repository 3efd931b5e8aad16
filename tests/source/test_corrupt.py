"""Corrupt files are refused with a line naming the file and the cause, never published."""

from __future__ import annotations

import os

import geopandas as gpd
import pyogrio
import pytest
import shapely
import yaml
from gpsupport import cli_env, layer_spec, run_cli

N = 200


def spec(path: str, **checks: object) -> dict:
    return layer_spec({"path": path}, geometry="Polygon", checks=checks)


def squares(n: int) -> gpd.GeoDataFrame:
    cells = [
        shapely.box(
            3.5 + (i % 20) / 50, 43.5 + (i // 20) / 50, 3.51 + (i % 20) / 50, 43.51 + (i // 20) / 50
        )
        for i in range(n)
    ]
    return gpd.GeoDataFrame({"code": [f"c{i}" for i in range(n)]}, geometry=cells, crs=4326)


def csv_spec(**checks: object) -> dict:
    content = spec("mostly_bad.csv", **checks)
    content["source"].update(csv={"x": "x", "y": "y", "delimiter": ";"}, crs="EPSG:4326")
    content["geometry"] = {"type": "Point", "promote_to_multi": False}
    return content


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> dict:
    base = tmp_path_factory.mktemp("corrupt")
    data = base / "data"
    for name in ("shp_cut", "dbf_cut", "ok"):
        (data / name).mkdir(parents=True)
        pyogrio.write_dataframe(squares(N), data / name / "cells.shp")
    shp = data / "shp_cut/cells.shp"
    os.truncate(shp, int(shp.stat().st_size * 0.3))
    dbf = data / "dbf_cut/cells.dbf"
    os.truncate(dbf, int(dbf.stat().st_size * 0.5))
    lines = ["code;x;y"] + [f"p{i};{'3.8' if i % 5 == 0 else 'inconnu'};43.6" for i in range(100)]
    (data / "mostly_bad.csv").write_text("\n".join(lines) + "\n")
    specs = base / "collections/test"
    specs.mkdir(parents=True)
    layers = {
        "shp_cut": spec("shp_cut/cells.shp"),
        "dbf_cut": spec("dbf_cut/cells.shp"),
        "drops": csv_spec(),
        "drops_ok": csv_spec(max_dropped_ratio=0.9),
        "ok": spec("ok/cells.shp"),
    }
    for cid, content in layers.items():
        (specs / f"{cid}.yml").write_text(yaml.safe_dump(content))
    env = cli_env(base / "var", data, GEOPUBLISH_COLLECTIONS_DIR=str(base / "collections"))
    result = run_cli(env, "build")  # one build of every case: a bad layer blocks only itself
    assert "Traceback" not in result.stdout + result.stderr
    assert result.returncode == 1
    return {"base": base, "data": data.resolve(), "result": result}


def build(tree: dict, cid: str) -> tuple[str, str]:
    """The layer's error line (or '') and the summary line of the shared build."""
    errors = [
        line
        for line in tree["result"].stderr.splitlines()
        if line.startswith(f"error: collection {cid!r}:")
    ]
    assert len(errors) <= 1, errors
    return (errors[0] if errors else ""), tree["result"].stdout


def test_truncated_shapefile_is_refused_naming_file_and_cause(tree):
    line, _ = build(tree, "shp_cut")
    path = tree["data"] / "shp_cut/cells.shp"
    assert line.startswith(
        f"error: collection 'shp_cut': shapefile {str(path)!r} is truncated: its header declares "
    ), line
    assert not (tree["base"] / "var/store/shp_cut").exists()
    assert "Traceback" not in tree["result"].stderr


def test_fewer_records_than_declared_is_refused(tree):
    line, _ = build(tree, "dbf_cut")
    path = tree["data"] / "dbf_cut/cells.shp"
    assert line.startswith(f"error: collection 'dbf_cut': {str(path)!r}: read "), line
    assert (
        f"of the {N} records the file declares (GDAL: ERROR 1: fread(81) failed on DBF file.); "
        "it is truncated or corrupt"
    ) in line


def test_first_build_dropping_most_records_is_refused(tree):
    line, _ = build(tree, "drops")
    assert "first_build_drops: 80 of 100 records read were dropped (80.0%; unparseable " in line
    assert "at most 50% on a first build (checks.max_dropped_ratio)" in line


def test_the_first_build_share_is_configurable(tree):
    line, out = build(tree, "drops_ok")
    assert line == ""
    assert "drops_ok: published v1: 20 written" in out


def test_an_intact_shapefile_builds(tree):
    line, out = build(tree, "ok")
    assert line == ""
    assert f"ok: published v1: {N} written" in out
