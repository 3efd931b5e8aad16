"""Every bad input of the suite, through the real CLI at once: one line each, no traceback.

One catalogue holds a good layer and one layer (or spec) per hostile case; ``check``,
``build`` and ``refresh`` must name each bad one in exactly one ``error:`` line, build the
good one, exit 1 and never print a Python traceback.
"""

from __future__ import annotations

import json
import os
import zipfile

import geopandas as gpd
import pyogrio
import pytest
import shapely
import yaml
from gpsupport import cli_env, run_cli

POINTS = [("a", 3.87, 43.61), ("b", 3.88, 43.62)]


def geojson(rows: list[tuple[str, float, float]], **props: object) -> str:
    features = [
        {
            "type": "Feature",
            "properties": {"code": code, "nom": "Sète", **props},
            "geometry": {"type": "Point", "coordinates": [x, y]},
        }
        for code, x, y in rows
    ]
    return json.dumps({"type": "FeatureCollection", "features": features})


def spec(part: dict, **extra: object) -> dict:
    source = {"parts": [part], **extra.pop("source", {})}
    return {
        "title": "t",
        "description": "t",
        "licence": {"name": "Licence Ouverte 2.0"},
        "attribution": "test",
        "source": source,
        "feature_id": {"fields": ["code"]},
        "geometry": {"type": "Point", "promote_to_multi": False},
        **extra,
    }


CSV = {"x": "x", "y": "y", "delimiter": ";"}


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> dict:
    base = tmp_path_factory.mktemp("hostile")
    data = base / "data"
    data.mkdir()
    outside = base / "outside"
    outside.mkdir()
    (outside / "secret.geojson").write_text(geojson(POINTS))
    (data / "link.geojson").symlink_to(outside / "secret.geojson")
    (data / "good.geojson").write_text(geojson(POINTS))
    (data / "corrupt.geojson").write_text('{"type": "FeatureCollection", "features": [{"ty')
    (data / "latin1.csv").write_bytes("code;nom;x;y\na;Béziers;3.2;43.3\n".encode("latin-1"))
    (data / "nocoords.csv").write_text(
        "code;x;y\n" + "".join(f"p{i};?;?\n" for i in range(10)) + "q;3.8;43.6\n"
    )
    (data / "lambert.geojson").write_text(geojson([("a", 770000.0, 6280000.0)]))
    (data / "dupes.geojson").write_text(geojson([("a", 3.8, 43.6), ("a", 3.9, 43.6)]))
    (data / "nullid.geojson").write_text(geojson([(None, 3.8, 43.6)]))  # type: ignore[list-item]
    cells = gpd.GeoDataFrame(
        {"code": [f"c{i}" for i in range(100)]},
        geometry=[shapely.Point(3.8 + i / 1000, 43.6) for i in range(100)],
        crs=4326,
    )
    for name in ("shp_cut", "dbf_cut"):
        (data / name).mkdir()
        pyogrio.write_dataframe(cells, data / name / "cells.shp")
    os.truncate(data / "shp_cut/cells.shp", 1500)
    os.truncate(data / "dbf_cut/cells.dbf", 700)
    with zipfile.ZipFile(data / "empty.zip", "w") as zf:
        zf.writestr("LISEZMOI.txt", "rien")
    with zipfile.ZipFile(data / "two.zip", "w") as zf:
        zf.writestr("a.geojson", geojson(POINTS))
        zf.writestr("b.geojson", geojson(POINTS))
    with zipfile.ZipFile(data / "bomb.zip", "w", zipfile.ZIP_DEFLATED) as zf:
        with zf.open("big.csv", "w") as out:
            out.write(b"code;x;y\n")
            for _ in range(70):
                out.write(b"a" * (1 << 20))
    specs = base / "collections/test"
    specs.mkdir(parents=True)
    layers = {
        "good": spec({"path": "good.geojson"}),
        "missing_file": spec({"path": "nowhere.geojson"}),
        "dotdot": spec({"path": "../outside/secret.geojson"}),
        "absolute": spec({"path": str(outside / "secret.geojson")}),
        "symlink": spec({"path": "link.geojson"}),
        "corrupt": spec({"path": "corrupt.geojson"}),
        "wrong_encoding": spec(
            {"path": "latin1.csv"}, source={"csv": CSV, "crs": "EPSG:4326", "encoding": "utf-8"}
        ),
        "unknown_encoding": spec(
            {"path": "latin1.csv"}, source={"csv": CSV, "crs": "EPSG:4326", "encoding": "klingon"}
        ),
        "no_coordinates": spec({"path": "nocoords.csv"}, source={"csv": CSV, "crs": "EPSG:4326"}),
        "mislabelled_crs": spec({"path": "lambert.geojson"}, source={"crs": "EPSG:4326"}),
        "duplicate_ids": spec({"path": "dupes.geojson"}),
        "null_ids": spec({"path": "nullid.geojson"}),
        "missing_column": spec(
            {"path": "good.geojson"},
            conform={"fields": [{"name": "code"}, {"name": "libelle"}]},
        ),
        "truncated_shp": spec({"path": "shp_cut/cells.shp"}),
        "truncated_dbf": spec({"path": "dbf_cut/cells.shp"}),
        "zip_empty": spec({"path": "empty.zip"}),
        "zip_two": spec({"path": "two.zip"}),
        "zip_member": spec({"path": "two.zip!c.geojson"}),
        "zip_bomb": spec({"path": "bomb.zip!big.csv"}, source={"csv": CSV, "crs": "EPSG:4326"}),
    }
    for cid, content in layers.items():
        (specs / f"{cid}.yml").write_text(yaml.safe_dump(content, allow_unicode=True))
    bad_specs = {
        "typo.yml": yaml.safe_dump({**spec({"path": "good.geojson"}), "titel": "x"}),
        "gpkg_contents.yml": yaml.safe_dump(spec({"path": "good.geojson"})),
        "file_url.yml": yaml.safe_dump(spec({"url": (outside / "secret.geojson").as_uri()})),
        "not_yaml.yml": "title: [unclosed\n",
        "laughs.yml": "a: &a [x, x, x, x, x, x, x, x, x]\n"
        + "".join(
            f"{c}: &{c} [{', '.join([f'*{p}'] * 9)}]\n"
            for p, c in zip("abcdefgh", "bcdefghi", strict=True)
        )
        + "title: *i\n",
    }
    for name, text in bad_specs.items():
        (specs / name).write_text(text)
    env = cli_env(base / "var", data, GEOPUBLISH_COLLECTIONS_DIR=str(base / "collections"))
    del env["GEOPUBLISH_SOURCE_ALLOW"]
    return {"env": env, "layers": layers, "bad_specs": bad_specs, "specs": specs}


def errors(result) -> list[str]:
    assert "Traceback" not in result.stdout + result.stderr
    return [line for line in result.stderr.splitlines() if line.startswith("error: ")]


def assert_one_line_each(tree: dict, lines: list[str], layers: bool) -> None:
    for name in tree["bad_specs"]:
        path = str(tree["specs"] / name)
        assert len([line for line in lines if line.startswith(f"error: {path}:")]) == 1, name
    if layers:
        for cid in tree["layers"]:
            if cid == "good":
                continue
            named = [line for line in lines if line.startswith(f"error: collection {cid!r}:")]
            assert len(named) == 1, (cid, lines)
            assert len(named[0]) < 1200, named[0]


def test_check_names_every_bad_spec_once(tree):
    result = run_cli(tree["env"], "check")
    assert result.returncode == 1
    lines = errors(result)
    assert len(lines) == len(tree["bad_specs"]), lines
    assert_one_line_each(tree, lines, layers=False)


@pytest.mark.parametrize("command", ["build", "refresh"])
def test_build_and_refresh_name_every_bad_input_once_and_build_the_rest(tree, command):
    result = run_cli(tree["env"], command)
    assert result.returncode == 1
    lines = errors(result)
    assert_one_line_each(tree, lines, layers=True)
    assert len(lines) == len(tree["bad_specs"]) + len(tree["layers"]) - 1
    if command == "build":
        assert "good: published v1" in result.stdout
