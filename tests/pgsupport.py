"""PostGIS for the tests: the local server, or a skip (a failure in CI) with the reason."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator

import pytest

DSN = os.environ.get(
    "GEOPUBLISH_TEST_POSTGIS_DSN", "host=127.0.0.1 port=5432 user=postgres dbname=test"
)


def _unavailable() -> str | None:
    try:
        import psycopg

        with psycopg.connect(DSN, connect_timeout=3, autocommit=True) as con:
            con.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    except Exception as exc:  # any failure means: no usable PostGIS here
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        return f"no PostGIS at {DSN!r} (set GEOPUBLISH_TEST_POSTGIS_DSN): {first}"
    return None


@pytest.fixture(scope="session")
def postgis_dsn() -> str:
    """The test database's DSN; skip (or fail with GEOPUBLISH_REQUIRE_POSTGIS=1) without one."""
    reason = _unavailable()
    if reason:
        if os.environ.get("GEOPUBLISH_REQUIRE_POSTGIS") == "1":
            pytest.fail(reason + " and GEOPUBLISH_REQUIRE_POSTGIS=1")
        pytest.skip(reason)
    return DSN


def drop_schema(dsn: str, schema: str) -> None:
    """Remove a test schema and everything in it."""
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as con:
        con.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture
def pg_schema(postgis_dsn: str) -> Iterator[str]:
    """A private schema for one test, dropped afterwards."""
    schema = f"gp_test_{secrets.token_hex(4)}"
    yield schema
    drop_schema(postgis_dsn, schema)
