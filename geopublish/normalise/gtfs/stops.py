"""The stops layer: one point per GTFS stop, with the routes and trips that serve it."""

from __future__ import annotations

import re

import geopandas as gpd
import pandas as pd

from geopublish.errors import GtfsError
from geopublish.normalise.gtfs.checks import NODE_TYPES, valid_lat_lon
from geopublish.normalise.gtfs.feed import Feed
from geopublish.normalise.gtfs.modes import parse_route_type, route_type_label

COLUMNS = [
    "id",
    "network",
    "stop_id",
    "stop_code",
    "stop_name",
    "location_type",
    "parent_station",
    "wheelchair_boarding",
    "route_ids",
    "route_short_names",
    "modes",
    "trips_per_day",
    "geometry",
]


def natural_key(text: str) -> list:
    """Sort key that orders ``"2" < "10" < "A"``."""
    return [(0, int(p), "") if p.isdigit() else (1, 0, p) for p in re.split(r"(\d+)", text) if p]


def _joined(values: pd.Series) -> str | None:
    return ",".join(sorted({v for v in values if v})) or None


def _joined_natural(values: pd.Series) -> str | None:
    return ",".join(sorted({v for v in values if v}, key=natural_key)) or None


def layer_report(
    feed: Feed, collection: str, layer: str, features: int, dropped: dict, notes: list
) -> dict:
    """Return the JSON-serialisable report of one derived layer."""
    return {
        "collection": collection,
        "feed": str(feed.path),
        "layer": layer,
        "features": features,
        "dropped": dropped,
        "notes": notes,
        "service_date": feed.service_date.isoformat() if feed.service_date else None,
    }


def _serving(
    feed: Feed, stops: pd.DataFrame, network: str, notes: list[str]
) -> pd.DataFrame | None:
    missing = [f"{n}.txt" for n in ("stop_times", "trips", "routes") if getattr(feed, n) is None]
    if missing:
        notes.append(
            f"{' and '.join(missing)} missing: the routes serving each stop, their modes and "
            "trips_per_day cannot be derived and are null."
        )
        return None
    assert feed.stop_times is not None and feed.trips is not None and feed.routes is not None
    routes = feed.routes.assign(route_type=feed.routes["route_type"].map(parse_route_type))
    routes = routes.dropna(subset=["route_type"])
    routes = routes.assign(
        mode=routes["route_type"].map(route_type_label),
        rid=network + ":" + routes["route_id"],
    )
    visits = feed.stop_times[["trip_id", "stop_id"]].drop_duplicates()
    parents = stops.set_index("stop_id")["parent_station"]
    parents = parents[parents.isin(stops["stop_id"])]
    up = visits.assign(stop_id=visits["stop_id"].map(parents)).dropna(subset=["stop_id"])
    visits = pd.concat([visits, up]).drop_duplicates()
    visits = visits.merge(feed.trips[["trip_id", "route_id"]], on="trip_id")
    visits = visits.merge(routes[["route_id", "rid", "route_short_name", "mode"]], on="route_id")
    grouped = visits.groupby("stop_id")
    served = pd.DataFrame(
        {
            "route_ids": grouped["rid"].agg(_joined),
            "route_short_names": grouped["route_short_name"].agg(_joined_natural),
            "modes": grouped["mode"].agg(_joined),
        }
    )
    if feed.active_trips is not None:
        active = visits[visits["trip_id"].isin(feed.active_trips)]
        served["trips_per_day"] = active.groupby("stop_id")["trip_id"].nunique()
    unserved = int((~stops["stop_id"].isin(served.index)).sum())
    if unserved:
        notes.append(f"{unserved} stops are served by no trip of a known route; route_ids is null.")
    return served


def derive_stops(feed: Feed, *, collection: str, network: str) -> tuple[gpd.GeoDataFrame, dict]:
    """Derive the stops point layer of a validated feed.

    Parameters
    ----------
    feed
        A feed from :func:`read_feed`.
    collection
        Collection id, named in messages.
    network
        Namespace of ids: ``id`` is ``"<network>:<stop_id>"``.

    Returns
    -------
    tuple of (GeoDataFrame, dict)
        Columns ``id, network, stop_id, stop_code, stop_name, location_type,
        parent_station, wheelchair_boarding, route_ids, route_short_names, modes,
        trips_per_day, geometry`` (Point, EPSG:4326), and the layer report.

    Raises
    ------
    GtfsError
        stops.txt is missing or no stop has usable coordinates.
    """
    where = feed.where(collection)
    if feed.stops is None:
        raise GtfsError(
            f"{where}: stops.txt is missing; a stops layer needs stops.txt with columns "
            "stop_id, stop_lat, stop_lon"
        )
    dropped: dict[str, int] = {}
    notes: list[str] = []
    stops = feed.stops
    no_xy = stops["location_type"].isin(NODE_TYPES) & ~valid_lat_lon(
        stops["stop_lat"], stops["stop_lon"]
    )
    if no_xy.any():
        dropped["stops.txt: location_type 3/4 (node or boarding area) without coordinates"] = int(
            no_xy.sum()
        )
        stops = stops.loc[~no_xy]
    if stops.empty:
        reasons = {k: v for k, v in feed.report.get("dropped", {}).items() if k.startswith("stops")}
        reasons.update(dropped)
        listed = "; ".join(f"{k.split(': ', 1)[1]}: {v}" for k, v in reasons.items()) or "none"
        rows = feed.report.get("files", {}).get("stops.txt", 0)
        raise GtfsError(
            f"{where}: stops.txt has no usable stop ({rows} rows, all dropped: {listed})"
        )
    known_parent = stops["parent_station"].isin(stops["stop_id"])
    orphans = int(((stops["parent_station"] != "") & ~known_parent).sum())
    if orphans:
        notes.append(
            f"{orphans} stops name a parent_station that is not in stops.txt; it is set to null."
        )
    wheelchair = pd.to_numeric(stops["wheelchair_boarding"], errors="coerce").astype("Int64")
    layer = pd.DataFrame(
        {
            "id": network + ":" + stops["stop_id"],
            "network": network,
            "stop_id": stops["stop_id"],
            "stop_code": stops["stop_code"].replace("", None),
            "stop_name": stops["stop_name"].replace("", None),
            "location_type": stops["location_type"].astype(int),
            "parent_station": (network + ":" + stops["parent_station"]).where(known_parent, None),
            "wheelchair_boarding": wheelchair.where(wheelchair.isin([0, 1, 2])),
        }
    )
    served = _serving(feed, stops, network, notes)
    for column in ("route_ids", "route_short_names", "modes"):
        values = None if served is None else stops["stop_id"].map(served[column])
        layer[column] = pd.Series(values, index=layer.index, dtype=object)
    if served is None or feed.active_trips is None:
        layer["trips_per_day"] = pd.Series(pd.NA, index=layer.index, dtype="Int64")
        if feed.service_note and served is not None:
            notes.append(feed.service_note)
    else:
        per_day = stops["stop_id"].map(served["trips_per_day"]).fillna(0)
        layer["trips_per_day"] = per_day.astype("Int64")
    points = gpd.points_from_xy(
        stops["stop_lon"].astype(float), stops["stop_lat"].astype(float), crs="EPSG:4326"
    )
    gdf = gpd.GeoDataFrame(layer, geometry=points, crs="EPSG:4326")[COLUMNS]
    return gdf.reset_index(drop=True), layer_report(
        feed, collection, "stops", len(gdf), dropped, notes
    )
