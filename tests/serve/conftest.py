"""tests/serve runs every API test on both stores: ``api`` is each store's live API in turn."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def api(store: dict) -> str:
    """The live API of the store under test (GeoPackage, then PostGIS)."""
    return store["url"]


@pytest.fixture(scope="session")
def store_kind(store: dict) -> str:
    """``gpkg`` or ``postgis``."""
    return store["kind"]
