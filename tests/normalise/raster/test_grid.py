"""Raster grids: a source already in the storage CRS keeps its grid exactly; no rounding."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
import yaml
from affine import Affine
from gpsupport import cli_env, run_cli
from rasterio.crs import CRS

from geopublish.normalise.raster.grid import target_grid
from geopublish.normalise.raster.sources import open_source

ARCSEC = 1 / 3600
# A 1" DEM whose origin is not on any round multiple of its pixel size (as SRTM tiles are
# written: the pixel centre, not the corner, sits on the whole second).
ORIGIN = Affine(ARCSEC, 0.0, 3.5 - ARCSEC / 2, 0.0, -ARCSEC, 44.3 + ARCSEC / 2)


def write_dem(path: Path, transform: Affine = ORIGIN, crs: str = "EPSG:4326") -> np.ndarray:
    rng = np.random.default_rng(14)
    values = (rng.random((300, 420)) * 1500).astype("float32")
    values[:7, :9] = -9999.0
    profile = {
        "driver": "GTiff",
        "width": 420,
        "height": 300,
        "count": 1,
        "dtype": "float32",
        "crs": crs,
        "transform": transform,
        "nodata": -9999.0,
    }
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(values, 1)
    return values


def spec(raster: dict) -> dict:
    return {
        "title": "t",
        "description": "t",
        "licence": {"name": "Domaine public"},
        "attribution": "test",
        "source": {"kind": "raster", "parts": [{"path": "dem.tif"}], "raster": raster},
        "crs": {"storage": "EPSG:4326"},
    }


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> dict:
    base = tmp_path_factory.mktemp("grid")
    data = base / "data"
    data.mkdir()
    values = write_dem(data / "dem.tif")
    specs = base / "collections/test"
    specs.mkdir(parents=True)
    (specs / "dem_same.yml").write_text(yaml.safe_dump(spec({"resampling": "bilinear"})))
    (specs / "dem_coarse.yml").write_text(
        yaml.safe_dump(spec({"resampling": "nearest", "resolution": 2 * ARCSEC}))
    )
    env = cli_env(base / "var", data, GEOPUBLISH_COLLECTIONS_DIR=str(base / "collections"))
    result = run_cli(env, "build")
    return {"base": base, "values": values, "result": result}


def test_geographic_dem_in_its_own_crs_comes_back_bit_identical(built):
    assert built["result"].returncode == 0, built["result"].stderr
    with rasterio.open(built["base"] / "var/store/dem_same/current.tif") as out:
        assert out.transform == ORIGIN
        assert (out.width, out.height) == (420, 300)
        assert out.crs == CRS.from_epsg(4326)
        data = out.read(1)
    assert data.tobytes() == built["values"].tobytes()


def test_explicit_resolution_is_honoured_exactly_on_the_source_lattice(built):
    assert built["result"].returncode == 0, built["result"].stderr
    with rasterio.open(built["base"] / "var/store/dem_coarse/current.tif") as out:
        t = out.transform
        assert (t.a, t.e) == (2 * ARCSEC, -2 * ARCSEC)
        assert (t.c, t.f) == (ORIGIN.c, ORIGIN.f)  # no half-pixel shift
        assert (out.width, out.height) == (210, 150)
        data = out.read(1)
    # nearest on an aligned 2x grid picks one of each 2x2 block of source pixels
    blocks = built["values"].reshape(150, 2, 210, 2)
    picked = data[7:, 9:]
    assert np.isin(picked, blocks[7:, :, 9:, :]).all()


def test_sources_on_one_lattice_are_merged_on_it(tmp_path):
    write_dem(tmp_path / "a.tif")
    east = ORIGIN @ Affine.translation(420, 0)
    write_dem(tmp_path / "b.tif", east)
    sources = [open_source(tmp_path / n, collection="t") for n in ("a.tif", "b.tif")]
    transform, width, height = target_grid(sources, CRS.from_epsg(4326), None)
    assert transform == ORIGIN
    assert (width, height) == (840, 300)


def test_reprojected_pixel_size_is_not_rounded(tmp_path):
    write_dem(tmp_path / "a.tif")
    source = open_source(tmp_path / "a.tif", collection="t")
    transform, _, _ = target_grid([source], CRS.from_epsg(2154), None)
    assert transform.a == -transform.e
    assert transform.a != float(f"{transform.a:.3g}")  # the default warp size, as computed
    steps = transform.c / transform.a
    assert steps == pytest.approx(round(steps), abs=1e-6)  # on multiples of the pixel size


def test_metric_source_keeps_its_pixel_size_when_reprojected(tmp_path):
    utm = Affine(25.0, 0.0, 560013.0, 0.0, -25.0, 4900007.0)
    write_dem(tmp_path / "utm.tif", utm, "EPSG:32631")
    source = open_source(tmp_path / "utm.tif", collection="t")
    transform, _, _ = target_grid([source], CRS.from_epsg(2154), None)
    assert (transform.a, transform.e) == (25.0, -25.0)
