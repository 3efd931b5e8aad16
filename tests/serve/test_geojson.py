"""The direct path's geometry writer gives the same GeoJSON as shapely's, for every type."""

from __future__ import annotations

import json

import pytest
import shapely

from geopublish.serve import geojson

CASES = {
    "Point": ["POINT (3.876716 43.610769)", "POINT (1.444 43.6045)"],
    "PointZ": ["POINT Z (3.8 43.6 120.5)"],
    "LineString": ["LINESTRING (3 43, 3.1 43.2, 3.3 43.1)", "LINESTRING (1 2, 3 4)"],
    "Polygon": [
        "POLYGON ((0 0, 4 0, 4 4, 0 4, 0 0), (1 1, 2 1, 2 2, 1 1))",
        "POLYGON ((5 5, 6 5, 6 6, 5 5))",
    ],
    "MultiPoint": ["MULTIPOINT ((1 1), (2 2.5))", "MULTIPOINT ((0.1 0.2))"],
    "MultiLineString": ["MULTILINESTRING ((0 0, 1 1), (2 2, 3 3, 4 2))"],
    "MultiPolygon": [
        "MULTIPOLYGON (((0 0, 1 0, 1 1, 0 0)), ((2 2, 3 2, 3 3, 2 2), (2.2 2.1, 2.8 2.1, 2.8 2.7, 2.2 2.1)))",
        "MULTIPOLYGON (((10 10, 11 10, 11 11, 10 10)))",
    ],
    "mixed": ["POINT (1 2)", "LINESTRING (0 0, 1 1)"],
    "collection": ["GEOMETRYCOLLECTION (POINT (1 2), LINESTRING (0 0, 1 1))"],
    "empty": ["POLYGON EMPTY", "POLYGON ((0 0, 1 0, 1 1, 0 0))"],
}


@pytest.mark.parametrize("copies", [1, geojson.SMALL_GEOMETRIES])  # a few; a page's ragged array
@pytest.mark.parametrize("case", CASES)
def test_same_geojson_as_shapely(case, copies):
    geoms = shapely.from_wkt([*CASES[case] * copies, None])
    ours = [json.loads(geojson.dumps(g)) for g in geojson.geometries(geoms)]
    theirs = [json.loads(t) if t is not None else None for t in shapely.to_geojson(geoms)]
    assert ours == theirs


def test_a_few_geometries_are_written_as_a_page_writes_them():
    wkt = CASES["MultiPolygon"]
    few = shapely.from_wkt(wkt)
    page = shapely.from_wkt(wkt * geojson.SMALL_GEOMETRIES)
    assert len(page) > geojson.SMALL_GEOMETRIES
    written = [geojson.dumps(g) for g in geojson.geometries(few)]
    assert written == [geojson.dumps(g) for g in geojson.geometries(page)[: len(few)]]
    assert all(isinstance(g, dict) for g in geojson.geometries(page))


def test_full_precision_round_trips():
    point = shapely.Point(3.8767160000000001, 43.610769123456789)
    (geometry,) = geojson.geometries(shapely.from_wkb([shapely.to_wkb(point)]))
    assert tuple(json.loads(geojson.dumps(geometry))["coordinates"]) == (point.x, point.y)


def test_no_geometries():
    assert geojson.geometries(shapely.from_wkt([None, None])) == [None, None]
