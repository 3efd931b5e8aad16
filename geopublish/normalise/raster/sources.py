"""Open raster sources and check their georeferencing before anything is warped."""

from __future__ import annotations

import hashlib
import warnings
from dataclasses import dataclass
from pathlib import Path

import rasterio
from affine import Affine
from rasterio.crs import CRS
from rasterio.errors import CRSError, NotGeoreferencedWarning, RasterioIOError

from geopublish.errors import RasterError


@dataclass(frozen=True)
class Source:
    """A raster source with the CRS it will be read in (its own, or ``src_crs``)."""

    path: Path
    crs: CRS
    transform: Affine
    width: int
    height: int
    count: int
    dtype: str
    nodata: float | None
    crs_assigned: bool = False

    def describe(self, digest: str | None = None) -> dict:
        """Report entry: CRS, size, type, nodata and the file's sha256 (``digest`` if known)."""
        return {
            "path": str(self.path),
            "crs": crs_label(self.crs),
            "crs_assigned": self.crs_assigned,
            "width": self.width,
            "height": self.height,
            "count": self.count,
            "dtype": self.dtype,
            "nodata": self.nodata,
            "sha256": digest or sha256(self.path),
        }


def uses_value(path: Path, value: float) -> bool:
    """Whether any pixel of any band of the raster at ``path`` equals ``value`` (read by block)."""
    with rasterio.open(path) as src:
        return any((src.read(window=window) == value).any() for _, window in src.block_windows(1))


def sha256(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def crs_label(crs: CRS) -> str:
    """``EPSG:nnnn`` when the CRS has an EPSG code, else its WKT."""
    epsg = crs.to_epsg()
    return f"EPSG:{epsg}" if epsg else crs.to_wkt()


def parse_crs(value: str, *, collection: str, what: str) -> CRS:
    """Parse a user-given CRS string, or raise a RasterError naming it."""
    try:
        return CRS.from_user_input(value)
    except CRSError as exc:
        raise RasterError(
            f"collection {collection!r}: {what} {value!r} is not a CRS; "
            "expected an authority code such as 'EPSG:2154' or a WKT/PROJ string"
        ) from exc


def open_source(
    path: Path,
    *,
    collection: str,
    src_crs: str | None = None,
    expect_crs: list[str] | None = None,
) -> Source:
    """Open ``path`` and check it is georeferenced in an accepted CRS.

    Parameters
    ----------
    path
        The raster file.
    collection
        Collection id, for error messages.
    src_crs
        CRS to assign when the file has none; its geotransform must still be real.
    expect_crs
        CRSs the source may be in; anything else is refused.

    Returns
    -------
    Source
        The opened source's grid and the CRS it is read in.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            with rasterio.open(path) as src:
                crs, transform = src.crs, src.transform
                source = dict(
                    width=src.width,
                    height=src.height,
                    count=src.count,
                    dtype=src.dtypes[0],
                    nodata=src.nodata,
                )
                dtypes = set(src.dtypes)
    except RasterioIOError as exc:
        raise RasterError(
            f"collection {collection!r}: raster {path.name!r} cannot be opened ({exc}); "
            "expected a GDAL-readable raster such as a GeoTIFF"
        ) from exc
    if len(dtypes) > 1:
        raise RasterError(
            f"collection {collection!r}: raster {path.name!r} mixes band types "
            f"{sorted(dtypes)!r}; expected one data type for all bands"
        )
    if transform.is_identity or (crs is None and src_crs is None):
        raise RasterError(
            f"collection {collection!r}: raster {path.name!r} has no georeferencing "
            f"(no CRS / no geotransform: crs={crs_label(crs) if crs else None!r}, "
            f"transform={tuple(transform)[:6]!r}); set source.crs in the spec when only "
            "the CRS is missing, or supply a georeferenced file (GeoTIFF with a geotransform)"
        )
    assigned = crs is None
    if crs is None:
        crs = parse_crs(src_crs, collection=collection, what="source.crs")  # type: ignore[arg-type]
    if expect_crs:
        accepted = [parse_crs(c, collection=collection, what="expected CRS") for c in expect_crs]
        if not any(crs == other for other in accepted):
            raise RasterError(
                f"collection {collection!r}: raster {path.name!r} is in {crs_label(crs)!r}; "
                f"expected one of {expect_crs!r}"
            )
    return Source(path=path, crs=crs, transform=transform, crs_assigned=assigned, **source)
