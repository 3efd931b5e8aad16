"""A federated layer (carpooling places, two shared publishers) built and served on one store."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from gpsupport import REPO, Server, cli_env, run_cli
from pgsupport import drop_schema

LAYER = "covoiturage_federe"
PUBLISHERS = ("cd31_haute_garonne", "cd66_pyrenees_orientales")


def federated_site(
    request: pytest.FixtureRequest,
    shared_data: Path,
    tmp_path_factory: pytest.TempPathFactory,
    appended: dict[str, str] | None = None,
) -> Iterator[dict]:
    """Build and serve the layer on ``request.param``'s store, in a writable source root.

    ``appended`` adds YAML lines to publisher files (by slug) before the build.
    """
    root = tmp_path_factory.mktemp(f"fed_{request.param}")
    data = root / "data"
    data.mkdir()
    for name in ("federation", "admin_reference_decoupage_administratif",
                 "admin_france_geojson_occitanie"):  # fmt: skip
        (data / name).symlink_to(shared_data / name)
    (data / "local").mkdir()
    specs = root / "collections" / "federation"
    (specs / LAYER).mkdir(parents=True)
    shutil.copy(REPO / "collections/federation" / f"{LAYER}.yml", specs)
    for slug in PUBLISHERS:
        shutil.copy(REPO / "collections/federation" / LAYER / f"{slug}.yml", specs / LAYER)
        if appended and slug in appended:
            with (specs / LAYER / f"{slug}.yml").open("a", encoding="utf-8") as handle:
                handle.write(appended[slug])
    # The shared folders are linked into this root, so reads may resolve into shared_data.
    allow = f"{tempfile.gettempdir()}:{shared_data}"
    extra = {"GEOPUBLISH_COLLECTIONS_DIR": str(root / "collections"),
             "GEOPUBLISH_STORE": request.param, "GEOPUBLISH_SOURCE_ALLOW": allow}  # fmt: skip
    schema = None
    if request.param == "postgis":
        dsn = request.getfixturevalue("postgis_dsn")
        schema = f"gp_{root.name}_{os.getpid()}"  # one per built site
        extra.update(GEOPUBLISH_POSTGIS_DSN=dsn, GEOPUBLISH_POSTGIS_SCHEMA=schema)
    env = cli_env(root / "var", data, **extra)
    result = run_cli(env, "build")
    assert result.returncode == 0, result.stderr
    server = Server(env)
    yield {"url": server.url, "env": env, "data": data, "specs": specs, "root": root}
    server.stop()
    if schema:
        drop_schema(extra["GEOPUBLISH_POSTGIS_DSN"], schema)
