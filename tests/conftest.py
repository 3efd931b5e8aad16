"""Shared fixtures: the real data folder, read in place."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from gpsupport import REPO, Server, cli_env, run_cli


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


@pytest.fixture(scope="session")
def built(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The default catalogue built once, by the real CLI, into a private var/ folder."""
    var = tmp_path_factory.mktemp("var")
    env = cli_env(var, shared_data)
    result = run_cli(env, "build")
    assert result.returncode == 0, result.stderr
    return {"var": var, "env": env, "stdout": result.stdout}


@pytest.fixture(scope="session")
def api(built: dict):
    """A live API over the built default catalogue."""
    server = Server(built["env"])
    yield server.url
    server.stop()


from pgsupport import postgis_dsn  # noqa: E402, F401  (session fixture of pg_site)
from qualitysupport import pg_site  # noqa: E402, F401
