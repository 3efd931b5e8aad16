"""Shared fixtures: the real data folder, read in place."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from gpsupport import REPO, Server, cli_env, run_cli
from pgsupport import postgis_dsn  # noqa: F401
from qualitysupport import pg_site  # noqa: F401


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
def gpkg_api(built: dict):
    """A live API over the built default catalogue (GeoPackage store)."""
    server = Server(built["env"])
    yield server.url
    server.stop()


@pytest.fixture(scope="session")
def api(gpkg_api: str) -> str:
    """The GeoPackage API; tests/serve and tests/conformance override it with both stores."""
    return gpkg_api


@pytest.fixture(scope="session")
def postgis_built(shared_data: Path, tmp_path_factory: pytest.TempPathFactory, request) -> dict:
    """The default catalogue built once into a private PostGIS schema, by the real CLI."""
    from pgsupport import drop_schema

    dsn = request.getfixturevalue("postgis_dsn")
    var = tmp_path_factory.mktemp("var-postgis")
    schema = f"gp_session_{os.getpid()}"
    drop_schema(dsn, schema)
    env = cli_env(
        var,
        shared_data,
        GEOPUBLISH_STORE="postgis",
        GEOPUBLISH_POSTGIS_DSN=dsn,
        GEOPUBLISH_POSTGIS_SCHEMA=schema,
    )
    result = run_cli(env, "build")
    assert result.returncode == 0, result.stderr
    yield {"var": var, "env": env, "schema": schema}
    drop_schema(dsn, schema)


@pytest.fixture(scope="session")
def postgis_api(postgis_built: dict):
    """A live API over the default catalogue stored in PostGIS (one server per session)."""
    server = Server(postgis_built["env"])
    yield server.url
    server.stop()


STORES = ["gpkg", "postgis"]


@pytest.fixture(scope="session", params=STORES)
def store(request) -> dict:
    """Each store in turn: its kind and its live API over the same default catalogue.

    One session server per store, shared by every test that asks for it.
    """
    return {"kind": request.param, "url": request.getfixturevalue(f"{request.param}_api")}
