"""Topology-preserving simplification of a whole polygon coverage."""

from __future__ import annotations

import numpy as np
import shapely
from geopandas import GeoDataFrame

from geopublish.errors import NormaliseError
from geopublish.normalise.boundaries._common import require_polygons


def unique_vertices(geoms: np.ndarray) -> int:
    """Distinct vertex positions: a boundary shared by two polygons counts once, as in a topology.

    Stored coordinates count every shared vertex once per polygon and each ring's closing
    point; coverage simplification keeps every junction of three or more polygons, so the
    stored count cannot drop below that floor whatever the tolerance, while the distinct
    positions keep falling.
    """
    coords = shapely.get_coordinates(geoms)
    return int(len(np.unique(coords, axis=0))) if len(coords) else 0


def simplify_coverage(
    gdf: GeoDataFrame, tolerance: float, *, collection: str
) -> tuple[GeoDataFrame, dict]:
    """Simplify every polygon of a coverage together, so neighbours keep sharing edges.

    Uses :func:`shapely.coverage_simplify`: no gaps or overlaps appear between polygons
    that shared an edge. An input that is not a valid coverage is still simplified; the
    report says so.

    Parameters
    ----------
    gdf : GeoDataFrame
        Polygons forming a coverage, in a projected CRS.
    tolerance : float
        Simplification tolerance in the units of that CRS (e.g. 500 m for 1:1,000,000,
        125 m for 1:250,000 in EPSG:2154).
    collection : str
        Collection id, for error messages.

    Returns
    -------
    tuple[GeoDataFrame, dict]
        A copy of ``gdf`` with simplified geometries, and a report with ``tolerance``,
        ``crs``, ``vertices_before``, ``vertices_after``, ``ratio`` (before / after, stored
        coordinates), ``unique_vertices_before``, ``unique_vertices_after``, ``unique_ratio``
        (distinct positions, see :func:`unique_vertices`),
        ``coverage_valid_before``, ``coverage_valid_after`` and ``invalid_edges_before``
        (features whose edges break the coverage).
    """
    geoms = require_polygons(gdf, collection=collection, what="the layer to simplify")
    if not gdf.crs.is_projected:
        raise NormaliseError(
            f"collection {collection!r}: cannot simplify a coverage in CRS "
            f"{gdf.crs.to_string()!r}, which is not projected (units: "
            f"{gdf.crs.axis_info[0].unit_name}); tolerance {tolerance!r} needs a projected "
            f"CRS: reproject first, e.g. gdf.to_crs('EPSG:2154') for metropolitan France"
        )
    if not tolerance > 0:
        raise NormaliseError(
            f"collection {collection!r}: simplification tolerance {tolerance!r} is not "
            f"positive; expected a distance in {gdf.crs.axis_info[0].unit_name}s, e.g. 500"
        )
    valid_before = bool(shapely.coverage_is_valid(geoms))
    invalid_edges = 0
    if not valid_before:
        edges = shapely.coverage_invalid_edges(geoms)
        invalid_edges = int((~shapely.is_empty(edges)).sum())
    simplified = shapely.coverage_simplify(geoms, tolerance)
    out = gdf.copy()
    out[gdf.geometry.name] = simplified
    before = int(shapely.get_num_coordinates(geoms).sum())
    after = int(shapely.get_num_coordinates(simplified).sum())
    shared_before, shared_after = unique_vertices(geoms), unique_vertices(simplified)
    report = {
        "tolerance": tolerance,
        "crs": gdf.crs.to_string(),
        "vertices_before": before,
        "vertices_after": after,
        "ratio": round(before / after, 3) if after else None,
        "unique_vertices_before": shared_before,
        "unique_vertices_after": shared_after,
        "unique_ratio": round(shared_before / shared_after, 3) if shared_after else None,
        "coverage_valid_before": valid_before,
        "coverage_valid_after": bool(shapely.coverage_is_valid(simplified)),
        "invalid_edges_before": invalid_edges,
    }
    return out, report
