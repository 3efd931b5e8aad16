"""build_cog on 8-bit images without nodata: no pixel value to spare, so a mask marks the outside."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
import shapely
from pyproj import Transformer
from rasterio.enums import MaskFlags
from rasterio.transform import from_origin
from rasterio.windows import Window
from rio_cogeo.cogeo import cog_validate

from geopublish.normalise.raster import build_cog

ORIGIN, PIXEL = (430_000.0, 5_420_000.0), 20.0  # Web Mercator, near Montpellier
WHITE = (slice(100, 140), slice(200, 240))  # a white roof, rows and cols


def _image(path: Path, *, white: bool, window: Window | None = None) -> Path:
    pixels = np.random.default_rng(7).integers(1, 255, (3, 400, 500)).astype("uint8")
    if white:
        pixels[(slice(None), *WHITE)] = 255
    window = window or Window(0, 0, 500, 400)
    transform = from_origin(*ORIGIN, PIXEL, PIXEL)
    rows, cols = window.toslices()
    with rasterio.open(
        path, "w", driver="GTiff", count=3, dtype="uint8", crs="EPSG:3857",
        width=window.width, height=window.height,
        transform=rasterio.windows.transform(window, transform),
    ) as out:  # fmt: skip
        out.write(pixels[:, rows, cols])
    return path


def _lambert(x: float, y: float) -> tuple[float, float]:
    return Transformer.from_crs(3857, 2154, always_xy=True).transform(x, y)


def test_image_using_255_keeps_its_white_pixels_and_masks_the_outside(tmp_path: Path) -> None:
    report = build_cog(
        [_image(tmp_path / "in.tif", white=True)], tmp_path / "out.tif", collection="o"
    )
    centre = (ORIGIN[0] + 220 * PIXEL, ORIGIN[1] - 120 * PIXEL)  # middle of the white roof
    corners = [(ORIGIN[0] + c * PIXEL, ORIGIN[1] - r * PIXEL) for c, r in
               [(0, 0), (500, 0), (500, 400), (0, 400)]]  # fmt: skip
    footprint = shapely.Polygon([_lambert(*c) for c in corners])

    assert report["outside_sources"] == "internal mask" and report["cog_valid"]
    assert cog_validate(tmp_path / "out.tif", quiet=True)[0]
    with rasterio.open(tmp_path / "out.tif") as out:
        assert out.nodata is None and out.mask_flag_enums[0] == [MaskFlags.per_dataset]
        valid = out.dataset_mask() > 0
        row, col = out.index(*_lambert(*centre))
        assert (
            valid[row, col]
            and out.read(window=Window(col, row, 1, 1)).ravel().tolist() == [255] * 3
        )
        pixel_area = abs(out.transform.a * out.transform.e)
    assert valid.sum() * pixel_area == pytest.approx(footprint.area, rel=0.02)


def test_image_never_using_255_gets_255_as_nodata(tmp_path: Path) -> None:
    report = build_cog(
        [_image(tmp_path / "in.tif", white=False)], tmp_path / "out.tif", collection="o"
    )
    assert report["outside_sources"] == "nodata 255.0"
    with rasterio.open(tmp_path / "out.tif") as out:
        pixels = out.read()
        assert out.nodata == 255
        outside = (pixels == 255).all(axis=0)
        assert outside.any() and ((pixels == 255).any(axis=0) == outside).all()


def test_masked_mosaic_of_two_tiles_equals_the_single_image(tmp_path: Path) -> None:
    whole = _image(tmp_path / "whole.tif", white=True)
    tiles = [
        _image(tmp_path / "west.tif", white=True, window=Window(0, 0, 260, 400)),
        _image(tmp_path / "east.tif", white=True, window=Window(240, 0, 260, 400)),
    ]
    build_cog([whole], tmp_path / "single.tif", collection="o")
    report = build_cog(tiles, tmp_path / "mosaic.tif", collection="o")
    assert report["outside_sources"] == "internal mask"
    with (
        rasterio.open(tmp_path / "mosaic.tif") as mosaic,
        rasterio.open(tmp_path / "single.tif") as single,
    ):
        assert mosaic.transform == single.transform and mosaic.shape == single.shape
        both = (mosaic.dataset_mask() > 0) & (single.dataset_mask() > 0)
        union = (mosaic.dataset_mask() > 0) | (single.dataset_mask() > 0)
        assert both.sum() / union.sum() > 0.995
        same = (mosaic.read() == single.read()).all(axis=0)
    assert same[both].mean() > 0.99
