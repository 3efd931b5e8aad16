"""Stops and routes layers of real GTFS feeds, checked against the raw .txt files."""

from __future__ import annotations

import csv
import datetime as dt
import io
import zipfile
from collections import Counter, defaultdict
from pathlib import Path

import pytest
import shapely

from geopublish.errors import GtfsError
from geopublish.normalise.gtfs import derive_routes, derive_stops, read_feed

SUBSET = "gtfs_tisseo_toulouse_subset"
NETWORK = "gtfs_tisseo_network_partial"
CAIRNS = "gtfs_cairns_translink/cairns_gtfs.zip"


def raw_rows(feed: Path, name: str) -> list[dict]:
    if feed.suffix == ".zip":
        with zipfile.ZipFile(feed) as archive:
            if name not in archive.namelist():
                return []
            text = archive.read(name).decode("utf-8-sig")
    elif (feed / name).is_file():
        text = (feed / name).read_text(encoding="utf-8-sig")
    else:
        return []
    return list(csv.DictReader(io.StringIO(text)))


def good_xy(lat: str, lon: str) -> bool:
    try:
        y, x = float(lat), float(lon)
    except ValueError:
        return False
    return -90 <= y <= 90 and -180 <= x <= 180 and (x, y) != (0, 0)


def feed_bbox(feed: Path) -> shapely.Polygon:
    xs, ys = [], []
    for row in raw_rows(feed, "stops.txt"):
        if good_xy(row["stop_lat"], row["stop_lon"]):
            xs.append(float(row["stop_lon"]))
            ys.append(float(row["stop_lat"]))
    for row in raw_rows(feed, "shapes.txt"):
        xs.append(float(row["shape_pt_lon"]))
        ys.append(float(row["shape_pt_lat"]))
    return shapely.box(min(xs), min(ys), max(xs), max(ys))


def active_trips_midweek(feed: Path) -> tuple[dt.date, set[str]]:
    """Busiest Tue-Thu of the service period (earliest on ties) and its trips."""
    day = lambda s: dt.datetime.strptime(s, "%Y%m%d").date()  # noqa: E731
    calendar = raw_rows(feed, "calendar.txt")
    dates = raw_rows(feed, "calendar_dates.txt")
    bounds = [day(r[k]) for r in calendar for k in ("start_date", "end_date")]
    bounds += [day(r["date"]) for r in dates]
    names = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
    trips = raw_rows(feed, "trips.txt")
    best: tuple[int, dt.date, set[str]] = (-1, dt.date.min, set())
    current = min(bounds)
    while current <= max(bounds):
        if current.weekday() in (1, 2, 3):
            on = {
                r["service_id"]
                for r in calendar
                if r[names[current.weekday()]] == "1"
                and day(r["start_date"]) <= current <= day(r["end_date"])
            }
            for r in dates:
                if day(r["date"]) == current:
                    (on.add if r["exception_type"] == "1" else on.discard)(r["service_id"])
            running = {t["trip_id"] for t in trips if t["service_id"] in on}
            if len(running) > best[0]:
                best = (len(running), current, running)
        current += dt.timedelta(days=1)
    return best[1], best[2]


@pytest.mark.parametrize("name", [SUBSET, NETWORK, CAIRNS])
def test_every_stop_with_coordinates_is_published_once(shared_data: Path, name: str) -> None:
    path = shared_data / name
    feed, _ = read_feed(path, collection="stops", network="net")
    stops, _ = derive_stops(feed, collection="stops", network="net")
    raw = {
        r["stop_id"]: r
        for r in raw_rows(path, "stops.txt")
        if good_xy(r["stop_lat"], r["stop_lon"])
    }
    assert stops.crs.to_epsg() == 4326
    assert stops["id"].is_unique
    assert sorted(stops["id"]) == sorted(f"net:{s}" for s in raw)
    for row in stops.itertuples():
        assert row.geometry.x == float(raw[row.stop_id]["stop_lon"])
        assert row.geometry.y == float(raw[row.stop_id]["stop_lat"])
        assert row.network == "net"


@pytest.mark.parametrize("name", [SUBSET, CAIRNS])
def test_every_route_with_a_shape_is_published_inside_the_feed_extent(
    shared_data: Path, name: str
) -> None:
    path = shared_data / name
    feed, _ = read_feed(path, collection="routes", network="net")
    routes, report = derive_routes(feed, collection="routes", network="net")
    shapes = {r["shape_id"] for r in raw_rows(path, "shapes.txt")}
    expected = {t["route_id"] for t in raw_rows(path, "trips.txt") if t["shape_id"] in shapes}
    assert sorted(routes["route_id"]) == sorted(expected)
    assert routes["id"].is_unique
    assert (routes.geom_type == "MultiLineString").all()
    assert routes.is_valid.all()
    assert routes.within(feed_bbox(path).buffer(1e-9)).all()
    raw = {r["route_id"]: r for r in raw_rows(path, "routes.txt")}
    for row in routes.itertuples():
        assert row.route_color == "#" + (raw[row.route_id]["route_color"] or "FFFFFF").upper()
        assert row.route_type == int(raw[row.route_id]["route_type"])
    assert report["features"] == len(expected)


def test_network_feed_gives_stops_but_explains_missing_routes_and_service(
    shared_data: Path,
) -> None:
    feed, _ = read_feed(shared_data / NETWORK, collection="tisseo", network="tisseo")
    stops, report = derive_stops(feed, collection="tisseo", network="tisseo")
    assert stops["route_ids"].isna().all() and stops["trips_per_day"].isna().all()
    assert any("stop_times.txt missing" in n and "trips_per_day" in n for n in report["notes"])
    raw = raw_rows(shared_data / NETWORK, "stops.txt")
    children = {r["stop_id"]: r["parent_station"] for r in raw if r["parent_station"]}
    published = stops.set_index("stop_id")["parent_station"]
    assert all(published[c] == f"tisseo:{p}" for c, p in children.items())
    assert (stops["location_type"] == 1).sum() == sum(r["location_type"] == "1" for r in raw)
    with pytest.raises(GtfsError) as info:
        derive_routes(feed, collection="tisseo", network="tisseo")
    message = str(info.value)
    assert "collection 'tisseo'" in message and "no route has a usable geometry" in message
    assert "shapes.txt is absent" in message and "stop_times.txt is absent" in message


def test_subset_without_calendar_has_null_trips_per_day_with_reason(shared_data: Path) -> None:
    feed, report = read_feed(shared_data / SUBSET, collection="c", network="t")
    routes, route_report = derive_routes(feed, collection="c", network="t")
    stops, stop_report = derive_stops(feed, collection="c", network="t")
    assert report["service_date"] is None
    assert routes["trips_per_day"].isna().all() and stops["trips_per_day"].isna().all()
    for notes in (route_report["notes"], stop_report["notes"]):
        assert any("calendar.txt is absent" in n and "trips_per_day is null" in n for n in notes)
    assert stops["route_ids"].notna().all()


def test_cairns_trips_per_day_counts_active_trips_on_a_midweek_date(shared_data: Path) -> None:
    path = shared_data / CAIRNS
    date, active = active_trips_midweek(path)
    feed, report = read_feed(path, collection="c", network="cns")
    assert report["service_date"] == date.isoformat()
    assert dt.date.fromisoformat(report["service_date"]).weekday() in (1, 2, 3)
    routes, _ = derive_routes(feed, collection="c", network="cns")
    per_route = Counter(
        t["route_id"] for t in raw_rows(path, "trips.txt") if t["trip_id"] in active
    )
    assert dict(zip(routes["route_id"], routes["trips_per_day"], strict=True)) == {
        r: per_route.get(r, 0) for r in routes["route_id"]
    }
    stops, _ = derive_stops(feed, collection="c", network="cns")
    per_stop: dict[str, set[str]] = defaultdict(set)
    for row in raw_rows(path, "stop_times.txt"):
        if row["trip_id"] in active:
            per_stop[row["stop_id"]].add(row["trip_id"])
    assert stops["trips_per_day"].notna().all()
    assert dict(zip(stops["stop_id"], stops["trips_per_day"], strict=True)) == {
        s: len(per_stop.get(s, ())) for s in stops["stop_id"]
    }


def test_parent_station_aggregates_routes_and_trips_of_its_children(
    shared_data: Path, tmp_path: Path
) -> None:
    path = shared_data / CAIRNS
    with zipfile.ZipFile(path) as archive:
        archive.extractall(tmp_path)
    rows = raw_rows(tmp_path, "stops.txt")
    child_ids = [rows[0]["stop_id"], rows[200]["stop_id"]]
    for row in rows:
        if row["stop_id"] in child_ids:
            row["parent_station"] = "STATION"
    rows.append({**rows[0], "stop_id": "STATION", "location_type": "1", "parent_station": ""})
    with (tmp_path / "stops.txt").open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    feed, _ = read_feed(tmp_path, collection="c", network="cns")
    stops, _ = derive_stops(feed, collection="c", network="cns")
    by_id = stops.set_index("stop_id")
    route_of = {t["trip_id"]: t["route_id"] for t in raw_rows(tmp_path, "trips.txt")}
    trips = {
        r["trip_id"] for r in raw_rows(tmp_path, "stop_times.txt") if r["stop_id"] in child_ids
    }
    expected_routes = ",".join(sorted({f"cns:{route_of[t]}" for t in trips}))
    _, active = active_trips_midweek(path)
    assert by_id.loc["STATION", "route_ids"] == expected_routes
    assert by_id.loc["STATION", "trips_per_day"] == len(trips & active)
    assert by_id.loc[child_ids[0], "parent_station"] == "cns:STATION"


def test_unknown_route_type_is_dropped_and_counted(shared_data: Path, tmp_path: Path) -> None:
    for source in (shared_data / SUBSET).glob("*.txt"):
        (tmp_path / source.name).write_bytes(source.read_bytes())
    rows = raw_rows(tmp_path, "routes.txt")
    rows[0]["route_type"] = "99"
    with (tmp_path / "routes.txt").open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    feed, _ = read_feed(tmp_path, collection="c", network="t")
    routes, report = derive_routes(feed, collection="c", network="t")
    assert report["dropped"] == {"routes.txt: unknown route_type": 1}
    assert rows[0]["route_id"] not in set(routes["route_id"])
    assert len(routes) == len(rows) - 1


def test_routes_without_shapes_are_drawn_from_stop_sequences(
    shared_data: Path, tmp_path: Path
) -> None:
    with zipfile.ZipFile(shared_data / CAIRNS) as archive:
        archive.extractall(tmp_path)
    (tmp_path / "shapes.txt").unlink()
    feed, _ = read_feed(tmp_path, collection="c", network="cns")
    routes, report = derive_routes(feed, collection="c", network="cns")
    served = {t["route_id"] for t in raw_rows(tmp_path, "trips.txt")}
    assert sorted(routes["route_id"]) == sorted(served)
    assert routes.is_valid.all()
    assert routes.within(feed_bbox(tmp_path).buffer(1e-9)).all()
    directions = Counter(
        t["route_id"]
        for t in {
            (r["route_id"], r["direction_id"]): r for r in raw_rows(tmp_path, "trips.txt")
        }.values()
    )
    assert dict(
        zip(routes["route_id"], routes.geometry.map(lambda g: len(g.geoms)), strict=True)
    ) == dict(directions)
    assert any("22 from the stop sequence" in n for n in report["notes"])
