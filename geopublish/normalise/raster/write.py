"""Write an array as a Cloud Optimised GeoTIFF, atomically, and describe the result."""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Literal

import numpy as np
import rasterio
from rasterio.errors import RasterioError
from rasterio.io import MemoryFile
from rasterio.warp import transform_bounds
from rio_cogeo.cogeo import cog_translate, cog_validate
from rio_cogeo.profiles import cog_profiles

from geopublish.errors import RasterError
from geopublish.normalise.raster.sources import crs_label

BLOCK_SIZE = 512
PREDICTED = {"deflate", "lzw", "zstd", "lzma"}
OverviewResampling = Literal[
    "nearest", "bilinear", "cubic", "cubic_spline", "lanczos", "average", "mode", "gauss", "rms"
]


def cog_profile(compress: str, dtype: str, *, collection: str) -> dict:
    """rio-cogeo profile for ``compress`` with 512 px tiles and a predictor where it helps."""
    key = compress.lower()
    if key not in cog_profiles:
        raise RasterError(
            f"collection {collection!r}: compression {compress!r} is not supported; "
            f"expected one of {sorted(p.upper() for p in cog_profiles)!r}"
        )
    profile = dict(cog_profiles.get(key), blockxsize=BLOCK_SIZE, blockysize=BLOCK_SIZE)
    if key in PREDICTED:
        profile["predictor"] = 3 if np.dtype(dtype).kind == "f" else 2
    return profile


def write_cog(
    data: np.ndarray,
    profile: dict,
    dst: Path,
    *,
    collection: str,
    compress: str,
    overview_resampling: OverviewResampling,
    mask: np.ndarray | None = None,
) -> dict:
    """Write ``data`` (bands, rows, cols) as a COG at ``dst`` through a temporary file.

    Parameters
    ----------
    data
        Pixel values, nodata already filled in.
    profile
        rasterio profile of the grid: crs, transform, width, height, count, dtype, nodata.
    dst
        Final path; replaced only once the COG is complete.
    collection
        Collection id, for error messages.
    compress
        A rio-cogeo profile name (DEFLATE, ZSTD, LZW ...).
    overview_resampling
        Resampling used to build the overviews.
    mask
        Optional (rows, cols) boolean validity, written as the COG's internal mask (for data
        with no nodata value to spare); ``profile`` then has no nodata.

    Returns
    -------
    dict
        ``cog_valid`` with the validator's errors and warnings.
    """
    dst_kwargs = cog_profile(compress, profile["dtype"], collection=collection)
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(f".{dst.name}.{uuid.uuid4().hex[:12]}.tmp")
    mem_profile = dict(
        profile, driver="GTiff", tiled=True, blockxsize=BLOCK_SIZE, blockysize=BLOCK_SIZE
    )
    try:
        with rasterio.Env(GDAL_TIFF_INTERNAL_MASK=True), MemoryFile() as mem:
            with mem.open(**mem_profile) as staging:
                staging.write(data)
                if mask is not None:
                    staging.write_mask(mask)
            with mem.open() as staging:
                cog_translate(
                    staging,
                    tmp,
                    dst_kwargs,
                    nodata=profile.get("nodata"),
                    add_mask=mask is not None,
                    overview_resampling=overview_resampling,
                    in_memory=True,
                    allow_intermediate_compression=True,
                    quiet=True,
                )
        valid, errors, warnings = cog_validate(tmp, quiet=True)
        os.replace(tmp, dst)
    except (RasterioError, OSError) as exc:
        raise RasterError(
            f"collection {collection!r}: writing COG {dst.name!r} failed ({exc}); "
            "the previous file, if any, is unchanged"
        ) from exc
    finally:
        tmp.unlink(missing_ok=True)
    return {"cog_valid": bool(valid), "cog_errors": errors, "cog_warnings": warnings}


def describe_output(path: Path) -> dict:
    """Report entry for a written raster: grid, CRS, bounds (native and lon/lat), band stats."""
    with rasterio.open(path) as src:
        bands = []
        for index in src.indexes:
            values = src.read(index, masked=True)
            empty = values.count() == 0
            bands.append(
                {
                    "band": index,
                    "min": None if empty else values.min().item(),
                    "max": None if empty else values.max().item(),
                    "valid_pixels": int(values.count()),
                }
            )
        lonlat = transform_bounds(src.crs, "EPSG:4326", *src.bounds, densify_pts=21)
        return {
            "path": str(path),
            "size_bytes": path.stat().st_size,
            "width": src.width,
            "height": src.height,
            "crs": crs_label(src.crs),
            "bounds": list(src.bounds),
            "bounds_lonlat": list(lonlat),
            "resolution": list(src.res),
            "dtype": src.dtypes[0],
            "count": src.count,
            "nodata": src.nodata,
            "block_size": list(src.block_shapes[0]),
            "overviews": src.overviews(1),
            "compression": src.compression.value if src.compression else None,
            "bands": bands,
        }
