"""Products derived from a DEM COG: hillshade (Horn's method, as gdaldem computes it)."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import rasterio
from rasterio.errors import RasterioIOError

from geopublish.errors import RasterError
from geopublish.normalise.raster.sources import crs_label, sha256
from geopublish.normalise.raster.write import describe_output, write_cog

SHADE_NODATA = 0


def horn_shade(
    dem: np.ma.MaskedArray,
    xres: float,
    yres: float,
    *,
    azimuth: float,
    altitude: float,
    z_factor: float,
) -> np.ndarray:
    """Hillshade of ``dem``: uint8, 0 where any 3x3 neighbour is nodata or off the edge.

    Parameters
    ----------
    dem
        Elevations, nodata masked.
    xres, yres
        Pixel width and height in the elevation unit (both positive).
    azimuth, altitude
        Light direction in degrees (clockwise from north) and elevation above the horizon.
    z_factor
        Vertical exaggeration.

    Returns
    -------
    numpy.ndarray
        1-255 shading (254 * cos(incidence) + 1, as gdaldem), 0 for nodata.
    """
    z = np.ma.filled(dem.astype("float64"), np.nan)
    win = {
        (r, c): z[r : z.shape[0] - 2 + r, c : z.shape[1] - 2 + c]
        for r in range(3)
        for c in range(3)
    }
    west = win[0, 0] + 2 * win[1, 0] + win[2, 0]
    east = win[0, 2] + 2 * win[1, 2] + win[2, 2]
    north = win[0, 0] + 2 * win[0, 1] + win[0, 2]
    south = win[2, 0] + 2 * win[2, 1] + win[2, 2]
    x = (west - east) / (8 * xres)
    y = (north - south) / (8 * yres)
    az, alt = np.radians(azimuth), np.radians(altitude)
    cang = np.sin(alt) - z_factor * np.cos(alt) * (y * np.cos(az) - x * np.sin(az))
    cang = cang / np.sqrt(1 + z_factor**2 * (x * x + y * y))
    shade = 1 + np.clip(254 * cang, 0, None)
    out = np.full(z.shape, SHADE_NODATA, dtype="uint8")
    out[1:-1, 1:-1] = np.where(
        np.isnan(shade), SHADE_NODATA, np.clip(np.rint(np.nan_to_num(shade)), 1, 255)
    )
    return out


def hillshade(
    src: Path,
    dst: Path,
    *,
    collection: str,
    azimuth: float = 315.0,
    altitude: float = 45.0,
    z_factor: float = 1.0,
) -> dict:
    """Hillshade of the DEM COG ``src`` into a uint8 COG at ``dst`` on the same grid.

    0 is nodata (DEM nodata and the one-pixel border), 1-255 is shading. The COG is written
    beside ``dst`` then moved over it, so a failure leaves ``dst`` untouched.

    Parameters
    ----------
    src
        Single-band DEM in a projected CRS whose unit is the elevation unit.
    dst
        Output COG path.
    collection
        Collection id, for error messages and the report.
    azimuth, altitude
        Light direction in degrees; gdaldem defaults.
    z_factor
        Vertical exaggeration.

    Returns
    -------
    dict
        Same shape as ``build_cog``'s report, with the light parameters.
    """
    started = time.perf_counter()
    if not 0 <= altitude <= 90:
        raise RasterError(
            f"collection {collection!r}: hillshade altitude {altitude!r} "
            "is out of range; expected 0 to 90 degrees"
        )
    try:
        with rasterio.open(src) as dem:
            if dem.crs is None or not dem.crs.is_projected:
                raise RasterError(
                    f"collection {collection!r}: DEM {src.name!r} is in "
                    f"{crs_label(dem.crs) if dem.crs else None!r}; hillshade needs a projected "
                    "CRS in the elevation unit (metres), e.g. build the COG in EPSG:2154"
                )
            elevation = dem.read(1, masked=True)
            xres, yres = dem.res
            profile = {
                "crs": dem.crs,
                "transform": dem.transform,
                "width": dem.width,
                "height": dem.height,
                "count": 1,
                "dtype": "uint8",
                "nodata": SHADE_NODATA,
            }
            described = {
                "path": str(src),
                "crs": crs_label(dem.crs),
                "width": dem.width,
                "height": dem.height,
                "count": dem.count,
                "dtype": dem.dtypes[0],
                "nodata": dem.nodata,
                "sha256": sha256(src),
            }
    except RasterioIOError as exc:
        raise RasterError(
            f"collection {collection!r}: DEM {src.name!r} cannot be opened "
            f"({exc}); expected a COG written by build_cog"
        ) from exc
    shade = horn_shade(elevation, xres, yres, azimuth=azimuth, altitude=altitude, z_factor=z_factor)
    validity = write_cog(
        shade[np.newaxis],
        profile,
        dst,
        collection=collection,
        compress="DEFLATE",
        overview_resampling="average",
    )
    return {
        "collection": collection,
        "inputs": [described],
        "output": describe_output(dst),
        **validity,
        "parameters": {"azimuth": azimuth, "altitude": altitude, "z_factor": z_factor},
        "duration_s": round(time.perf_counter() - started, 3),
    }
