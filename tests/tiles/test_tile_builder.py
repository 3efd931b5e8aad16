"""The tile builder alone: column types as stores read them back, zoom range, attributes."""

from __future__ import annotations

import gzip
import sqlite3

import mapbox_vector_tile
import pyarrow as pa
import pytest
import shapely

from geopublish.errors import PublishError
from geopublish.publish import tiles


def test_nullable_integers_and_booleans_are_tiled_with_their_types(tmp_path):
    # A batch as FeatureStore.scan yields it: declared fields, then the WKB geometry.
    points = [shapely.Point(3.85, 43.6), shapely.Point(3.86, 43.6)]
    frame = pa.RecordBatch.from_pydict(
        {
            "code": ["a", "b"],
            "places": pa.array([3, None], pa.int64()),
            "ouvert": pa.array([True, None], pa.bool_()),
            "hidden": ["x", "y"],
            "geom": pa.array(shapely.to_wkb(points).tolist(), pa.binary()),
        }
    )
    fields = {"code": "string", "places": "integer", "ouvert": "boolean", "hidden": "string"}
    plan = tiles.plan("p", fields, "code", "Point", "OGC:CRS84", maxzoom=10,
                      attributes=["places", "ouvert"])  # fmt: skip
    target = tiles.build([frame], plan, tmp_path / "p" / "b1.mbtiles")
    con = sqlite3.connect(target)
    assert dict(con.execute("SELECT name, value FROM metadata"))["maxzoom"] == "10"
    assert con.execute("SELECT max(zoom_level) FROM tiles").fetchone() == (10,)
    (data,) = con.execute("SELECT tile_data FROM tiles WHERE zoom_level = 10").fetchone()
    features = mapbox_vector_tile.decode(gzip.decompress(data))["p"]["features"]
    props = sorted((f["properties"] for f in features), key=lambda p: p["code"])
    assert props == [{"code": "a", "places": 3, "ouvert": True}, {"code": "b"}]
    assert [p.name for p in tmp_path.joinpath("p").iterdir()] == ["b1.mbtiles"]
    assert tiles.prune(tmp_path / "p", {"other"}) == ["b1.mbtiles"]


def test_unknown_attribute_and_bad_range_are_one_line_errors():
    with pytest.raises(PublishError, match=r"tiles.attributes names unknown field\(s\) \['nope'\]"):
        tiles.plan("p", {"code": "string"}, "code", "Point", "OGC:CRS84", attributes=["nope"])
    with pytest.raises(PublishError, match="minzoom 9 > tiles.maxzoom 3"):
        tiles.plan("p", {"code": "string"}, "code", "Point", "OGC:CRS84", minzoom=9, maxzoom=3)
    assert tiles.default_zooms("MultiPoint") == (6, 14)
    assert tiles.default_zooms("MultiPolygon") == (0, 12)
