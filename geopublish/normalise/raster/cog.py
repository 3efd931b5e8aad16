"""Reproject and mosaic raster tiles into one Cloud Optimised GeoTIFF."""

from __future__ import annotations

import time
from contextlib import ExitStack
from pathlib import Path
from typing import cast, get_args

import rasterio
from rasterio.merge import merge
from rasterio.vrt import WarpedVRT

from geopublish.errors import RasterError
from geopublish.normalise.raster.grid import default_nodata, parse_resampling, target_grid
from geopublish.normalise.raster.sources import open_source, parse_crs
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
        source. Defaults to a value outside the type's useful range (-32768 for int16).
    resolution
        Output pixel size in ``dst_crs`` units; default: the source resolution.
    resampling
        rasterio resampling name for the warp (and the overviews when GDAL allows it).
    compress
        rio-cogeo profile: DEFLATE, ZSTD, LZW, ...

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
    out_nodata = next((s.nodata for s in sources if s.nodata is not None), None)
    if out_nodata is None:
        out_nodata = default_nodata(first.dtype) if nodata is None else nodata
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
                    )
                )
            )
        mosaic, _ = merge(vrts, nodata=out_nodata, method="first")
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
    )
    return {
        "collection": collection,
        "inputs": [s.describe() for s in sources],
        "output": describe_output(dst),
        **validity,
        "parameters": {
            "dst_crs": dst_crs,
            "resampling": resampling,
            "compress": compress,
            "resolution": transform.a,
        },
        "duration_s": round(time.perf_counter() - started, 3),
    }
