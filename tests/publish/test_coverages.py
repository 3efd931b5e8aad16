"""coverage_resource served by a real pygeoapi 0.24 (gunicorn, rasterio provider) over HTTP."""

from __future__ import annotations

import hashlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import rasterio
import requests
import yaml
from pyproj import Transformer
from rasterio.io import MemoryFile
from rasterio.windows import from_bounds

from geopublish.errors import PublishError
from geopublish.normalise.raster import build_cog
from geopublish.publish.coverages import coverage_resource

DEM = Path("raster_cevennes_srtm_dem/srtm_cevennes_utm31n_dem.tif")
BIN = Path(sys.executable).parent
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
PIXEL = 30.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _config(port: int, resource: dict) -> dict:
    """Minimal pygeoapi config: the required sections of pygeoapi's own sample config."""
    url = f"http://127.0.0.1:{port}"
    return {
        "server": {
            "bind": {"host": "127.0.0.1", "port": port},
            "url": url,
            "mimetype": "application/json; charset=UTF-8",
            "encoding": "utf-8",
            "language": "en-US",
            "pretty_print": False,
            "map": {
                "url": "https://tile.openstreetmap.org/{z}/{x}/{y}.png",
                "attribution": "OpenStreetMap",
            },
        },
        "logging": {"level": "ERROR"},
        "metadata": {
            "identification": {
                "title": "geopublish test",
                "description": "coverages",
                "keywords": ["test"],
                "url": url,
                "terms_of_service": url,
            },
            "license": {"name": "CC-BY 4.0", "url": "https://creativecommons.org/licenses/by/4.0/"},
            "provider": {"name": "geopublish"},
            "contact": {"name": "Doe, Jane"},
        },
        "resources": {"cevennes_dem": resource},
    }


@pytest.fixture(scope="module")
def cog(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    dst = tmp_path_factory.mktemp("cov") / "cevennes_dem.tif"
    build_cog([shared_data / DEM], dst, collection="cevennes_dem")
    return dst


@pytest.fixture(scope="module")
def resource(cog: Path) -> dict:
    return coverage_resource(
        cog,
        title="Cevennes DEM",
        description="SRTM 30 m",
        keywords=["dem", "srtm"],
        licence_url="https://www.usgs.gov/information-policies-and-instructions",
        band_names=["elevation"],
        units="m",
    )


@pytest.fixture(scope="module")
def server(resource: dict, cog: Path) -> Iterator[str]:
    port = _free_port()
    config, openapi = cog.parent / "pygeoapi-config.yml", cog.parent / "openapi.yml"
    config.write_text(yaml.safe_dump(_config(port, resource), sort_keys=False))
    subprocess.run(
        [BIN / "pygeoapi", "openapi", "generate", config, "--output-file", openapi],
        check=True,
        capture_output=True,
    )
    env = dict(os.environ, PYGEOAPI_CONFIG=str(config), PYGEOAPI_OPENAPI=str(openapi))
    log = (cog.parent / "gunicorn.log").open("wb")
    proc = subprocess.Popen(
        [BIN / "gunicorn", "-b", f"127.0.0.1:{port}", "-w", "1", "pygeoapi.flask_app:APP"],
        env=env,
        stdout=log,
        stderr=log,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if requests.get(f"{base}/conformance?f=json", timeout=10).ok:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"pygeoapi did not answer on {base}; see {log.name}")
            time.sleep(0.25)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def _densified_lonlat(cog: Path) -> tuple[float, float, float, float]:
    to_lonlat = Transformer.from_crs("EPSG:2154", "EPSG:4326", always_xy=True)
    with rasterio.open(cog) as src:
        left, bottom, right, top = src.bounds
    t = np.linspace(0, 1, 101)
    along_x, along_y = left + t * (right - left), bottom + t * (top - bottom)
    xs = np.concatenate([along_x, along_x, np.full(101, left), np.full(101, right)])
    ys = np.concatenate([np.full(101, bottom), np.full(101, top), along_y, along_y])
    lon, lat = to_lonlat.transform(xs, ys)
    return lon.min(), lat.min(), lon.max(), lat.max()


def _geotiff(response: requests.Response) -> tuple[rasterio.Affine, object, np.ndarray, float]:
    assert response.status_code == 200, response.text[:300]
    assert response.headers["Content-Type"] == "image/tiff"
    with MemoryFile(response.content) as mem, mem.open() as ds:
        return ds.transform, ds.crs, ds.read(1), ds.nodata


def _assert_values_match_cog(
    cog: Path, transform: rasterio.Affine, values: np.ndarray, nodata: float
) -> None:
    """Valid pixels equal the COG's; nodata only on the one-pixel rim outside the request."""
    with rasterio.open(cog) as src:
        bounds = rasterio.transform.array_bounds(*values.shape, transform)
        window = from_bounds(bounds[0], bounds[1], bounds[2], bounds[3], src.transform)
        expected = src.read(1, window=window.round_offsets().round_lengths())
    valid = values != nodata
    assert np.array_equal(values[valid], expected[valid])
    assert valid[1:-1, 1:-1].all()


def test_resource_block_uses_the_rasterio_provider_and_crs84_extent(
    resource: dict, cog: Path
) -> None:
    (provider,) = resource["providers"]
    assert (provider["type"], provider["name"], provider["data"]) == (
        "coverage",
        "rasterio",
        str(cog.resolve()),
    )
    assert provider["format"] == {"name": "GTiff", "mimetype": "image/tiff"}
    assert provider["x-geopublish-bands"] == [
        {"index": 1, "name": "elevation", "type": "int16", "nodata": -32768.0, "units": "m"}
    ]
    spatial = resource["extents"]["spatial"]
    assert spatial["crs"] == CRS84
    assert np.allclose(spatial["bbox"], _densified_lonlat(cog), atol=1e-6)
    assert resource["links"][0]["rel"] == "license"


def test_band_names_must_match_the_band_count(cog: Path) -> None:
    with pytest.raises(PublishError, match=r"2 band name\(s\).*has 1 band\(s\)"):
        coverage_resource(
            cog,
            title="DEM",
            description="",
            keywords=[],
            licence_url=None,
            band_names=["a", "b"],
            units=None,
        )


def test_collection_lists_extent_and_grid(server: str, cog: Path) -> None:
    body = requests.get(f"{server}/collections/cevennes_dem?f=json", timeout=30).json()
    spatial = body["extent"]["spatial"]
    assert spatial["crs"] == CRS84
    assert np.allclose(spatial["bbox"][0], _densified_lonlat(cog), atol=1e-6)
    assert spatial["grid"] == [
        {"cellsCount": 1656, "resolution": PIXEL},
        {"cellsCount": 1598, "resolution": PIXEL},
    ]


def test_coverage_bbox_in_crs84_returns_the_geotiff_window_in_lambert93(
    server: str, cog: Path
) -> None:
    bbox = (3.6, 44.0, 3.8, 44.2)
    response = requests.get(
        f"{server}/collections/cevennes_dem/coverage",
        params={"bbox": ",".join(map(str, bbox)), "f": "GTiff"},
        timeout=60,
    )
    transform, crs, values, nodata = _geotiff(response)
    assert crs.to_epsg() == 2154 and nodata == -32768
    # pygeoapi projects the two corners (SW, NE) only, not the whole envelope
    to_l93 = Transformer.from_crs("EPSG:4326", "EPSG:2154", always_xy=True)
    (x0, x1), (y0, y1) = to_l93.transform([bbox[0], bbox[2]], [bbox[1], bbox[3]])
    got = rasterio.transform.array_bounds(*values.shape, transform)
    assert np.allclose(got, (x0, y0, x1, y1), atol=PIXEL)
    _assert_values_match_cog(cog, transform, values, nodata)


def test_coverage_bbox_crs_accepts_a_bare_epsg_code(server: str, cog: Path) -> None:
    response = requests.get(
        f"{server}/collections/cevennes_dem/coverage",
        timeout=60,
        params={"bbox": "750000,6330000,760000,6340000", "bbox-crs": "2154", "f": "GTiff"},
    )
    transform, crs, values, nodata = _geotiff(response)
    got = rasterio.transform.array_bounds(*values.shape, transform)
    assert crs.to_epsg() == 2154
    assert np.allclose(got, (750000, 6330000, 760000, 6340000), atol=PIXEL)
    _assert_values_match_cog(cog, transform, values, nodata)


def test_coverage_subset_on_native_axes_matches_bbox(server: str) -> None:
    url = f"{server}/collections/cevennes_dem/coverage"
    by_subset = requests.get(
        url, timeout=60, params={"subset": "x(750000:760000),y(6330000:6340000)", "f": "GTiff"}
    )
    by_bbox = requests.get(
        url,
        timeout=60,
        params={"bbox": "750000,6330000,760000,6340000", "bbox-crs": "2154", "f": "GTiff"},
    )
    assert np.array_equal(_geotiff(by_subset)[2], _geotiff(by_bbox)[2])


def test_pygeoapi_024_answers_500_to_bbox_crs_uris(server: str) -> None:
    response = requests.get(
        f"{server}/collections/cevennes_dem/coverage",
        timeout=60,
        params={"bbox": "3.6,44.0,3.8,44.2", "bbox-crs": CRS84, "f": "GTiff"},
    )
    assert response.status_code == 500


def test_coverage_without_parameters_returns_the_cog_itself(server: str, cog: Path) -> None:
    response = requests.get(f"{server}/collections/cevennes_dem/coverage?f=GTiff", timeout=60)
    assert response.status_code == 200
    assert hashlib.sha256(response.content).digest() == hashlib.sha256(cog.read_bytes()).digest()


def test_schema_describes_the_band_by_index_and_type(server: str) -> None:
    response = requests.get(f"{server}/collections/cevennes_dem/schema?f=json", timeout=30)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/schema+json")
    properties = response.json()["properties"]
    assert list(properties) == ["1"]
    assert properties["1"]["type"] == "integer"
    assert properties["1"]["title"] is None  # pygeoapi 0.24 names bands only for GRIB
