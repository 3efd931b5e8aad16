"""Building a derived layer does not republish an upstream whose inputs did not change."""

from __future__ import annotations

import json

import yaml
from gpsupport import cli_env, run_cli


def squares() -> str:
    features = [
        {
            "type": "Feature",
            "properties": {"code": f"c{i}"},
            "geometry": {
                "type": "Polygon",
                "coordinates": [
                    [
                        [3.5 + i / 50, 43.5],
                        [3.52 + i / 50, 43.5],
                        [3.52 + i / 50, 43.52],
                        [3.5 + i / 50, 43.52],
                        [3.5 + i / 50, 43.5],
                    ]
                ],
            },
        }
        for i in range(5)
    ]
    return json.dumps({"type": "FeatureCollection", "features": features})


BASE = {
    "title": "t",
    "description": "t",
    "licence": {"name": "Licence Ouverte 2.0"},
    "attribution": "test",
}


def test_derived_build_keeps_unchanged_upstream_version(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "cells.geojson").write_text(squares())
    specs = tmp_path / "collections/test"
    specs.mkdir(parents=True)
    upstream = {
        **BASE,
        "source": {"parts": [{"path": "cells.geojson"}]},
        "feature_id": {"fields": ["code"]},
        "geometry": {"type": "Polygon"},
    }
    derived = {
        **BASE,
        "source": {
            "kind": "derived",
            "derived": {"operation": "simplify", "from_collection": "cells", "tolerance": 10},
        },
        "feature_id": {"fields": ["code"]},
        "geometry": {"type": "Polygon"},
    }
    (specs / "cells.yml").write_text(yaml.safe_dump(upstream))
    (specs / "cells_simple.yml").write_text(yaml.safe_dump(derived))
    env = cli_env(tmp_path / "var", data, GEOPUBLISH_COLLECTIONS_DIR=str(tmp_path / "collections"))
    first = run_cli(env, "build")
    assert first.returncode == 0, first.stderr
    assert "cells: published v1" in first.stdout

    again = run_cli(env, "build", "cells_simple")
    assert again.returncode == 0, again.stderr
    assert "cells: published" not in again.stdout
    assert "cells_simple: published v2" in again.stdout
    versions = sorted(p.name for p in (tmp_path / "var/store/cells").glob("v*.gpkg"))
    assert versions == ["v000001.gpkg"]

    (data / "cells.geojson").write_text(squares().replace('"c4"', '"c9"'))
    changed = run_cli(env, "build", "cells_simple")
    assert changed.returncode == 0, changed.stderr
    assert "cells: published v2" in changed.stdout  # a changed upstream is still rebuilt
