"""GeoJSON geometries with their coordinates as numpy arrays, written by orjson.

shapely's ``to_geojson`` formats every coordinate through GEOS' text writer; for pages of
polygons that is the largest cost of a request left on the direct path. Here a page's
geometries become one ragged coordinate array (``shapely.to_ragged_array``) and each geometry a
dict whose leaves are views of it; ``orjson`` writes numpy arrays natively, with the shortest
text that reads back to the same double (the same numbers ``json.dumps`` would write).
Geometries of mixed types and collections take shapely's own writer. A few small geometries (a
feature by id, a handful of points) are cheaper as shapely's ``__geo_interface__`` tuples than
through the ragged array's fixed cost; orjson writes their floats with the same shortest text.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson
import shapely
from shapely import GeometryType

OPTIONS = orjson.OPT_SERIALIZE_NUMPY
# Up to this many geometries and coordinates, per-geometry tuples beat the ragged array.
SMALL_GEOMETRIES = 8
SMALL_COORDINATES = 512
NAMES = {
    GeometryType.POINT: "Point",
    GeometryType.LINESTRING: "LineString",
    GeometryType.POLYGON: "Polygon",
    GeometryType.MULTIPOINT: "MultiPoint",
    GeometryType.MULTILINESTRING: "MultiLineString",
    GeometryType.MULTIPOLYGON: "MultiPolygon",
}


def dumps(document: Any) -> bytes:
    """JSON of a document whose geometries come from :func:`geometries`."""
    return orjson.dumps(document, option=OPTIONS)


def _nest(coords: np.ndarray, offsets: tuple[np.ndarray, ...], depth: int, i: int) -> Any:
    """Coordinates of part ``i`` at ``depth`` of the offset hierarchy (0 = coordinate runs)."""
    start, end = int(offsets[depth][i]), int(offsets[depth][i + 1])
    if depth == 0:
        return coords[start:end]
    return [_nest(coords, offsets, depth - 1, j) for j in range(start, end)]


def geometries(geoms: np.ndarray) -> list[Any]:
    """One GeoJSON geometry (dict, or a JSON fragment) per geometry; None for missing."""
    out: list[Any] = [None] * len(geoms)
    present = np.flatnonzero(~shapely.is_missing(geoms))
    if not len(present):
        return out
    kinds = np.unique(shapely.get_type_id(geoms[present]))
    kind = GeometryType(int(kinds[0])) if len(kinds) == 1 else None
    if kind not in NAMES or shapely.is_empty(geoms[present]).any():
        for i, text in zip(present, shapely.to_geojson(geoms[present]), strict=True):
            out[i] = orjson.Fragment(text)
        return out
    assert kind is not None
    if (
        len(present) <= SMALL_GEOMETRIES
        and shapely.get_num_coordinates(geoms[present]).sum() <= SMALL_COORDINATES
    ):
        for i in present:
            out[i] = shapely.geometry.mapping(geoms[i])
        return out
    name = NAMES[kind]
    _, coords, offsets = shapely.to_ragged_array(geoms[present])
    coords = np.ascontiguousarray(coords)
    for n, i in enumerate(present):
        if not offsets:
            value: Any = coords[n]
        else:
            value = _nest(coords, offsets, len(offsets) - 1, n)
        out[i] = {"type": name, "coordinates": value}
    return out
