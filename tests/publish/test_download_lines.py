"""GDAL GeoJSON and CSV downloads with some publishers' rows replaced, checked by parsing."""

from __future__ import annotations

import csv
import io
import json

import geopandas as gpd
import pyogrio
import pytest
import shapely

from geopublish.publish.download_lines import replace_csv, replace_geojson

TRICKY = [
    "plain",
    'says "publisher": "p1" inside',  # the property's text inside another value
    "line one\nline two",  # a quoted newline (CSV record over two lines)
    "p1",
]


def layer(rows: list[tuple[str, str, str]]) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"id": [r[0] for r in rows], "comm": [r[1] for r in rows],
         "publisher": [r[2] for r in rows]},
        geometry=[shapely.Point(1.0 + sum(map(ord, r[0])) / 1000, 43.0) for r in rows],
        crs="EPSG:4326",
    )  # fmt: skip


def write(gdf: gpd.GeoDataFrame, path, driver: str) -> None:
    options = {"RFC7946": "YES", "WRITE_NAME": "NO"} if driver == "GeoJSON" else {
        "GEOMETRY": "AS_WKT", "GEOMETRY_NAME": "wkt"}  # fmt: skip
    pyogrio.write_dataframe(gdf, path, driver=driver, layer_options=options)


def parsed(path, driver: str) -> list[dict]:
    text = path.read_text(encoding="utf-8")
    if driver == "GeoJSON":
        return [
            {**f["properties"], "geometry": f["geometry"]} for f in json.loads(text)["features"]
        ]
    return list(csv.DictReader(io.StringIO(text, newline="")))


@pytest.mark.parametrize("driver", ["GeoJSON", "CSV"])
@pytest.mark.parametrize("comments", [TRICKY[:2] + TRICKY[3:], TRICKY])
def test_replacing_a_publishers_rows_equals_writing_the_result(tmp_path, driver, comments):
    suffix = "geojson" if driver == "GeoJSON" else "csv"
    old_rows = [(f"a{i}", comments[i % len(comments)], ["p1", "p2", "p3"][i % 3])
                for i in range(12)]  # fmt: skip
    new_rows = [("n1", "new, with comma", "p1"), ("n2", comments[-1], "p4")]
    kept = [r for r in old_rows if r[2] not in ("p1", "p4")]
    paths = {k: tmp_path / f"{k}.{suffix}" for k in ("old", "new", "out", "want")}
    write(layer(old_rows), paths["old"], driver)
    write(layer(new_rows), paths["new"], driver)
    write(layer(kept + new_rows), paths["want"], driver)
    replace = replace_geojson if driver == "GeoJSON" else replace_csv
    replace(paths["old"], paths["new"], paths["out"], "publisher", ("p1", "p4"))
    got = parsed(paths["out"], driver)
    assert [r["id"] for r in got] == [r[0] for r in kept + new_rows]
    assert got == parsed(paths["want"], driver)
    if driver == "GeoJSON":
        assert paths["out"].read_bytes() == paths["want"].read_bytes()


@pytest.mark.parametrize("driver", ["GeoJSON", "CSV"])
def test_replacing_every_row_or_none(tmp_path, driver):
    suffix = "geojson" if driver == "GeoJSON" else "csv"
    rows = [("a1", "x", "p1"), ("a2", "y", "p1")]
    paths = {k: tmp_path / f"{k}.{suffix}" for k in ("old", "new", "out", "empty")}
    write(layer(rows), paths["old"], driver)
    write(layer([("b1", "z", "p2")]), paths["new"], driver)
    replace = replace_geojson if driver == "GeoJSON" else replace_csv
    replace(paths["old"], paths["new"], paths["out"], "publisher", ("p1",))
    assert [r["id"] for r in parsed(paths["out"], driver)] == ["b1"]
    write(layer([]), paths["empty"], driver)
    replace(paths["old"], paths["empty"], paths["out"], "publisher", ("p9",))
    assert [r["id"] for r in parsed(paths["out"], driver)] == ["a1", "a2"]
