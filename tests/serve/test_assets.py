"""Front-end libraries come from the service itself (installed from npm), nothing else."""

from __future__ import annotations

import json

import pytest
import requests
from gpsupport import REPO

PACKAGES = json.loads((REPO / "assets" / "package.json").read_text())["dependencies"]


@pytest.mark.parametrize(
    "file, kind",
    [
        ("bootstrap/dist/css/bootstrap.min.css", "text/css"),
        ("leaflet/dist/leaflet.js", "text/javascript"),
        ("maplibre-gl/dist/maplibre-gl.js", "text/javascript"),
        ("chart.js/dist/chart.umd.js", "text/javascript"),
    ],
)
def test_each_vendored_library_is_served_with_its_type_and_cache_headers(api, file, kind):
    response = requests.get(f"{api}/assets/vendor/{file}", timeout=30)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith(kind)
    assert "max-age" in response.headers["Cache-Control"]
    installed = REPO / "assets" / "node_modules" / file
    assert response.content == installed.read_bytes()


@pytest.mark.parametrize(
    "path",
    [
        "leaflet/package.json/../../../../pyproject.toml",
        "leaflet/%2e%2e/%2e%2e/%2e%2e/pyproject.toml",
        "left-pad/index.js",
        "leaflet/LICENSE",
        "leaflet/dist/leaflet.js.sh",
    ],
)
def test_nothing_outside_a_declared_package_or_of_another_type_is_served(api, path):
    response = requests.get(f"{api}/assets/vendor/{path}", timeout=30)
    assert response.status_code == 404


def test_every_declared_package_is_installed():
    modules = REPO / "assets" / "node_modules"
    assert sorted(p for p in PACKAGES if (modules / p / "package.json").is_file()) == sorted(
        PACKAGES
    )
