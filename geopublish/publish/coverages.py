"""pygeoapi resource blocks for raster collections served as OGC API - Coverages."""

from __future__ import annotations

from pathlib import Path

import rasterio
from rasterio.errors import RasterioIOError
from rasterio.warp import transform_bounds

from geopublish.errors import PublishError
from geopublish.model import BANDS_KEY

CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
GTIFF = {"name": "GTiff", "mimetype": "image/tiff"}


def raster_extent(path: Path) -> dict:
    """Spatial extent of a georeferenced raster: CRS84 bbox (densified edges) and its CRS."""
    with rasterio.open(path) as src:
        if src.crs is None:
            raise PublishError(f"raster {path.name!r} has no CRS; expected a COG from build_cog")
        west, south, east, north = transform_bounds(
            src.crs, "EPSG:4326", *src.bounds, densify_pts=21
        )
    return {"bbox": [round(v, 7) for v in (west, south, east, north)], "crs": CRS84}


def coverage_resource(
    path: Path,
    *,
    title: str,
    description: str,
    keywords: list[str],
    licence_url: str | None,
    band_names: list[str] | None,
    units: str | None,
) -> dict:
    """Build the pygeoapi resource block serving the COG at ``path`` as a coverage collection.

    pygeoapi 0.24's ``rasterio`` provider describes GeoTIFF bands only by index, type and
    GDAL band tags, so band names and units are kept in ``x-geopublish-bands`` on the
    provider entry (stock pygeoapi ignores the key) after checking them against the file.

    Parameters
    ----------
    path
        The COG; written into the block as an absolute path.
    title, description, keywords
        Collection metadata.
    licence_url
        Licence link (rel ``license``), if any.
    band_names
        One name per band, or None to keep band indexes only.
    units
        Unit of the values (UCUM, e.g. ``m``), or None.

    Returns
    -------
    dict
        A resource block ready to be dumped as YAML under ``resources.<collection id>``.
    """
    try:
        with rasterio.open(path) as src:
            count, dtypes, nodata = src.count, src.dtypes, src.nodata
    except RasterioIOError as exc:
        raise PublishError(
            f"coverage {title!r}: raster {str(path)!r} cannot be opened "
            f"({exc}); expected a COG from build_cog"
        ) from exc
    if band_names is not None and len(band_names) != count:
        raise PublishError(
            f"coverage {title!r}: {len(band_names)} band name(s) {band_names!r} given for "
            f"{path.name!r}, which has {count} band(s); expected one name per band"
        )
    names = band_names or [f"band_{i}" for i in range(1, count + 1)]
    provider = {
        "type": "coverage",
        "name": "rasterio",
        "data": str(Path(path).resolve()),
        "format": dict(GTIFF),
        BANDS_KEY: [
            {"index": i, "name": name, "type": dtype, "nodata": nodata, "units": units}
            for i, (name, dtype) in enumerate(zip(names, dtypes, strict=True), start=1)
        ],
    }
    links = []
    if licence_url:
        links.append(
            {"type": "text/html", "rel": "license", "title": "Licence", "href": licence_url}
        )
    return {
        "type": "collection",
        "title": title,
        "description": description,
        "keywords": list(keywords),
        "links": links,
        "extents": {"spatial": raster_extent(Path(path))},
        "providers": [provider],
    }
