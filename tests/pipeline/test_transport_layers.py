"""GTFS feeds published as regional layers, checked against the raw .txt files."""

from __future__ import annotations

import csv
import io
import json
import shutil
import zipfile
from pathlib import Path

import pytest
import requests
import yaml
from gpsupport import REPO, Server, cli_env, run_cli
from shapely.geometry import box, shape

FEEDS = {
    "tisseo_centre": "gtfs_tisseo_toulouse_subset",
    "tisseo": "gtfs_tisseo_network_partial",
    "translink_cairns": "gtfs_cairns_translink/cairns_gtfs.zip",
}


def rows(data: Path, feed: str, name: str) -> list[dict]:
    path = data / feed
    if path.suffix == ".zip":
        with zipfile.ZipFile(path) as archive:
            if name not in archive.namelist():
                return []
            text = archive.read(name).decode("utf-8-sig")
    else:
        if not (path / name).is_file():
            return []
        text = (path / name).read_text(encoding="utf-8-sig")
    return list(csv.DictReader(io.StringIO(text)))


def usable_stops(data: Path, feed: str) -> dict[str, tuple[float, float]]:
    out = {}
    for row in rows(data, feed, "stops.txt"):
        try:
            lat, lon = float(row["stop_lat"]), float(row["stop_lon"])
        except (KeyError, ValueError):
            continue
        if -90 <= lat <= 90 and -180 <= lon <= 180 and (lat, lon) != (0, 0):
            out[row["stop_id"]] = (lon, lat)
    return out


def items(api: str, cid: str, **params: object) -> dict:
    return requests.get(
        f"{api}/collections/{cid}/items", params={"f": "json", "limit": 10000, **params}, timeout=60
    ).json()


def test_every_stop_with_valid_coordinates_is_published_once(shared_data, api):
    expected = {
        f"{net}:{sid}": xy
        for net, feed in FEEDS.items()
        for sid, xy in usable_stops(shared_data, feed).items()
    }
    body = items(api, "transport_stops")
    got = {f["id"]: f["geometry"]["coordinates"] for f in body["features"]}
    assert body["numberMatched"] == len(expected) == len(got) == 6026
    for fid, (lon, lat) in expected.items():
        assert got[fid] == pytest.approx([lon, lat], abs=1e-9)


def test_every_route_with_geometry_is_a_valid_line_inside_its_feed(shared_data, api):
    body = items(api, "transport_routes")
    by_id = {f["id"]: f for f in body["features"]}
    for net in ("tisseo_centre", "translink_cairns"):
        feed = FEEDS[net]
        points = list(usable_stops(shared_data, feed).values()) + [
            (float(r["shape_pt_lon"]), float(r["shape_pt_lat"]))
            for r in rows(shared_data, feed, "shapes.txt")
        ]
        xs, ys = zip(*points, strict=True)
        extent = box(min(xs), min(ys), max(xs), max(ys)).buffer(1e-9)
        for route in rows(shared_data, feed, "routes.txt"):
            feature = by_id[f"{net}:{route['route_id']}"]
            line = shape(feature["geometry"])
            assert line.geom_type == "MultiLineString" and line.is_valid and not line.is_empty
            assert extent.contains(line)
            assert feature["properties"]["route_color"].startswith("#")
    assert body["numberMatched"] == 16 + 22


def test_stops_bbox_around_cairns_and_feature_by_id(shared_data, api):
    cairns = usable_stops(shared_data, FEEDS["translink_cairns"])
    body = items(api, "transport_stops", bbox="145.0,-17.5,146.5,-16.0")
    assert {f["id"] for f in body["features"]} == {f"translink_cairns:{s}" for s in cairns}
    some = next(iter(cairns))
    one = requests.get(
        f"{api}/collections/transport_stops/items/translink_cairns:{some}",
        params={"f": "json"},
        timeout=30,
    )
    assert one.status_code == 200
    assert one.json()["properties"]["stop_id"] == some


def test_service_levels_follow_calendars(built):
    report = json.loads((built["var"] / "reports/transport_routes/latest.json").read_text())
    centre = report["gtfs"]["tisseo_centre"]
    assert centre["feed"]["service_date"] is None
    assert any("calendar" in note for note in centre["feed"]["notes"])
    assert report["gtfs"]["translink_cairns"]["feed"]["service_date"] == "2014-05-27"
    import pyogrio

    gdf = pyogrio.read_dataframe(
        built["var"] / "store/transport_routes/current.gpkg", layer="transport_routes"
    )
    cairns = gdf[gdf.network == "translink_cairns"]
    assert cairns.trips_per_day.notna().all() and cairns.trips_per_day.sum() > 0
    assert gdf[gdf.network == "tisseo_centre"].trips_per_day.isna().all()


def test_network_feed_without_stop_times_explains_what_is_missing(built):
    report = json.loads((built["var"] / "reports/transport_stops/latest.json").read_text())
    notes = " ".join(report["gtfs"]["tisseo"]["layer"]["notes"])
    assert "stop_times.txt" in notes and "null" in notes


@pytest.fixture(scope="module")
def transport(shared_data, tmp_path_factory):
    """A private catalogue with transport_stops from copies of the feeds, built and served."""
    root = tmp_path_factory.mktemp("gtfs")
    feeds = root / "feeds"
    shutil.copytree(shared_data / FEEDS["tisseo_centre"], feeds / "centre")
    shutil.copy(shared_data / FEEDS["translink_cairns"], feeds / "cairns.zip")
    spec = yaml.safe_load((REPO / "collections/transport/transport_stops.yml").read_text())
    spec["source"]["parts"] = [{"path": "centre"}, {"path": "cairns.zip"}]
    spec["source"]["gtfs"]["networks"] = {"centre": "centre", "cairns.zip": "cairns"}
    (root / "collections/transport").mkdir(parents=True)
    spec_path = root / "collections/transport/transport_stops.yml"
    spec_path.write_text(yaml.safe_dump(spec, allow_unicode=True))
    env = cli_env(root / "var", feeds, GEOPUBLISH_COLLECTIONS_DIR=str(root / "collections"))
    assert run_cli(env, "build").returncode == 0
    server = Server(env, workers=1)
    yield {"feeds": feeds, "env": env, "url": server.url, "var": root / "var"}
    server.stop()


def served_ids(transport: dict) -> list[str]:
    return sorted(f["id"] for f in items(transport["url"], "transport_stops")["features"])


def test_corrupt_zip_fails_naming_the_feed_and_keeps_the_served_layer(transport):
    before = served_ids(transport)
    zip_path = transport["feeds"] / "cairns.zip"
    good = zip_path.read_bytes()
    zip_path.write_bytes(good[: len(good) // 2])
    try:
        result = run_cli(transport["env"], "build", "transport_stops")
    finally:
        zip_path.write_bytes(good)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "transport_stops" in lines[0] and "cairns.zip" in lines[0]
    assert "not a readable zip" in lines[0]
    assert served_ids(transport) == before


def test_missing_stops_txt_fails_and_keeps_the_served_layer(transport):
    before = served_ids(transport)
    stops = transport["feeds"] / "centre/stops.txt"
    moved = stops.with_suffix(".bak")
    stops.rename(moved)
    try:
        result = run_cli(transport["env"], "build", "transport_stops")
    finally:
        moved.rename(stops)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "stops.txt" in lines[0] and "transport_stops" in lines[0]
    assert served_ids(transport) == before


def test_stop_time_at_unknown_stop_is_dropped_counted_and_published(transport):
    path = transport["feeds"] / "centre/stop_times.txt"
    original = path.read_text(encoding="utf-8")
    header, first, rest = original.split("\n", 2)
    columns = header.split(",")
    values = first.split(",")
    values[columns.index("stop_id")] = "stop_point:NOWHERE"
    path.write_text("\n".join([header, ",".join(values), rest]), encoding="utf-8")
    try:
        result = run_cli(transport["env"], "build", "transport_stops")
    finally:
        path.write_text(original, encoding="utf-8")
    assert result.returncode == 0, result.stderr
    report = json.loads((transport["var"] / "reports/transport_stops/latest.json").read_text())
    dropped = report["gtfs"]["centre"]["feed"]["dropped"]
    assert sum(n for key, n in dropped.items() if key.startswith("stop_times.txt")) == 1
    assert len(served_ids(transport)) == 41 + 416
