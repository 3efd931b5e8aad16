"""Decide the source CRS, refuse coordinates that cannot belong to it, reproject."""

from __future__ import annotations

import math

import geopandas as gpd
import pyproj
from pyproj.exceptions import CRSError

from geopublish import kernels
from geopublish.errors import NormaliseError

# Tried in order to suggest the real CRS of mislabelled data.
CANDIDATES = ("EPSG:2154", "EPSG:4326", "EPSG:3857", "EPSG:27572", "EPSG:32631", "EPSG:3035")


def parse_crs(value: str, *, collection: str, where: str) -> pyproj.CRS:
    """A pyproj CRS from a spec value; NormaliseError when pyproj does not know it."""
    try:
        return pyproj.CRS.from_user_input(value)
    except CRSError as exc:
        raise NormaliseError(
            f"collection {collection!r}: {where}: unknown CRS {value!r}; "
            "expected e.g. 'EPSG:2154' or 'OGC:CRS84'"
        ) from exc


def short_name(crs: pyproj.CRS) -> str:
    """'EPSG:2154' when an authority code is known, else the CRS name."""
    auth = crs.to_authority(min_confidence=70)
    return f"{auth[0]}:{auth[1]}" if auth else crs.name


def _lonlat_bounds(bounds: tuple[float, ...], crs: pyproj.CRS) -> tuple[float, ...] | None:
    try:
        to_lonlat = pyproj.Transformer.from_crs(crs, "OGC:CRS84", always_xy=True)
        minx, miny, maxx, maxy = bounds
        out = to_lonlat.transform_bounds(minx, miny, maxx, maxy, densify_pts=5)
    except (CRSError, pyproj.exceptions.ProjError):
        return None
    return out if all(math.isfinite(v) for v in out) else None


def _inside(inner: tuple[float, ...], outer: tuple[float, ...], margin: float) -> bool:
    return (
        inner[0] >= outer[0] - margin
        and inner[1] >= outer[1] - margin
        and inner[2] <= outer[2] + margin
        and inner[3] <= outer[3] + margin
    )


def plausible(bounds: tuple[float, ...], crs: pyproj.CRS, region: tuple[float, ...] | None) -> bool:
    """Whether data with these bounds can be in ``crs`` (and in ``region``, lon/lat)."""
    if crs.is_geographic and not _inside(bounds, (-180.0, -90.0, 180.0, 90.0), 1e-6):
        return False
    lonlat = _lonlat_bounds(bounds, crs)
    if lonlat is None:
        return False
    area = crs.area_of_use
    if area is not None and not _inside(lonlat, area.bounds, 1.0):
        return False
    return region is None or _inside(lonlat, region, 0.5)


def check_coordinates(
    bounds: tuple[float, ...],
    crs: pyproj.CRS,
    *,
    collection: str,
    origin: str,
    region: tuple[float, ...] | None,
    redact: bool = False,
) -> None:
    """Stop the build when coordinates cannot belong to the declared CRS; suggest a fix.

    With ``redact`` (personal data under treatment) the bounds are not shown.
    """
    if not all(math.isfinite(v) for v in bounds) or plausible(bounds, crs, None):
        return
    shown = "redacted: personal data" if redact else ", ".join(f"{v:.6g}" for v in bounds)
    guesses = [c for c in CANDIDATES if plausible(bounds, pyproj.CRS(c), region)] or [
        c for c in CANDIDATES if region and plausible(bounds, pyproj.CRS(c), None)
    ]
    hint = (
        f"they fit {guesses[0]}: set `source.crs: {guesses[0]}` in the spec"
        if guesses
        else "set `source.crs` in the spec to the CRS the coordinates are really in"
    )
    unit = "degrees" if crs.is_geographic else "metres"
    raise NormaliseError(
        f"collection {collection!r}: coordinates in {origin!r} (bounds {shown}) cannot be "
        f"{short_name(crs)} ({unit}): they fall outside its area of use; {hint}"
    )


def to_storage(gdf: gpd.GeoDataFrame, storage: pyproj.CRS) -> gpd.GeoDataFrame:
    """Reproject a batch to the storage CRS (no-op when already there)."""
    if gdf.crs is None or gdf.crs.equals(storage):
        return gdf
    moved = kernels.reproject(gdf.geometry.to_numpy(), gdf.crs, storage)
    out = gdf.copy()
    out[gdf.geometry.name] = moved
    return gpd.GeoDataFrame(out, geometry=gdf.geometry.name, crs=storage)
