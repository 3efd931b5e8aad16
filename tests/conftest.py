"""Shared fixtures: the real data folder, read in place."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _data_dir() -> Path:
    return Path(os.environ.get("GEOPUBLISH_SOURCE_ROOT", REPO.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real open data of ../shared/data; skip (or fail in CI) when absent."""
    path = _data_dir()
    if not (path / "README.md").is_file():
        reason = f"shared test data not found at {path} (set GEOPUBLISH_SOURCE_ROOT)"
        if os.environ.get("GEOPUBLISH_REQUIRE_DATA") == "1":
            pytest.fail(reason + " and GEOPUBLISH_REQUIRE_DATA=1")
        pytest.skip(reason)
    return path
