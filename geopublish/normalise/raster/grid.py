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


# Two origins closer than this share of a pixel are on one lattice (float noise in headers).
LATTICE_TOLERANCE = 1e-6


def _on_lattice(sources: list[Source]) -> bool:
    """Whether every source has the first one's pixel size and lies on its lattice."""
    first = sources[0].transform
    if first.b or first.d:
        return False
    for source in sources[1:]:
        t = source.transform
        if t.b or t.d or abs(t.a - first.a) > abs(first.a) * LATTICE_TOLERANCE:
            return False
        if abs(t.e - first.e) > abs(first.e) * LATTICE_TOLERANCE:
            return False
        for offset, size in ((t.c - first.c, first.a), (t.f - first.f, first.e)):
            steps = offset / size
            if abs(steps - round(steps)) > LATTICE_TOLERANCE:
                return False
    return True


def _span(low: float, high: float, origin: float, size: float) -> tuple[float, int]:
    """First lattice line at or before ``low`` and the pixels reaching ``high``."""
    k = math.floor((low - origin) / size + LATTICE_TOLERANCE)
    start = origin + k * size
    count = math.ceil((high - start) / size - LATTICE_TOLERANCE)
    return start, max(count, 1)


def _same_crs_grid(
    sources: list[Source], resolution: float | None
) -> tuple[Affine, int, int] | None:
    """The sources' own lattice (or one of ``resolution`` on its origin) in their CRS."""
    if not _on_lattice(sources):
        return None
    first = sources[0].transform
    boxes = [array_bounds(s.height, s.width, s.transform) for s in sources]
    west, east = min(b[0] for b in boxes), max(b[2] for b in boxes)
    south, north = min(b[1] for b in boxes), max(b[3] for b in boxes)
    size_x = resolution if resolution else abs(first.a)
    size_y = resolution if resolution else abs(first.e)
    # The lattice lines through the first source's top-left corner, on every side.
    left, width = _span(west, east, first.c, size_x)
    top_k = math.floor((first.f - north) / size_y + LATTICE_TOLERANCE)
    top = first.f - top_k * size_y
    height = max(math.ceil((top - south) / size_y - LATTICE_TOLERANCE), 1)
    if resolution is None and len(sources) == 1:
        return first, sources[0].width, sources[0].height  # exactly the source grid
    return Affine(size_x, 0.0, left, 0.0, -size_y, top), width, height


def _linear_unit(crs: CRS) -> str | None:
    return None if crs.is_geographic else (crs.linear_units or "").lower() or None


def target_grid(
    sources: list[Source], crs: CRS, resolution: float | None
) -> tuple[Affine, int, int]:
    """The output grid in ``crs`` covering every source; pixel sizes are never rounded.

    - The CRS does not change and the sources share one lattice: that lattice, exactly (one
      source: its own grid, bit for bit); an explicit ``resolution`` keeps its origin.
    - Reprojecting: square pixels of ``resolution``, else of the finest default warp
      resolution, unrounded (or the source's own pixel size when both CRSs share a linear
      unit and the warp changes it by less than 1 %: 30 m in UTM stays 30 m in Lambert-93);
      the grid lies on multiples of the pixel size.
    """
    if all(s.crs == crs for s in sources):
        same = _same_crs_grid(sources, resolution)
        if same is not None:
            return same
    boxes, sizes = [], []
    union = _same_crs_grid(sources, None) if all(s.crs == sources[0].crs for s in sources) else None
    if union is not None and len(sources) > 1:
        # Tiles of one lattice warp as the one image they form: the same grid either way.
        first = sources[0]
        transform, width, height = union
        sources = [Source(first.path, first.crs, transform, width, height, first.count,
                          first.dtype, first.nodata)]  # fmt: skip
    for source in sources:
        bounds = array_bounds(source.height, source.width, source.transform)
        west, south, east, north = bounds[0], bounds[1], bounds[2], bounds[3]
        boxes.append(transform_bounds(source.crs, crs, west, south, east, north, densify_pts=21))
        warp, _, _ = calculate_default_transform(
            source.crs, crs, source.width, source.height, west, south, east, north
        )
        size = min(abs(warp.a), abs(warp.e))
        own = min(abs(source.transform.a), abs(source.transform.e))
        unit = _linear_unit(source.crs)
        if unit is not None and unit == _linear_unit(crs) and abs(size / own - 1) < 0.01:
            size = own  # the ground size of a pixel barely changes (UTM -> Lambert-93)
        sizes.append(size)
    res = resolution or min(sizes)
    left, width = _span(min(b[0] for b in boxes), max(b[2] for b in boxes), 0.0, res)
    bottom, height = _span(min(b[1] for b in boxes), max(b[3] for b in boxes), 0.0, res)
    return Affine(res, 0.0, left, 0.0, -res, bottom + height * res), width, height
