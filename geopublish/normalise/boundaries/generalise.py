"""Topology-preserving simplification of a whole polygon coverage."""

from __future__ import annotations

import numpy as np
import shapely
from geopandas import GeoDataFrame

from geopublish.errors import NormaliseError
from geopublish.normalise.boundaries._common import clean_coverage, require_polygons


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
    gdf: GeoDataFrame,
    tolerance: float,
    *,
    collection: str,
    gap_width: float = 0.0,
    id_field: str | None = None,
) -> tuple[GeoDataFrame, dict]:
    """Simplify every polygon of a coverage together, so neighbours keep sharing edges.

    Uses :func:`shapely.coverage_simplify`, which keeps a valid coverage valid: no gaps or
    overlaps appear between polygons that shared an edge. An input that is not a valid
    coverage (overlaps, neighbours whose edges do not match vertex for vertex) is cleaned
    first (:func:`~geopublish.normalise.boundaries._common.clean_coverage`) and the report
    says what changed.

    Parameters
    ----------
    gdf : GeoDataFrame
        Polygons forming a coverage, in a projected CRS.
    tolerance : float
        Simplification tolerance in the units of that CRS, roughly the square root of the
        area of the corners removed (the default catalogue: 1 000 m for 1:1,000,000, 125 m
        for 1:250,000 in EPSG:2154).
    collection : str
        Collection id, for error messages.
    gap_width : float
        Gaps between polygons narrower than this are merged into a neighbour before
        simplifying; 0 keeps every gap of the input.
    id_field : str, optional
        Column naming features in the report and errors (default: the index).

    Returns
    -------
    tuple[GeoDataFrame, dict]
        A copy of ``gdf`` with simplified geometries, and a report with ``tolerance``,
        ``crs``, ``vertices_before``, ``vertices_after``, ``ratio`` (before / after, stored
        coordinates), ``unique_vertices_before``, ``unique_vertices_after``, ``unique_ratio``
        (distinct positions, see :func:`unique_vertices`), ``coverage_valid_before``,
        ``coverage_valid_after`` and, when the input was cleaned, ``coverage_cleaning``.
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
    ids = (gdf[id_field] if id_field else gdf.index).tolist()
    cleaned, cleaning = clean_coverage(geoms, ids=ids, collection=collection, gap_width=gap_width)
    simplified = shapely.coverage_simplify(cleaned, tolerance)
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
        "coverage_valid_before": cleaning is None,
        "coverage_valid_after": bool(shapely.coverage_is_valid(simplified)),
    }
    if cleaning is not None:
        report["coverage_cleaning"] = cleaning
    return out, report
