"""Reproject and mosaic raster tiles into one Cloud Optimised GeoTIFF."""

from __future__ import annotations

import time
from contextlib import ExitStack
from pathlib import Path
from typing import cast, get_args

import numpy as np
import rasterio
from rasterio.merge import merge
from rasterio.vrt import WarpedVRT

from geopublish.errors import RasterError
from geopublish.normalise.raster.grid import default_nodata, parse_resampling, target_grid
from geopublish.normalise.raster.sources import Source, open_source, parse_crs, uses_value
from geopublish.normalise.raster.write import OverviewResampling, describe_output, write_cog


def build_cog(
    inputs: list[Path],
    dst: Path,
    *,
    collection: str,
    dst_crs: str = "EPSG:2154",
    src_crs: str | None = None,
    expect_crs: list[str] | None = None,
    nodata: float | None = None,
    resolution: float | None = None,
    resampling: str = "bilinear",
    compress: str = "DEFLATE",
    fingerprints: dict[str, str] | None = None,
) -> dict:
    """Reproject and mosaic ``inputs`` into one COG at ``dst``.

    Each tile is warped onto one common grid (rasterio.warp), the tiles are mosaicked
    with rasterio.merge (first tile wins where they overlap) and the result is written by
    rio-cogeo: 512 px tiles, overviews, compression with predictor. The COG is written to a
    temporary file beside ``dst`` and moved over it, so a failure leaves ``dst`` untouched.

    Parameters
    ----------
    inputs
        Source rasters; all must have the same band count and data type.
    dst
        Output COG path.
    collection
        Collection id, for error messages and the report.
    dst_crs
        CRS of the output.
    src_crs
        CRS to assign to sources that have a real geotransform but no CRS.
    expect_crs
        CRSs the sources may be in; any other is refused.
    nodata
        Nodata value when the source declares none; it is also read as "no data" in the
        source. Defaults to a value outside the type's useful range (-32768 for int16, 255
        for uint8, -9999 for floats); when the integer data already uses that value (an
        8-bit image with white pixels), the area outside the sources is marked by an
        internal mask instead and the output has no nodata value.
    resolution
        Output pixel size in ``dst_crs`` units; default: the source resolution.
    resampling
        rasterio resampling name for the warp (and the overviews when GDAL allows it).
    compress
        rio-cogeo profile: DEFLATE, ZSTD, LZW, ...
    fingerprints
        SHA-256 of inputs already hashed by the caller (path -> hex), not read again.

    Returns
    -------
    dict
        JSON-serialisable report: inputs (CRS, size, sha256), output (grid, CRS, bounds in
        ``dst_crs`` and lon/lat, resolution, type, nodata, per-band min/max), cog_valid,
        duration_s.
    """
    started = time.perf_counter()
    if not inputs:
        raise RasterError(f"collection {collection!r}: no raster inputs; expected at least one")
    method = parse_resampling(resampling, collection=collection)
    target = parse_crs(dst_crs, collection=collection, what="dst_crs")
    if resolution is not None and not resolution > 0:
        raise RasterError(f"collection {collection!r}: resolution {resolution!r} must be > 0")
    sources = [
        open_source(Path(p), collection=collection, src_crs=src_crs, expect_crs=expect_crs)
        for p in inputs
    ]
    first = sources[0]
    for other in sources[1:]:
        if (other.count, other.dtype) != (first.count, first.dtype):
            raise RasterError(
                f"collection {collection!r}: raster {other.path.name!r} has {other.count} "
                f"{other.dtype} band(s); expected {first.count} {first.dtype} band(s) "
                f"like {first.path.name!r}"
            )
    out_nodata = _output_nodata(sources, nodata)
    masked = out_nodata is None  # no value to spare: an internal mask marks the outside
    transform, width, height = target_grid(sources, target, resolution)
    with ExitStack() as stack:
        vrts = []
        for source in sources:
            dataset = stack.enter_context(rasterio.open(source.path))
            vrts.append(
                stack.enter_context(
                    WarpedVRT(
                        dataset,
                        src_crs=source.crs,
                        crs=target,
                        transform=transform,
                        width=width,
                        height=height,
                        resampling=method,
                        nodata=out_nodata,
                        src_nodata=source.nodata if source.nodata is not None else nodata,
                        add_alpha=masked,
                    )
                )
            )
        if masked:
            mosaic, mask = _mosaic_with_alpha(vrts, first)
        else:
            mosaic, _ = merge(vrts, nodata=out_nodata, method="first")
            mask = None
    profile = {
        "crs": target,
        "transform": transform,
        "width": width,
        "height": height,
        "count": first.count,
        "dtype": first.dtype,
        "nodata": out_nodata,
    }
    overview = resampling if resampling in get_args(OverviewResampling) else "nearest"
    validity = write_cog(
        mosaic,
        profile,
        dst,
        collection=collection,
        compress=compress,
        overview_resampling=cast(OverviewResampling, overview),
        mask=mask,
    )
    return {
        "collection": collection,
        "inputs": [s.describe((fingerprints or {}).get(str(s.path))) for s in sources],
        "output": describe_output(dst),
        "outside_sources": "internal mask" if masked else f"nodata {out_nodata!r}",
        **validity,
        "parameters": {
            "dst_crs": dst_crs,
            "resampling": resampling,
            "compress": compress,
            "resolution": transform.a,
        },
        "duration_s": round(time.perf_counter() - started, 3),
    }


def _output_nodata(sources: list[Source], nodata: float | None) -> float | None:
    """Nodata of the output, or None when an internal mask must replace it.

    The sources' own nodata wins, then the spec's; else a default outside the data: for
    integer data that already takes the default value there is none, so a mask is used.
    """
    declared = next((s.nodata for s in sources if s.nodata is not None), nodata)
    if declared is not None:
        return declared
    dtype = sources[0].dtype
    candidate = default_nodata(dtype)
    if np.dtype(dtype).kind in "iu" and any(uses_value(s.path, candidate) for s in sources):
        return None
    return candidate


def _mosaic_with_alpha(vrts: list[WarpedVRT], first: Source) -> tuple[np.ndarray, np.ndarray]:
    """First-wins mosaic of warped sources read with an alpha band, and its validity mask."""
    height, width = vrts[0].height, vrts[0].width
    data = np.zeros((first.count, height, width), dtype=first.dtype)
    mask = np.zeros((height, width), dtype=bool)
    for vrt in vrts:
        pixels = vrt.read()
        take = (pixels[-1] > 0) & ~mask
        data[:, take] = pixels[:-1, take]
        mask |= take
    return data, mask
