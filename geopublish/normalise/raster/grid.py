"""The common output grid of a mosaic, and the choices (nodata, resampling) that shape it."""

from __future__ import annotations

import math

import numpy as np
from affine import Affine
from rasterio.crs import CRS
from rasterio.enums import Resampling
from rasterio.transform import array_bounds
from rasterio.warp import calculate_default_transform, transform_bounds

from geopublish.errors import RasterError
from geopublish.normalise.raster.sources import Source


def default_nodata(dtype: str) -> float:
    """Return a nodata value outside the useful range of ``dtype`` (-32768 for int16)."""
    kind = np.dtype(dtype)
    if kind.kind == "f":
        return -9999.0
    info = np.iinfo(kind)
    return float(info.max if info.min == 0 else info.min)


def parse_resampling(name: str, *, collection: str) -> Resampling:
    """Return the rasterio Resampling called ``name``, or raise a RasterError listing them."""
    try:
        return Resampling[name]
    except KeyError as exc:
        raise RasterError(
            f"collection {collection!r}: resampling {name!r} is unknown; "
            f"expected one of {[r.name for r in Resampling]!r}"
        ) from exc


def target_grid(
    sources: list[Source], crs: CRS, resolution: float | None
) -> tuple[Affine, int, int]:
    """Square-pixel grid in ``crs`` covering every source, aligned on multiples of the pixel size.

    Without ``resolution`` the finest default warp resolution of the sources is used,
    rounded to three significant figures.
    """
    boxes, sizes = [], []
    for source in sources:
        bounds = array_bounds(source.height, source.width, source.transform)
        west, south, east, north = bounds[0], bounds[1], bounds[2], bounds[3]
        boxes.append(transform_bounds(source.crs, crs, west, south, east, north, densify_pts=21))
        warp, _, _ = calculate_default_transform(
            source.crs, crs, source.width, source.height, west, south, east, north
        )
        sizes.append(min(abs(warp.a), abs(warp.e)))
    res = resolution or float(f"{min(sizes):.3g}")
    left = math.floor(min(b[0] for b in boxes) / res) * res
    bottom = math.floor(min(b[1] for b in boxes) / res) * res
    right = math.ceil(max(b[2] for b in boxes) / res) * res
    top = math.ceil(max(b[3] for b in boxes) / res) * res
    width, height = round((right - left) / res), round((top - bottom) / res)
    return Affine(res, 0.0, left, 0.0, -res, top), width, height
