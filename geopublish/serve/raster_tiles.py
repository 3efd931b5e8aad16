"""Raster tiles (PNG, WebMercatorQuad) rendered from a served coverage's COG.

A single-band 8-bit coverage (a rendered background such as the hillshade: 0 = no data) is
served as map tiles at ``/collections/{id}/tiles/WebMercatorQuad/{z}/{y}/{x}``: rasterio warps
the tile's extent out of the COG (``WarpedVRT``, which reads the overview that matches the
zoom), the value becomes grey and nodata transparent, and GDAL writes the PNG. The zoom range
follows the COG: up to the first zoom as fine as its resolution, down to four zooms below the
one where the whole coverage fits in one tile (a region-wide view); other zooms are 404, tiles
without data 204. The last rendered tiles are kept per worker (keyed by the version's file,
so a swap renders anew).
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from pathlib import Path

import numpy as np
import rasterio
from rasterio.enums import Resampling
from rasterio.io import MemoryFile
from rasterio.transform import from_bounds
from rasterio.vrt import WarpedVRT
from rasterio.warp import calculate_default_transform

from geopublish.model import PublishedLayer

PNG = "image/png"
SIZE = 256
HALF = 20037508.342789244  # half the WebMercatorQuad extent, in metres
ZOOM_OUT = 4  # zooms served below the one where the whole coverage fits in a tile
KEEP = 512  # rendered tiles kept per worker
_LOCAL = threading.local()


def tile_bounds(z: int, x: int, y: int) -> tuple[float, float, float, float]:
    """West, south, east, north of a WebMercatorQuad tile in EPSG:3857 metres."""
    size = 2 * HALF / (1 << z)
    west, north = -HALF + x * size, HALF - y * size
    return west, north - size, west + size, north


def zoom_for(resolution: float) -> int:
    """The first zoom whose pixel (256 per tile) is at least as fine as ``resolution`` (m)."""
    return max(0, min(22, math.ceil(math.log2(2 * HALF / SIZE / resolution) - 1e-9)))


class Coverage:
    """One COG opened for this thread: its mercator zoom range and footprint."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.src = rasterio.open(path)
        transform, width, height = calculate_default_transform(
            self.src.crs, "EPSG:3857", self.src.width, self.src.height, *self.src.bounds
        )
        resolution = abs(transform.a)
        self.maxzoom = zoom_for(resolution)
        fits = zoom_for(resolution * max(width, height) / SIZE)  # the whole COG in one tile
        self.minzoom = max(0, min(self.maxzoom, fits) - ZOOM_OUT)
        west, north = transform.c, transform.f
        self.footprint = (west, north - height * resolution, west + width * resolution, north)
        self.renderable = self.src.count == 1 and self.src.dtypes[0] == "uint8"
        self.nodata = 0 if self.src.nodata is None else self.src.nodata

    def render(self, z: int, x: int, y: int) -> bytes | None:
        """The PNG of one tile, or None when it holds no data."""
        west, south, east, north = tile_bounds(z, x, y)
        fw, fs, fe, fn = self.footprint
        if west >= fe or east <= fw or south >= fn or north <= fs:
            return None
        with WarpedVRT(
            self.src,
            crs="EPSG:3857",
            transform=from_bounds(west, south, east, north, SIZE, SIZE),
            width=SIZE,
            height=SIZE,
            resampling=Resampling.bilinear,
            src_nodata=self.nodata,
            nodata=self.nodata,
        ) as vrt:
            grey = vrt.read(1)
        alpha = np.where(grey == self.nodata, 0, 255).astype("uint8")
        if not alpha.any():
            return None
        with MemoryFile() as memory:
            with memory.open(driver="PNG", width=SIZE, height=SIZE, count=2, dtype="uint8") as png:
                png.write(np.stack([grey, alpha]))
            return bytes(memory.read())


def _coverage(path: Path) -> Coverage:
    cache: dict[Path, Coverage] = getattr(_LOCAL, "coverages", None) or {}
    _LOCAL.coverages = cache
    found = cache.get(path)
    if found is None:
        for stale in [p for p in cache if p.parent == path.parent]:
            cache.pop(stale).src.close()
        found = cache[path] = Coverage(path)
    return found


class RasterTiles:
    """Tiles of the served version of each 8-bit single-band coverage."""

    def __init__(self) -> None:
        self._rendered: OrderedDict[tuple[str, int, int, int], bytes | None] = OrderedDict()
        self._lock = threading.Lock()

    def coverage(self, layer: PublishedLayer) -> Coverage | None:
        """The served COG of ``layer`` when it can be rendered as tiles, else None."""
        if layer.kind != "coverage" or not layer.location:
            return None
        try:
            found = _coverage(Path(layer.location))
        except rasterio.RasterioIOError:
            return None
        return found if found.renderable else None

    def tile(self, coverage: Coverage, z: int, x: int, y: int) -> bytes | None:
        """The PNG of a tile (None: no data there), rendered once per version and tile."""
        key = (str(coverage.path), z, x, y)
        with self._lock:
            if key in self._rendered:
                self._rendered.move_to_end(key)
                return self._rendered[key]
        data = coverage.render(z, x, y)
        with self._lock:
            self._rendered[key] = data
            while len(self._rendered) > KEEP:
                self._rendered.popitem(last=False)
        return data
