"""Route lines from shapes.txt, or from the stop sequence of each route's usual trip pattern."""

from __future__ import annotations

import pandas as pd
import shapely

from geopublish.normalise.gtfs.feed import Feed


def lines_by_key(points: pd.DataFrame, key: str, order: str) -> pd.Series:
    """Return one LineString per ``key`` from ``x``/``y`` columns ordered by ``order``.

    Consecutive repeated points are removed; keys with fewer than two distinct points
    get no line.
    """
    points = points.sort_values([key, order], kind="stable")
    same = (
        (points[key] == points[key].shift())
        & (points["x"] == points["x"].shift())
        & (points["y"] == points["y"].shift())
    )
    points = points.loc[~same]
    points = points[points.groupby(key)[key].transform("size") >= 2]
    if points.empty:
        return pd.Series(dtype=object)
    codes, keys = pd.factorize(points[key], sort=False)
    xy = points[["x", "y"]].to_numpy(dtype=float)
    lines = shapely.linestrings(xy, indices=codes)
    return pd.Series(lines, index=keys)


def shape_lines(feed: Feed) -> pd.Series:
    """Return a LineString per shape_id of shapes.txt, ordered by shape_pt_sequence as number."""
    if feed.shapes is None or feed.shapes.empty:
        return pd.Series(dtype=object)
    shapes = feed.shapes
    points = pd.DataFrame(
        {
            "shape_id": shapes["shape_id"],
            "seq": pd.to_numeric(shapes["shape_pt_sequence"]),
            "x": shapes["shape_pt_lon"].astype(float),
            "y": shapes["shape_pt_lat"].astype(float),
        }
    )
    return lines_by_key(points, "shape_id", "seq")


def pattern_lines(feed: Feed, route_ids: set[str]) -> pd.Series:
    """Return, per route_id, the lines through the stops of its most common trip pattern.

    One line per direction_id; a pattern is a trip's sequence of stop_ids ordered by
    stop_sequence as number. Ties go to the pattern that sorts first. Stops without
    coordinates are skipped.
    """
    if feed.stop_times is None or feed.trips is None or feed.stops is None or not route_ids:
        return pd.Series(dtype=object)
    trips = feed.trips[feed.trips["route_id"].isin(route_ids)][
        ["trip_id", "route_id", "direction_id"]
    ]
    st = feed.stop_times[feed.stop_times["trip_id"].isin(trips["trip_id"])]
    st = st.assign(seq=pd.to_numeric(st["stop_sequence"])).sort_values(
        ["trip_id", "seq"], kind="stable"
    )
    patterns = st.groupby("trip_id")["stop_id"].agg(tuple).rename("pattern").reset_index()
    patterns = patterns.merge(trips, on="trip_id")
    counts = patterns.groupby(["route_id", "direction_id", "pattern"]).size().rename("n")
    counts = counts.reset_index().sort_values(
        ["route_id", "direction_id", "n", "pattern"], ascending=[True, True, False, True]
    )
    usual = counts.drop_duplicates(["route_id", "direction_id"])
    stops = feed.stops[feed.stops["stop_lat"] != ""].set_index("stop_id")
    points = usual.explode("pattern").rename(columns={"pattern": "stop_id"})
    points = points.assign(order=points.groupby(level=0).cumcount(), part=points.index.astype(str))
    points = points.join(stops[["stop_lat", "stop_lon"]], on="stop_id", how="inner")
    points = points.assign(x=points["stop_lon"].astype(float), y=points["stop_lat"].astype(float))
    lines = lines_by_key(points, "part", "order")
    owner = usual.assign(part=usual.index.astype(str)).set_index("part")["route_id"]
    frame = pd.DataFrame({"route_id": owner.reindex(lines.index), "line": lines})
    return frame.groupby("route_id")["line"].agg(list)


def multilines(parts: pd.Series) -> pd.Series:
    """Turn lists of LineStrings into MultiLineStrings."""
    return parts.map(lambda lines: shapely.multilinestrings(list(lines)))
