"""Row checks of a GTFS feed: keys, coordinates and references; unusable rows are counted."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

if TYPE_CHECKING:
    from geopublish.normalise.gtfs.feed import Feed

POINT_TYPES = ("0", "1", "2")
NODE_TYPES = ("3", "4")


def valid_lat_lon(lat: pd.Series, lon: pd.Series) -> pd.Series:
    """Return a mask of numeric coordinates within WGS84 range that are not (0, 0)."""
    y = pd.to_numeric(lat, errors="coerce")
    x = pd.to_numeric(lon, errors="coerce")
    ok = y.between(-90, 90) & x.between(-180, 180) & ~((y == 0) & (x == 0))
    return ok.fillna(False).astype(bool)


def gtfs_seconds(times: pd.Series) -> pd.Series:
    """Parse GTFS ``H:MM:SS`` times to seconds of the service day; ``"27:17:00"`` -> 98220.

    Empty or malformed values become <NA>; hours past 24 are normal in GTFS.
    """
    parts = times.astype("str").str.extract(r"^(\d+):([0-5]\d):([0-5]\d)$")
    hms = parts.apply(pd.to_numeric, errors="coerce").astype("Int64")
    return hms[0] * 3600 + hms[1] * 60 + hms[2]


def _drop(table: pd.DataFrame, bad: pd.Series, key: str, dropped: dict) -> pd.DataFrame:
    count = int(bad.sum())
    if count:
        dropped[key] = dropped.get(key, 0) + count
        table = table.loc[~bad]
    return table


def _keys(table: pd.DataFrame, name: str, column: str, dropped: dict) -> pd.DataFrame:
    table = _drop(table, table[column] == "", f"{name}.txt: empty {column}", dropped)
    dup = table[column].duplicated()
    return _drop(table, dup, f"{name}.txt: duplicate {column}", dropped)


def check_feed(feed: Feed, dropped: dict, notes: list[str]) -> None:
    """Drop unusable rows from ``feed``'s tables in place, counting them in ``dropped``."""
    stop_ids: set[str] = set()
    if feed.stops is not None:
        stops = _keys(feed.stops, "stops", "stop_id", dropped)
        stop_ids = set(stops["stop_id"])
        stops = stops.assign(location_type=stops["location_type"].replace("", "0"))
        bad_type = ~stops["location_type"].isin(POINT_TYPES + NODE_TYPES)
        stops = _drop(stops, bad_type, "stops.txt: invalid location_type", dropped)
        bad_xy = stops["location_type"].isin(POINT_TYPES) & ~valid_lat_lon(
            stops["stop_lat"], stops["stop_lon"]
        )
        feed.stops = _drop(
            stops, bad_xy, "stops.txt: missing or invalid stop_lat/stop_lon", dropped
        )
    if feed.routes is not None:
        feed.routes = _keys(feed.routes, "routes", "route_id", dropped)
    if feed.shapes is not None:
        shapes = _drop(
            feed.shapes, feed.shapes["shape_id"] == "", "shapes.txt: empty shape_id", dropped
        )
        bad = (
            ~valid_lat_lon(shapes["shape_pt_lat"], shapes["shape_pt_lon"])
            | pd.to_numeric(shapes["shape_pt_sequence"], errors="coerce").isna()
        )
        feed.shapes = _drop(shapes, bad, "shapes.txt: invalid point or shape_pt_sequence", dropped)
    trip_ids: set[str] = set()
    if feed.trips is not None:
        trips = _keys(feed.trips, "trips", "trip_id", dropped)
        trip_ids = set(trips["trip_id"])
        if feed.routes is not None:
            unknown = ~trips["route_id"].isin(feed.routes["route_id"])
            trips = _drop(trips, unknown, "trips.txt: unknown route_id", dropped)
        shape_ids = set() if feed.shapes is None else set(feed.shapes["shape_id"])
        no_shape = (trips["shape_id"] != "") & ~trips["shape_id"].isin(shape_ids)
        if no_shape.any():
            key = "trips.txt: unknown shape_id (trip kept without shape)"
            dropped[key] = int(no_shape.sum())
            trips = trips.assign(shape_id=trips["shape_id"].where(~no_shape, ""))
        feed.trips = trips
    if feed.stop_times is not None:
        _check_stop_times(feed, stop_ids, trip_ids, dropped, notes)


def _check_stop_times(
    feed: Feed, stop_ids: set[str], trip_ids: set[str], dropped: dict, notes: list[str]
) -> None:
    st = feed.stop_times
    assert st is not None
    if feed.trips is not None:
        st = _drop(st, ~st["trip_id"].isin(trip_ids), "stop_times.txt: unknown trip_id", dropped)
        gone = ~st["trip_id"].isin(feed.trips["trip_id"])
        st = _drop(st, gone, "stop_times.txt: trip dropped from trips.txt", dropped)
    if feed.stops is not None:
        st = _drop(st, ~st["stop_id"].isin(stop_ids), "stop_times.txt: unknown stop_id", dropped)
    bad_seq = pd.to_numeric(st["stop_sequence"], errors="coerce").isna()
    feed.stop_times = _drop(st, bad_seq, "stop_times.txt: non-numeric stop_sequence", dropped)
    for column in ("arrival_time", "departure_time"):
        values = feed.stop_times[column]
        seconds = gtfs_seconds(values)
        malformed = int((seconds.isna() & (values != "")).sum())
        if malformed:
            notes.append(f"stop_times.txt: {malformed} {column} values are not H:MM:SS times.")
    latest = gtfs_seconds(feed.stop_times["departure_time"]).max()
    if pd.notna(latest) and latest >= 86400:
        notes.append(
            f"stop_times.txt: service runs past midnight (latest departure {int(latest)} s "
            f"= {int(latest) // 3600}:{int(latest) % 3600 // 60:02d} on the service day)."
        )
