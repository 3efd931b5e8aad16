"""hillshade on the real Cevennes DEM, checked against ESRI's slope/aspect formulation."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.windows import Window
from rio_cogeo.cogeo import cog_validate

from geopublish.errors import RasterError
from geopublish.normalise.raster import build_cog, hillshade

DEM = Path("raster_cevennes_srtm_dem/srtm_cevennes_utm31n_dem.tif")


@pytest.fixture(scope="module")
def dem_cog(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    dst = tmp_path_factory.mktemp("dem") / "dem.tif"
    build_cog([shared_data / DEM], dst, collection="cevennes_dem")
    return dst


@pytest.fixture(scope="module")
def shaded(dem_cog: Path) -> tuple[Path, dict]:
    dst = dem_cog.with_name("hillshade.tif")
    return dst, hillshade(dem_cog, dst, collection="cevennes_hillshade")


def _esri_hillshade(z: np.ndarray, res: float, azimuth: float, altitude: float) -> np.ndarray:
    """Per-pixel loop over ESRI's documented slope/aspect hillshade, rescaled like gdaldem."""
    zenith = math.radians(90 - altitude)
    az_math = math.radians((360 - azimuth + 90) % 360)
    out = np.zeros((z.shape[0] - 2, z.shape[1] - 2))
    for r in range(1, z.shape[0] - 1):
        for c in range(1, z.shape[1] - 1):
            a, b, cc, d, _, f, g, h, i = z[r - 1 : r + 2, c - 1 : c + 2].ravel()
            dzdx = ((cc + 2 * f + i) - (a + 2 * d + g)) / (8 * res)
            dzdy = ((g + 2 * h + i) - (a + 2 * b + cc)) / (8 * res)
            slope = math.atan(math.hypot(dzdx, dzdy))
            aspect = math.atan2(dzdy, -dzdx)
            cos_i = math.cos(zenith) * math.cos(slope) + math.sin(zenith) * math.sin(
                slope
            ) * math.cos(az_math - aspect)
            out[r - 1, c - 1] = 1 + 254 * max(cos_i, 0.0)
    return out


def test_hillshade_is_a_valid_uint8_cog_on_the_dem_grid(
    shaded: tuple[Path, dict], dem_cog: Path
) -> None:
    dst, report = shaded
    assert cog_validate(dst, quiet=True)[0] and report["cog_valid"]
    with rasterio.open(dst) as hs, rasterio.open(dem_cog) as dem:
        assert (hs.dtypes[0], hs.nodata, hs.count) == ("uint8", 0.0, 1)
        assert (hs.crs, hs.transform, hs.shape) == (dem.crs, dem.transform, dem.shape)
        values = hs.read(1)
    assert values[0].max() == values[-1].max() == values[:, 0].max() == values[:, -1].max() == 0
    assert report["output"]["bands"][0]["min"] >= 1 and report["output"]["bands"][0]["max"] <= 255


@pytest.mark.parametrize(("azimuth", "altitude"), [(315.0, 45.0), (135.0, 30.0)])
def test_hillshade_matches_an_independent_horn_computation(
    dem_cog: Path, tmp_path: Path, azimuth: float, altitude: float
) -> None:
    dst = tmp_path / "hs.tif"
    hillshade(dem_cog, dst, collection="cevennes_hillshade", azimuth=azimuth, altitude=altitude)
    window = Window(700, 500, 60, 60)
    with rasterio.open(dem_cog) as dem, rasterio.open(dst) as hs:
        z = dem.read(1, window=window).astype(float)
        got = hs.read(1, window=window)[1:-1, 1:-1].astype(float)
        res = dem.res[0]
    expected = _esri_hillshade(z, res, azimuth, altitude)
    assert np.abs(got - expected).max() <= 1


def test_hillshade_of_flat_ground_is_about_180_at_45_degrees(
    shaded: tuple[Path, dict], dem_cog: Path
) -> None:
    with rasterio.open(dem_cog) as dem, rasterio.open(shaded[0]) as hs:
        z = dem.read(1, masked=True).astype(float).filled(np.nan)
        values = hs.read(1).astype(float)
    gy, gx = np.gradient(z, 30.0)
    flat = np.hypot(gx, gy) < 0.01
    flat[[0, -1], :] = flat[:, [0, -1]] = False
    assert flat.sum() > 1000
    assert 178 <= np.median(values[flat]) <= 183


def test_hillshade_lights_north_west_slopes_more_than_south_east(
    shaded: tuple[Path, dict], dem_cog: Path
) -> None:
    with rasterio.open(dem_cog) as dem, rasterio.open(shaded[0]) as hs:
        z = dem.read(1, masked=True).astype(float).filled(np.nan)
        values = hs.read(1).astype(float)
    gy, gx = np.gradient(z, 30.0)
    north_west_facing = (gx > 0.2) & (gy > 0.2)  # rises to the east and to the south (row down)
    south_east_facing = (gx < -0.2) & (gy < -0.2)
    assert np.median(values[north_west_facing]) > np.median(values[south_east_facing]) + 60


def test_hillshade_refuses_a_geographic_dem(shared_data: Path, tmp_path: Path) -> None:
    geographic = tmp_path / "dem_4326.tif"
    build_cog([shared_data / DEM], geographic, collection="cevennes_dem", dst_crs="EPSG:4326")
    dst = tmp_path / "hs.tif"
    with pytest.raises(RasterError, match=r"'EPSG:4326'.*projected CRS"):
        hillshade(geographic, dst, collection="cevennes_hillshade")
    assert not dst.exists()
