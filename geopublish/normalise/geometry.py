"""Geometry hygiene: drop null/empty with a counted reason, repair, keep one family, Multi*."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import shapely

from geopublish import parallel
from geopublish.catalog.models import Geometry

FAMILY = {
    "Point": ("Point", "MultiPoint"),
    "LineString": ("LineString", "MultiLineString"),
    "Polygon": ("Polygon", "MultiPolygon"),
}
BASE = {
    "Point": "Point",
    "MultiPoint": "Point",
    "LineString": "LineString",
    "MultiLineString": "LineString",
    "Polygon": "Polygon",
    "MultiPolygon": "Polygon",
}
MULTI = {
    "Point": shapely.multipoints,
    "LineString": shapely.multilinestrings,
    "Polygon": shapely.multipolygons,
}


def _count(stats: dict, reason: str, n: int) -> None:
    if n:
        stats["dropped"][reason] = stats["dropped"].get(reason, 0) + n


def _keep_family(geom: shapely.Geometry, base: str) -> shapely.Geometry | None:
    parts = shapely.get_parts(geom)
    while any(p.geom_type == "GeometryCollection" for p in parts):
        parts = shapely.get_parts(parts)
    kept = [p for p in parts if BASE.get(p.geom_type) == base and not p.is_empty]
    if not kept:
        return None
    if len(kept) == 1:
        return kept[0]
    if base == "Polygon":
        return shapely.union_all(kept)
    return MULTI[base](kept)


def drop_non_finite(gdf: gpd.GeoDataFrame, stats: dict) -> gpd.GeoDataFrame:
    """Drop rows whose geometry holds a NaN or infinite coordinate; count them.

    Such coordinates (written by some exporters for unknown positions) cannot be
    reprojected, checked against a CRS or indexed.
    """
    geoms = gdf.geometry.to_numpy()
    if not len(geoms):
        return gdf
    coords, index = shapely.get_coordinates(geoms, include_z=True, return_index=True)
    bad_coord = ~np.isfinite(coords[:, :2]).all(axis=1)
    if not bad_coord.any():
        return gdf
    bad = np.zeros(len(geoms), dtype=bool)
    bad[np.unique(index[bad_coord])] = True
    _count(stats, "NaN or infinite coordinates", int(bad.sum()))
    return gdf.loc[~bad]


def output_type(spec: Geometry | None, observed: str | None) -> str:
    """Geometry type written to the store."""
    base = BASE.get(spec.type if spec else (observed or ""), None)
    if base is None:
        return "Unknown"
    if spec is None or spec.promote_to_multi or spec.type.startswith("Multi"):
        return FAMILY[base][1]
    return base


def clean(gdf: gpd.GeoDataFrame, spec: Geometry | None, stats: dict) -> gpd.GeoDataFrame:
    """Return the usable rows of ``gdf`` with clean geometries; count what was done."""
    geoms = gdf.geometry.to_numpy()
    missing = shapely.is_missing(geoms)
    _count(stats, "null geometry", int(missing.sum()))
    empty = ~missing & shapely.is_empty(geoms)
    _count(stats, "empty geometry", int(empty.sum()))
    keep = ~(missing | empty)
    geoms = geoms[keep]
    if shapely.has_z(geoms).any():
        geoms = parallel.pmap(shapely.force_2d, geoms)
    gdf = gdf.loc[keep]
    valid = parallel.pmap(shapely.is_valid, geoms)
    stats["valid_as_read"] = stats.get("valid_as_read", 0) + int(valid.sum())
    stats["checked_geometries"] = stats.get("checked_geometries", 0) + len(geoms)
    base = BASE.get(spec.type) if spec else None
    invalid = np.flatnonzero(~valid)
    if len(invalid) and (spec is None or spec.repair):
        fixed = shapely.make_valid(geoms[invalid])
        geoms = geoms.copy()
        geoms[invalid] = fixed
        stats["repaired"] = stats.get("repaired", 0) + len(invalid)
    elif len(invalid):
        drop = np.zeros(len(geoms), dtype=bool)
        drop[invalid] = True
        _count(stats, "invalid geometry", len(invalid))
        geoms, gdf = geoms[~drop], gdf.loc[~drop]
    if base is not None:
        types = shapely.get_type_id(geoms)
        allowed = {shapely.GeometryType[t.upper()].value for t in FAMILY[base]}
        off = np.flatnonzero(~np.isin(types, list(allowed)))
        if len(off):
            geoms = geoms.copy()
            for i in off:
                geoms[i] = _keep_family(geoms[i], base)
        lost = shapely.is_missing(geoms)
        _count(stats, f"no {base} left after repair or type check", int(lost.sum()))
        geoms, gdf = geoms[~lost], gdf.loc[~lost]
        if output_type(spec, None).startswith("Multi"):
            single = shapely.get_type_id(geoms) == shapely.GeometryType[base.upper()].value
            if single.any():
                geoms = geoms.copy()
                parts = geoms[single]
                geoms[single] = MULTI[base](parts, indices=np.arange(len(parts)))
    out = gdf.copy()
    out[out.geometry.name] = geoms
    return gpd.GeoDataFrame(out, geometry=gdf.geometry.name, crs=gdf.crs)
