"""Zips: bombs refused in bounded memory, members listed, every error names the member."""

from __future__ import annotations

import json
import zipfile

import pytest
import yaml
from gpsupport import cli_env, run_limited

GB = 1024**3
POINT = {
    "type": "FeatureCollection",
    "features": [
        {
            "type": "Feature",
            "properties": {"code": "a"},
            "geometry": {"type": "Point", "coordinates": [3.87, 43.61]},
        }
    ],
}
GTFS = {
    "agency.txt": "agency_name,agency_url,agency_timezone\nA,http://a,Europe/Paris\n",
    "routes.txt": "route_id,route_type\nr,3\n",
    "trips.txt": "route_id,service_id,trip_id\nr,s,t\n",
    "stop_times.txt": "trip_id,stop_id,stop_sequence\nt,s1,1\n",
    "calendar_dates.txt": "service_id,date,exception_type\ns,20260101,1\n",
}


def spec(source: dict) -> dict:
    return {
        "title": "t",
        "description": "t",
        "licence": {"name": "Licence Ouverte 2.0"},
        "attribution": "test",
        "source": source,
        "geometry": {"type": "Point", "promote_to_multi": False},
    }


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> dict:
    base = tmp_path_factory.mktemp("zips")
    data = base / "data"
    data.mkdir()
    # A feed whose stops.txt expands to 1.1 GB from about 1 MB.
    with zipfile.ZipFile(data / "bomb.zip", "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        for name, text in GTFS.items():
            zf.writestr(name, text)
        with zf.open("stops.txt", "w", force_zip64=True) as out:
            out.write(b"stop_id,stop_name,stop_lat,stop_lon\n")
            block = b"s1,Gare Saint-Roch," + b" " * (1024 * 1024 - 40) + b",43.6,3.88\n"
            for _ in range(1100):
                out.write(block)
    assert (data / "bomb.zip").stat().st_size < 5 * 1024 * 1024
    with zipfile.ZipFile(data / "nothing.zip", "w") as zf:
        zf.writestr("LISEZMOI.txt", "rien")
        zf.writestr("doc/notice.pdf", "%PDF")
    with zipfile.ZipFile(data / "two.zip", "w") as zf:
        zf.writestr("export/a.geojson", json.dumps(POINT))
        zf.writestr("export/b.geojson", json.dumps(POINT))
    specs = base / "collections/test"
    specs.mkdir(parents=True)
    for cid, source in LAYERS.items():
        (specs / f"{cid}.yml").write_text(yaml.safe_dump(spec(source)))
    env = cli_env(base / "var", data, GEOPUBLISH_COLLECTIONS_DIR=str(base / "collections"))
    # Every case in one build, its address space capped at 1 GB.
    result = run_limited(env, "build", limit=GB)
    assert result.returncode == 1
    assert "Traceback" not in result.stdout + result.stderr
    assert "MemoryError" not in result.stderr
    return {"base": base, "data": data, "result": result}


LAYERS = {
    "bomb_gtfs": {"kind": "gtfs", "parts": [{"path": "bomb.zip"}], "gtfs": {"layer": "stops"}},
    "bomb_csv": {
        "parts": [{"path": "bomb.zip!stops.txt"}],
        "csv": {"x": "stop_lon", "y": "stop_lat"},
        "crs": "EPSG:4326",
    },
    "nothing": {"parts": [{"path": "nothing.zip"}]},
    "two": {"parts": [{"path": "two.zip"}]},
    "missing": {"parts": [{"path": "two.zip!export/c.geojson"}]},
    "member": {"parts": [{"path": "two.zip!export/b.geojson"}]},
}


def build_one(root: dict, cid: str, source: dict) -> list[str]:
    """The error lines naming ``cid`` in the shared build."""
    return [
        line
        for line in root["result"].stderr.splitlines()
        if line.startswith(f"error: collection {cid!r}:")
    ]


def test_gtfs_bomb_is_one_line_under_1gb(root):
    gtfs = {"kind": "gtfs", "parts": [{"path": "bomb.zip"}], "gtfs": {"layer": "stops"}}
    (line,) = build_one(root, "bomb_gtfs", gtfs)
    assert line.startswith(
        f"error: collection 'bomb_gtfs': feed '{root['data'].resolve() / 'bomb.zip'}': "
        "stops.txt expands to 11"
    ), line
    assert "refused as a possible zip bomb" in line


def test_vector_member_bomb_is_one_line_under_1gb(root):
    source = {
        "parts": [{"path": "bomb.zip!stops.txt"}],
        "csv": {"x": "stop_lon", "y": "stop_lat"},
        "crs": "EPSG:4326",
    }
    (line,) = build_one(root, "bomb_csv", source)
    assert line.startswith("error: collection 'bomb_csv': member 'stops.txt' of ")
    assert "refused as a possible zip bomb" in line


def test_zip_without_dataset_lists_members_and_suggests_a_member(root):
    (line,) = build_one(root, "nothing", {"parts": [{"path": "nothing.zip"}]})
    origin = str(root["data"].resolve() / "nothing.zip")
    assert line == (
        f"error: collection 'nothing': {origin!r} holds no dataset GDAL can open "
        "(['LISEZMOI.txt', 'doc/notice.pdf']); name the file to read as 'nothing.zip!<member>'"
    )


def test_zip_with_several_datasets_lists_them(root):
    (line,) = build_one(root, "two", {"parts": [{"path": "two.zip"}]})
    assert "2 candidate(s) ['export/a.geojson', 'export/b.geojson']" in line, line
    assert "'two.zip!export/a.geojson'" in line


def test_missing_member_is_named_with_the_members_found(root):
    (line,) = build_one(root, "missing", {"parts": [{"path": "two.zip!export/c.geojson"}]})
    origin = str(root["data"].resolve() / "two.zip")
    assert line == (
        f"error: collection 'missing': member 'export/c.geojson' not found in {origin!r}; it "
        "holds ['export/a.geojson', 'export/b.geojson']"
    )


def test_a_named_member_builds(root):
    assert "member: published v1: 1 written" in root["result"].stdout
