"""Builds and refreshes killed with SIGKILL at exact points leave nothing wrong, on both stores.

Each scenario toggles the layer between two versions of its data (A: 300 points, B: the first
250), kills ``build`` or ``refresh`` at one named point (``GEOPUBLISH_KILL_AT``, no timing),
then runs a normal ``refresh``. Afterwards the served features are exactly the new version's,
the history and the change feed agree with what is served (one change set per served version,
with the right ids), no temporary file or staging table is left, and the live server answers
``/reports/<id>/history``. A new layer whose config write is killed before the server's reload
is served after the next ``refresh``, without a restart.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import psycopg
import pytest
import requests
from gpsupport import REPO, Server, cli_env, run_cli
from pgsupport import drop_schema, postgis_dsn  # noqa: F401

from geopublish.faults import POINTS

CID = "points"
SPEC = """schema_version: 1
title: Points de test
description: Couche de test des arrêts brutaux.
licence: {{name: Licence Ouverte}}
attribution: tests
source:
  parts: [{{path: points.geojson}}]
  where: "n <= {last}"
conform:
  fields:
    - {{name: code, type: string}}
    - {{name: n, type: integer}}
feature_id: {{fields: [code]}}
geometry: {{type: Point}}
checks: {{max_drop_ratio: 0.5}}
"""
IDS = {"A": {f"P{i:03d}" for i in range(1, 301)}, "B": {f"P{i:03d}" for i in range(1, 251)}}


def write_points(folder: Path) -> None:
    features = [
        {
            "type": "Feature",
            "properties": {"code": f"P{i:03d}", "n": i},
            "geometry": {"type": "Point", "coordinates": [3.8 + i * 0.0003, 43.6 + i * 0.0001]},
        }
        for i in range(1, 301)
    ]
    (folder / "points.geojson").write_text(
        json.dumps({"type": "FeatureCollection", "features": features})
    )


class Deployment:
    """A private catalogue, data folder, var/ and server for one store."""

    def __init__(self, root: Path, store: str, dsn: str | None) -> None:
        self.root = root
        self.collections = root / "collections"
        (self.collections / "test").mkdir(parents=True)
        data = root / "data"
        data.mkdir()
        write_points(data)
        self.var = root / "var"
        extra = {
            "GEOPUBLISH_COLLECTIONS_DIR": str(self.collections),
            "GEOPUBLISH_BATCH_SIZE": "100",
            "GEOPUBLISH_THREADS": "2",
        }
        self.schema = None
        if store == "postgis":
            self.schema = f"gp_crash_{os.getpid()}"
            extra.update(
                GEOPUBLISH_STORE="postgis",
                GEOPUBLISH_POSTGIS_DSN=dsn or "",
                GEOPUBLISH_POSTGIS_SCHEMA=self.schema,
            )
        self.dsn = dsn
        self.env = cli_env(self.var, data, **extra)
        self.kind = store
        self.served = "A"
        self.set_spec(CID, "A")
        result = run_cli(self.env, "build")
        assert result.returncode == 0, result.stderr
        self.server = Server(self.env)

    def set_spec(self, cid: str, version: str) -> None:
        last = 300 if version == "A" else 250
        (self.collections / "test" / f"{cid}.yml").write_text(SPEC.format(last=last))

    def run(self, *args: str, kill: str | None = None):
        env = dict(self.env)
        if kill:
            env["GEOPUBLISH_KILL_AT"] = kill
        return run_cli(env, *args)

    def history(self, cid: str = CID) -> list[dict]:
        lines = (self.var / "history" / cid / "runs.jsonl").read_text().splitlines()
        return [json.loads(line) for line in lines]

    def change_sets(self, cid: str = CID) -> list[dict]:
        folder = self.var / "history" / cid / "changes"
        return [json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))]

    def leftovers(self) -> list[str]:
        found = [
            str(p.relative_to(self.var))
            for p in self.var.rglob("*")
            if (p.name.startswith(".") or p.name.endswith(".tmp")) and "cache" not in p.parts
        ]
        found += [
            str(p.relative_to(self.root))
            for p in self.root.iterdir()
            if p.name.startswith(".") or p.name.endswith(".tmp")
        ]
        if self.schema:
            with psycopg.connect(self.dsn, autocommit=True) as con:
                rows = con.execute(
                    "SELECT tablename FROM pg_tables WHERE schemaname = %s AND tablename LIKE %s",
                    (self.schema, "%stage%"),
                ).fetchall()
            found += [r[0] for r in rows]
        return found

    def versions(self, cid: str = CID) -> list[int]:
        if self.schema is None:
            folder = self.var / "store" / cid
            return sorted(int(p.stem[1:]) for p in folder.glob("v*.gpkg"))
        with psycopg.connect(self.dsn, autocommit=True) as con:
            rows = con.execute(
                f'SELECT version FROM "{self.schema}".geopublish_meta WHERE collection = %s',
                (cid,),
            ).fetchall()
        return sorted(r[0] for r in rows)

    def served_ids(self, cid: str = CID) -> set[str]:
        url = f"{self.server.url}/collections/{cid}/items?f=json&limit=1000"
        body = requests.get(url, timeout=30).json()
        return {f["id"] for f in body["features"]}

    def close(self) -> None:
        self.server.stop()
        if self.schema:
            drop_schema(self.dsn, self.schema)


@pytest.fixture(scope="module", params=["gpkg", "postgis"])
def deployment(request, tmp_path_factory):
    dsn = request.getfixturevalue("postgis_dsn") if request.param == "postgis" else None
    found = Deployment(tmp_path_factory.mktemp(f"crash-{request.param}"), request.param, dsn)
    yield found
    found.close()


KILLS = [
    (command, f"{point}:2" if point == "write" else point)
    for command in ("build", "refresh")
    for point in POINTS
]


@pytest.mark.parametrize(("command", "point"), KILLS, ids=[f"{c}-{p}" for c, p in KILLS])
def test_a_killed_run_is_finished_or_undone_by_the_next_refresh(deployment, command, point):
    d = deployment
    before, after = d.served, "B" if d.served == "A" else "A"
    d.set_spec(CID, after)
    killed = d.run(command, kill=point)
    assert killed.returncode == -9, (killed.returncode, killed.stderr[-2000:])
    assert d.served_ids() in (IDS[before], IDS[after])  # never anything else, even now
    result = d.run("refresh")
    assert result.returncode == 0, result.stderr
    d.served = after

    assert d.served_ids() == IDS[after]
    runs = d.history()
    published = [r for r in runs if r["outcome"] == "published"]
    changes = d.change_sets()
    # exactly one change set per publication, the newest for the served version
    assert [(c["version"], c["build_id"]) for c in changes] == [
        (r["version"], c["build_id"]) for r, c in zip(published, changes, strict=True)
    ]
    latest = changes[-1]
    assert published[-1]["version"] == latest["version"] == max(d.versions())
    expected_added = sorted(IDS[after] - IDS[before])
    expected_removed = sorted(IDS[before] - IDS[after])
    assert (latest["added"], latest["removed"], latest["modified"]) == (
        expected_added,
        expected_removed,
        [],
    )
    # no orphan version: every kept version was served and has its change set
    assert set(d.versions()) <= {c["version"] for c in changes}
    assert d.leftovers() == []
    reports = requests.get(f"{d.server.url}/reports/{CID}/history", timeout=30)
    assert reports.status_code == 200
    assert reports.json()[0]["build_id"] == latest["build_id"]
    feed = requests.get(f"{d.server.url}/collections/{CID}/changes?since=0&limit=100", timeout=30)
    assert [c["seq"] for c in feed.json()["changes"]] == [c["seq"] for c in changes]


def test_a_new_layer_killed_after_its_config_write_is_served_after_the_next_refresh(deployment):
    d = deployment
    cid = f"points_new_{d.kind}"
    d.set_spec(cid, "A")
    killed = d.run("refresh", kill="config")
    assert killed.returncode == -9, killed.stderr[-2000:]
    url = f"{d.server.url}/collections/{cid}"
    assert requests.get(url, timeout=30).status_code == 404  # written but never reloaded
    result = d.run("refresh")
    assert result.returncode == 0, result.stderr
    for _ in range(100):  # gunicorn starts new workers with the new config
        if requests.get(url, timeout=30).status_code == 200:
            break
        import time

        time.sleep(0.2)
    assert requests.get(url, timeout=30).status_code == 200
    assert d.served_ids(cid) == IDS["A"]
    assert d.leftovers() == []


def test_the_kill_points_cover_every_step_the_issue_names():
    assert set(POINTS) == {
        "read",
        "write",
        "index",
        "rename",
        "swap",
        "changes",
        "report",
        "config",
    }
    assert (REPO / "geopublish" / "faults.py").is_file()
