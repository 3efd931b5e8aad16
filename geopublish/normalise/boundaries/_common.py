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


def dissolve_groups(geoms: np.ndarray, keys: np.ndarray) -> tuple[dict, bool]:
    """Union ``geoms`` per key (null keys dropped), exactly when they form a valid coverage.

    Returns the MultiPolygon of every key and whether the input was a valid coverage (no
    overlaps, shared edges matching vertex for vertex); an invalid one is unioned with
    the slower overlay union instead of the coverage union.
    """
    valid = bool(shapely.coverage_is_valid(geoms))
    union = shapely.coverage_union_all if valid else shapely.union_all
    indices = pd.Series(keys).groupby(keys, sort=False, dropna=True).indices
    groups = {key: as_multipolygon(union(geoms[idx])) for key, idx in indices.items()}
    return groups, valid
