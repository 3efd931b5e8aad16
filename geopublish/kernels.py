"""Geometry kernels shared by the build and the server: transforms and WKB encoding.

Vectorised over numpy arrays of shapely geometries. :func:`reproject` and :func:`to_wkb` run in
the build's threads (:func:`geopublish.parallel.pmap`); :func:`transform` with a cached
:func:`transformer` runs in the calling thread (the server's request path uses it for ``crs=``).
"""

from __future__ import annotations

import functools

import numpy as np
import pyproj
import shapely

from geopublish import parallel


@functools.lru_cache(maxsize=16)
def transformer(source: str, target: str, always_xy: bool = True) -> pyproj.Transformer:
    """One transformer per pair of CRS (WKT) and axis rule, kept for the process.

    pyproj >= 3.1 transformers are thread-safe, so build threads and server threads share them.
    """
    return pyproj.Transformer.from_crs(source, target, always_xy=always_xy)


def transform(geoms: np.ndarray, how: pyproj.Transformer) -> np.ndarray:
    """Geometries with every coordinate passed through ``how`` (Z kept), in this thread."""
    out = np.empty_like(geoms)
    has_z = shapely.has_z(geoms)
    for mask, include_z in ((~has_z, False), (has_z, True)):
        if not mask.any():
            continue
        coords = shapely.get_coordinates(geoms[mask], include_z=include_z)
        moved = np.array(how.transform(*coords.T)).T
        out[mask] = shapely.set_coordinates(geoms[mask].copy(), moved)
    return out


def reproject(geoms: np.ndarray, source: pyproj.CRS, target: pyproj.CRS) -> np.ndarray:
    """Geometries transformed like ``GeoSeries.to_crs`` (always x/y order, Z kept), in threads."""
    how = transformer(source.to_wkt(), target.to_wkt())
    return parallel.pmap(lambda chunk: transform(chunk, how), geoms)


def to_wkb(geoms: np.ndarray) -> np.ndarray:
    """2D little-endian WKB of each geometry (None for missing), in threads."""
    return parallel.pmap(lambda a: shapely.to_wkb(a, output_dimension=2, byte_order=1), geoms)
