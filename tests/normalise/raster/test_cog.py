"""build_cog on the real Cevennes SRTM DEM (UTM 31N -> Lambert-93)."""

from __future__ import annotations

import hashlib
import json
import warnings
from pathlib import Path

import numpy as np
import pytest
import rasterio
from pyproj import Transformer
from rasterio.errors import NotGeoreferencedWarning
from rasterio.windows import Window
from rio_cogeo.cogeo import cog_validate

from geopublish.errors import RasterError
from geopublish.normalise.raster import build_cog

DEM = Path("raster_cevennes_srtm_dem/srtm_cevennes_utm31n_dem.tif")


@pytest.fixture(scope="module")
def dem(shared_data: Path) -> Path:
    return shared_data / DEM


@pytest.fixture(scope="module")
def built(dem: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    dst = tmp_path_factory.mktemp("cog") / "dem.tif"
    return dst, build_cog([dem], dst, collection="cevennes_dem")


def _copy(dem: Path, dst: Path, *, window: Window | None = None, georef: str = "full") -> Path:
    """Copy (a window of) the DEM; georef 'full', 'no_crs' or 'none' (no CRS, no transform)."""
    with rasterio.open(dem) as src:
        window = window or Window(0, 0, src.width, src.height)
        profile = dict(
            src.profile,
            width=window.width,
            height=window.height,
            transform=src.window_transform(window),
        )
        if georef != "full":
            profile.pop("crs")
        if georef == "none":
            profile.pop("transform")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            with rasterio.open(dst, "w", **profile) as out:
                out.write(src.read(window=window))
    return dst


def test_build_cog_writes_a_valid_tiled_deflate_cog_in_lambert93(built: tuple[Path, dict]) -> None:
    dst, report = built
    valid, errors, _ = cog_validate(dst, quiet=True)
    assert valid and not errors and report["cog_valid"] is True
    with rasterio.open(dst) as cog:
        assert cog.crs.to_epsg() == 2154
        assert cog.block_shapes[0] == (512, 512)
        assert cog.overviews(1) == [2, 4]
        assert cog.tags(ns="IMAGE_STRUCTURE")["PREDICTOR"] == "2"
        assert cog.compression.value == "DEFLATE"
        assert (cog.dtypes[0], cog.nodata, cog.res) == ("int16", -32768.0, (30.0, 30.0))


def test_build_cog_values_match_source_at_independently_projected_points(
    built: tuple[Path, dict], dem: Path
) -> None:
    dst, _ = built
    rng = np.random.default_rng(42)
    to_l93 = Transformer.from_crs("EPSG:32631", "EPSG:2154", always_xy=True)
    with rasterio.open(dem) as src, rasterio.open(dst) as cog:
        rows = rng.integers(5, src.height - 5, 500)
        cols = rng.integers(5, src.width - 5, 500)
        xs, ys = rasterio.transform.xy(src.transform, rows, cols)
        expected = np.array([v[0] for v in src.sample(zip(xs, ys, strict=True))], float)
        got = np.array(
            [v[0] for v in cog.sample(zip(*to_l93.transform(xs, ys), strict=True))], float
        )
    diff = np.abs(got - expected)
    assert np.median(diff) <= 3 and np.percentile(diff, 95) <= 10 and diff.max() <= 25


def test_build_cog_bounds_cover_the_source_footprint_within_two_pixels(
    built: tuple[Path, dict], dem: Path
) -> None:
    dst, report = built
    to_l93 = Transformer.from_crs("EPSG:32631", "EPSG:2154", always_xy=True)
    with rasterio.open(dem) as src:
        left, bottom, right, top = src.bounds
    edge = np.linspace(0, 1, 50)
    along_x, along_y = left + edge * (right - left), bottom + edge * (top - bottom)
    xs = np.concatenate([along_x, along_x, np.full(50, left), np.full(50, right)])
    ys = np.concatenate([np.full(50, bottom), np.full(50, top), along_y, along_y])
    fx, fy = to_l93.transform(xs, ys)
    with rasterio.open(dst) as cog:
        b = cog.bounds
    assert b.left <= fx.min() and b.right >= fx.max() and b.bottom <= fy.min() and b.top >= fy.max()
    assert max(fx.min() - b.left, b.right - fx.max(), fy.min() - b.bottom, b.top - fy.max()) < 60
    assert report["output"]["bounds"] == list(b)
    lon0, lat0, lon1, lat1 = report["output"]["bounds_lonlat"]
    assert 3.49 < lon0 < lon1 < 4.13 and 43.96 < lat0 < lat1 < 44.41


def test_build_cog_marks_empty_reprojected_edges_as_nodata(built: tuple[Path, dict]) -> None:
    dst, report = built
    with rasterio.open(dst) as cog:
        values = cog.read(1)
    empty = values == -32768
    assert 0 < empty.sum() < 0.01 * values.size
    assert values[~empty].min() >= 85 and values[~empty].max() <= 1672
    band = report["output"]["bands"][0]
    assert (band["min"], band["max"], band["valid_pixels"]) == (
        values[~empty].min(),
        values[~empty].max(),
        (~empty).sum(),
    )


def test_build_cog_report_is_json_and_fingerprints_inputs(
    built: tuple[Path, dict], dem: Path
) -> None:
    _, report = built
    json.loads(json.dumps(report))
    (entry,) = report["inputs"]
    assert entry["sha256"] == hashlib.sha256(dem.read_bytes()).hexdigest()
    assert (entry["crs"], entry["width"], entry["height"], entry["dtype"]) == (
        "EPSG:32631",
        1654,
        1596,
        "int16",
    )
    assert report["output"]["crs"] == "EPSG:2154" and report["duration_s"] > 0


def test_mosaic_of_two_overlapping_tiles_equals_the_single_build(
    built: tuple[Path, dict], dem: Path, tmp_path: Path
) -> None:
    with rasterio.open(dem) as src:
        windows = [Window(0, 0, 900, src.height), Window(800, 0, src.width - 800, src.height)]
    tiles = [_copy(dem, tmp_path / f"tile_{i}.tif", window=w) for i, w in enumerate(windows)]
    report = build_cog(
        tiles, tmp_path / "mosaic.tif", collection="cevennes_dem", expect_crs=["EPSG:32631"]
    )
    assert report["cog_valid"] and len(report["inputs"]) == 2
    with rasterio.open(tmp_path / "mosaic.tif") as mosaic, rasterio.open(built[0]) as single:
        assert mosaic.transform == single.transform and mosaic.shape == single.shape
        diff = np.abs(mosaic.read(1).astype(int) - single.read(1).astype(int))
    assert (diff == 0).mean() > 0.999 and diff.max() <= 5


def test_source_without_crs_is_georeferenced_by_src_crs(
    dem: Path, built: tuple[Path, dict], tmp_path: Path
) -> None:
    bare = _copy(dem, tmp_path / "no_crs.tif", georef="no_crs")
    report = build_cog(
        [bare], tmp_path / "out.tif", collection="cevennes_dem", src_crs="EPSG:32631"
    )
    assert report["inputs"][0]["crs_assigned"] is True
    with rasterio.open(tmp_path / "out.tif") as out, rasterio.open(built[0]) as ref:
        assert np.array_equal(out.read(1), ref.read(1))


@pytest.mark.parametrize("src_crs", [None, "EPSG:32631"])
def test_source_without_georeferencing_is_refused_and_dst_not_created(
    dem: Path, tmp_path: Path, src_crs: str | None
) -> None:
    bare = _copy(dem, tmp_path / "bare.tif", georef="none")
    dst = tmp_path / "out" / "dem.tif"
    with pytest.raises(
        RasterError,
        match=r"collection 'cevennes_dem': raster 'bare.tif' has no "
        r"georeferencing \(no CRS / no geotransform",
    ):
        build_cog([bare], dst, collection="cevennes_dem", src_crs=src_crs)
    assert not dst.exists()


def test_source_outside_expect_crs_is_refused_naming_both(dem: Path, tmp_path: Path) -> None:
    dst = tmp_path / "dem.tif"
    with pytest.raises(RasterError) as info:
        build_cog([dem], dst, collection="cevennes_dem", expect_crs=["EPSG:2154"])
    assert "'EPSG:32631'" in str(info.value) and "['EPSG:2154']" in str(info.value)
    assert not dst.exists()


@pytest.mark.parametrize(
    "bad",
    [
        {"expect_crs": ["EPSG:2154"]},
        {"compress": "GZIP2"},
        {"resampling": "smooth"},
        {"dst_crs": "EPSG:999999"},
    ],
)
def test_failed_build_leaves_existing_dst_byte_identical(
    built: tuple[Path, dict], dem: Path, tmp_path: Path, bad: dict
) -> None:
    dst = tmp_path / "dem.tif"
    dst.write_bytes(built[0].read_bytes())
    before = dst.read_bytes()
    with pytest.raises(RasterError, match="collection 'cevennes_dem'"):
        build_cog([dem], dst, collection="cevennes_dem", **bad)
    assert dst.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dem.tif"]
