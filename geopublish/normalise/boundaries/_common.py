"""Checks and small helpers shared by the boundary derivations."""

from __future__ import annotations

import numpy as np
import pandas as pd
import shapely
from geopandas import GeoDataFrame

from geopublish.errors import NormaliseError

LAMBERT93 = "EPSG:2154"
_POLYGONAL = ("Polygon", "MultiPolygon")


def require_field(gdf: GeoDataFrame, field: str, *, collection: str, what: str) -> None:
    """Raise unless ``field`` is a column of ``gdf`` holding strings only."""
    if field not in gdf.columns:
        raise NormaliseError(
            f"collection {collection!r}: field {field!r} missing from {what}; "
            f"available fields: {[c for c in gdf.columns if c != gdf.geometry.name]}"
        )
    bad = [v for v in gdf[field].tolist() if not isinstance(v, str)]
    if bad:
        raise NormaliseError(
            f"collection {collection!r}: field {field!r} of {what} holds non-string value "
            f"{bad[0]!r} ({len(bad)} rows); expected INSEE codes as strings like '31555'"
        )


def require_polygons(gdf: GeoDataFrame, *, collection: str, what: str) -> np.ndarray:
    """Return the geometries of ``gdf`` as an array; raise unless all are (multi)polygons."""
    if gdf.crs is None:
        raise NormaliseError(
            f"collection {collection!r}: {what} has no CRS; expected a layer with a CRS "
            f"such as EPSG:4326 or EPSG:2154 (set it with set_crs)"
        )
    geoms = np.asarray(gdf.geometry.array, dtype=object)
    missing = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    if missing.any():
        rows = list(gdf.index[missing][:5])
        raise NormaliseError(
            f"collection {collection!r}: {int(missing.sum())} features of {what} have a null "
            f"or empty geometry (rows {rows}); expected a polygon for every feature"
        )
    kinds = gdf.geom_type.to_numpy()
    wrong = ~np.isin(kinds, _POLYGONAL)
    if wrong.any():
        raise NormaliseError(
            f"collection {collection!r}: {what} has geometry type {kinds[wrong][0]!r} "
            f"(row {gdf.index[wrong][0]!r}); expected {' or '.join(_POLYGONAL)}"
        )
    return geoms


def as_multipolygon(geom: shapely.Geometry) -> shapely.MultiPolygon:
    """Return ``geom`` as a MultiPolygon, keeping only its polygonal parts."""
    parts = [p for p in shapely.get_parts(geom) if p.geom_type in _POLYGONAL]
    polygons = [q for p in parts for q in shapely.get_parts(p)]
    return shapely.MultiPolygon(polygons)


def _overlap_area(geoms: np.ndarray) -> float:
    left, right = shapely.STRtree(geoms).query(geoms, predicate="intersects")
    pairs = left < right
    return float(shapely.area(shapely.intersection(geoms[left[pairs]], geoms[right[pairs]])).sum())


def clean_coverage(
    geoms: np.ndarray, *, ids: list, collection: str, gap_width: float = 0.0
) -> tuple[np.ndarray, dict | None]:
    """Make ``geoms`` a valid coverage, or return them untouched when they already are one.

    A coverage is valid when no polygons overlap and neighbours share their edges vertex for
    vertex (and, with ``gap_width``, no gap between polygons is narrower than that). An
    invalid one goes through :func:`shapely.coverage_clean`: nearby vertices snapped
    together, each overlap given to the neighbour with the longest shared border, gaps
    narrower than ``gap_width`` merged into a neighbour the same way. Wider holes stay (an
    enclave such as Llívia is not a gap to fill).

    Parameters
    ----------
    geoms : numpy.ndarray
        Polygons and MultiPolygons, in one CRS.
    ids : list
        Feature identifiers in the same order, for the report and errors.
    collection : str
        Collection id, for error messages.
    gap_width : float
        Gaps narrower than this, in CRS units, are filled; 0 keeps every gap.

    Returns
    -------
    tuple[numpy.ndarray, dict | None]
        The geometries and, when they were cleaned, a report: ``gap_width``,
        ``invalid_edges_before`` (features whose edges broke the coverage), ``overlap_area``
        (summed over pairs, before), ``area_change`` (total area after - before, in CRS
        units²), ``features_changed`` and up to 20 of their ``ids``; None when the input
        was already a valid coverage.

    Raises
    ------
    NormaliseError
        When cleaning would leave a feature with no area (it lay inside its neighbours).
    """
    broken = ~shapely.is_empty(shapely.coverage_invalid_edges(geoms, gap_width=gap_width))
    if not broken.any():
        return geoms, None
    cleaned = shapely.coverage_clean(geoms, gap_width=gap_width)
    lost = shapely.is_missing(cleaned) | shapely.is_empty(cleaned)
    if lost.any():
        names = [ids[i] for i in np.flatnonzero(lost)[:5]]
        raise NormaliseError(
            f"collection {collection!r}: {int(lost.sum())} feature(s) lie wholly inside "
            f"overlapping neighbours and would vanish when the coverage is cleaned "
            f"(ids {names}); expected polygons that overlap at most along their edges"
        )
    changed = np.flatnonzero(~shapely.equals(cleaned, geoms))
    return cleaned, {
        "gap_width": gap_width,
        "invalid_edges_before": int(broken.sum()),
        "overlap_area": round(_overlap_area(geoms), 3),
        "area_change": round(float(shapely.area(cleaned).sum() - shapely.area(geoms).sum()), 3),
        "features_changed": len(changed),
        "ids": [ids[i] for i in changed[:20]],
    }


def dissolve_groups(
    geoms: np.ndarray, keys: np.ndarray, *, ids: list, collection: str
) -> tuple[dict, dict | None]:
    """Union ``geoms`` per key (null keys dropped), after cleaning an invalid coverage.

    Returns the MultiPolygon of every key and the cleaning report of
    :func:`clean_coverage` (None for a valid input): overlapping or mismatched input is
    cleaned first, so each union has no slivers and its area is the sum of its members'
    (cleaned) areas.
    """
    geoms, cleaning = clean_coverage(geoms, ids=ids, collection=collection)
    indices = pd.Series(keys).groupby(keys, sort=False, dropna=True).indices
    groups = {
        key: as_multipolygon(shapely.coverage_union_all(geoms[idx])) for key, idx in indices.items()
    }
    return groups, cleaning
