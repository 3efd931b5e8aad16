"""One PostGIS site shared by the quality tests (downloads, catalogue, scores): built once."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from gpsupport import REPO, Server, cli_env, run_cli
from pgsupport import drop_schema

PARKS = REPO / "collections/environment/parks_montpellier.yml"


@pytest.fixture(scope="session")
def pg_site(shared_data: Path, postgis_dsn: str, tmp_path_factory: pytest.TempPathFactory):
    """The parks layer built into PostGIS by the real CLI and served by a real server."""
    root = tmp_path_factory.mktemp("pg_site")
    (root / "collections/environment").mkdir(parents=True)
    shutil.copy(PARKS, root / "collections/environment/parks_montpellier.yml")
    schema = f"gp_quality_{os.getpid()}"
    drop_schema(postgis_dsn, schema)
    env = cli_env(
        root / "var",
        shared_data,
        GEOPUBLISH_COLLECTIONS_DIR=str(root / "collections"),
        GEOPUBLISH_STORE="postgis",
        GEOPUBLISH_POSTGIS_DSN=postgis_dsn,
        GEOPUBLISH_POSTGIS_SCHEMA=schema,
    )
    result = run_cli(env, "build")
    assert result.returncode == 0, result.stderr
    server = Server(env)
    yield {"url": server.url, "env": env, "var": root / "var", "root": root, "schema": schema}
    server.stop()
    drop_schema(postgis_dsn, schema)
