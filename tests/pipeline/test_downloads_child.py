"""A large layer's downloads are written by a child process: the same files, on both stores."""

from __future__ import annotations

import json
import os
import shutil

import pytest
from gpsupport import REPO, cli_env, run_cli
from pgsupport import drop_schema, postgis_dsn  # noqa: F401  (the fixture)

pytestmark = pytest.mark.data
LAYER = "parks_montpellier"


def build(root, shared_data, store: str, child_from: str, dsn: str | None) -> dict:
    """Build the parks layer into ``root`` on ``store``; its report."""
    specs = root / "collections" / "environment"
    specs.mkdir(parents=True)
    shutil.copy(REPO / "collections/environment" / f"{LAYER}.yml", specs)
    extra = {"GEOPUBLISH_COLLECTIONS_DIR": str(root / "collections"), "GEOPUBLISH_STORE": store,
             "GEOPUBLISH_DOWNLOADS_CHILD_FROM": child_from}  # fmt: skip
    if dsn:
        extra.update(
            GEOPUBLISH_POSTGIS_DSN=dsn, GEOPUBLISH_POSTGIS_SCHEMA=f"gp_{root.name}_{os.getpid()}"
        )
        drop_schema(dsn, extra["GEOPUBLISH_POSTGIS_SCHEMA"])
    result = run_cli(cli_env(root / "var", shared_data, **extra), "build", LAYER)
    if dsn:
        drop_schema(dsn, extra["GEOPUBLISH_POSTGIS_SCHEMA"])
    assert result.returncode == 0, result.stderr
    return json.loads((root / "var/reports" / LAYER / "latest.json").read_text())


@pytest.mark.parametrize("store", ["gpkg", "postgis"])
def test_child_writes_the_same_downloads_as_the_build_process(
    store, shared_data, tmp_path, request
):
    dsn = request.getfixturevalue("postgis_dsn") if store == "postgis" else None
    here = build(tmp_path / "here", shared_data, store, "1000000", dsn)
    child = build(tmp_path / "child", shared_data, store, "0", dsn)
    assert here["downloads_process"]["child"] is False
    assert child["downloads_process"]["child"] is True
    # A child is a process of its own: its high-water mark is not the build's.
    assert 0 < child["downloads_process"]["peak_rss_mb"] < child["peak_rss_mb"]
    assert set(child["downloads_process"]["steps"]) == set(child["downloads"])
    for fmt in ("geojson", "csv", "fgb", "parquet"):  # the GeoPackage carries its write time
        assert child["downloads"][fmt] == here["downloads"][fmt], fmt
    files = sorted(p.name for p in (tmp_path / "child/var/downloads" / LAYER).iterdir())
    assert files == [child["build_id"]]  # renamed into place, no temporary left
