"""The routes layer: one MultiLineString per GTFS route, with its mode, colours and service."""

from __future__ import annotations

import geopandas as gpd
import pandas as pd

from geopublish.errors import GtfsError
from geopublish.normalise.gtfs.feed import Feed
from geopublish.normalise.gtfs.lines import multilines, pattern_lines, shape_lines
from geopublish.normalise.gtfs.modes import parse_route_type, route_type_label
from geopublish.normalise.gtfs.stops import layer_report

COLUMNS = [
    "id",
    "network",
    "route_id",
    "route_short_name",
    "route_long_name",
    "route_type",
    "mode",
    "route_color",
    "route_text_color",
    "agency_name",
    "trips_per_day",
    "geometry",
]


def _colour(values: pd.Series, default: str, name: str, notes: list[str]) -> pd.Series:
    valid = values.str.fullmatch(r"[0-9A-Fa-f]{6}")
    bad = int(((values != "") & ~valid).sum())
    if bad:
        notes.append(f"routes.txt: {bad} {name} values are not RRGGBB; #{default} is used.")
    return "#" + values.where(valid, default).str.upper()


def _agency_names(feed: Feed, routes: pd.DataFrame) -> pd.Series:
    if feed.agency is None or feed.agency.empty:
        return pd.Series(None, index=routes.index, dtype=object)
    names = feed.agency.drop_duplicates("agency_id").set_index("agency_id")["agency_name"]
    named = routes["agency_id"].map(names)
    if len(feed.agency) == 1:
        named = named.fillna(feed.agency["agency_name"].iloc[0])
    return named.replace("", None)


def _geometries(feed: Feed, routes: pd.DataFrame, notes: list[str]) -> pd.Series:
    trips = feed.trips if feed.trips is not None else pd.DataFrame(columns=["route_id", "shape_id"])
    lines = shape_lines(feed)
    used = trips[["route_id", "shape_id"]].drop_duplicates().sort_values(["route_id", "shape_id"])
    used = used.assign(line=used["shape_id"].map(lines)).dropna(subset=["line"])
    parts = used.groupby("route_id")["line"].agg(list)
    rest = set(routes["route_id"]) - set(parts.index)
    from_stops = pattern_lines(feed, rest)
    if len(parts) or len(from_stops):
        notes.append(
            f"route geometry: {len(parts)} routes from shapes.txt, {len(from_stops)} from the "
            "stop sequence of their most common trip pattern per direction_id."
        )
    return multilines(pd.concat([parts, from_stops])).reindex(routes["route_id"])


def _why_no_geometry(feed: Feed) -> str:
    reasons = []
    if feed.shapes is None:
        reasons.append("shapes.txt is absent")
    else:
        reasons.append("no trip references a usable shape of shapes.txt")
    if feed.stop_times is None:
        reasons.append("stop_times.txt is absent, so no stop sequence can draw a line")
    elif feed.stops is None:
        reasons.append("stops.txt is absent, so stop sequences have no coordinates")
    else:
        reasons.append("no trip visits two stops with coordinates")
    if feed.trips is None:
        reasons.append("trips.txt is absent")
    return "; ".join(reasons)


def derive_routes(feed: Feed, *, collection: str, network: str) -> tuple[gpd.GeoDataFrame, dict]:
    """Derive the routes line layer of a validated feed.

    Parameters
    ----------
    feed
        A feed from :func:`read_feed`.
    collection
        Collection id, named in messages.
    network
        Namespace of ids: ``id`` is ``"<network>:<route_id>"``.

    Returns
    -------
    tuple of (GeoDataFrame, dict)
        Columns ``id, network, route_id, route_short_name, route_long_name, route_type,
        mode, route_color, route_text_color, agency_name, trips_per_day, geometry``
        (MultiLineString, EPSG:4326), and the layer report.

    Raises
    ------
    GtfsError
        routes.txt is missing or no route has a usable geometry.
    """
    where = feed.where(collection)
    if feed.routes is None:
        raise GtfsError(
            f"{where}: routes.txt is missing; a routes layer needs routes.txt with "
            "columns route_id, route_type"
        )
    dropped: dict[str, int] = {}
    notes: list[str] = []
    routes = feed.routes.assign(route_type=feed.routes["route_type"].map(parse_route_type))
    unknown = routes["route_type"].isna()
    if unknown.any():
        dropped["routes.txt: unknown route_type"] = int(unknown.sum())
        routes = routes.loc[~unknown]
    geometry = _geometries(feed, routes, notes)
    usable = geometry.notna().to_numpy()
    if not usable.any():
        raise GtfsError(
            f"{where}: no route has a usable geometry ({len(routes)} routes with a known "
            f"route_type): {_why_no_geometry(feed)}"
        )
    if not usable.all():
        dropped["routes.txt: no usable geometry (no shape, no stop sequence)"] = int(
            (~usable).sum()
        )
    routes, geometry = routes.loc[usable], geometry[usable]
    layer = pd.DataFrame(
        {
            "id": network + ":" + routes["route_id"],
            "network": network,
            "route_id": routes["route_id"],
            "route_short_name": routes["route_short_name"].replace("", None),
            "route_long_name": routes["route_long_name"].replace("", None),
            "route_type": routes["route_type"].astype(int),
            "mode": routes["route_type"].astype(int).map(route_type_label),
            "route_color": _colour(routes["route_color"], "FFFFFF", "route_color", notes),
            "route_text_color": _colour(
                routes["route_text_color"], "000000", "route_text_color", notes
            ),
            "agency_name": _agency_names(feed, routes),
        }
    )
    if feed.active_trips is None or feed.trips is None:
        layer["trips_per_day"] = pd.Series(pd.NA, index=layer.index, dtype="Int64")
        if feed.service_note:
            notes.append(feed.service_note)
    else:
        active = feed.trips[feed.trips["trip_id"].isin(feed.active_trips)]
        counts = active.groupby("route_id").size()
        layer["trips_per_day"] = routes["route_id"].map(counts).fillna(0).astype("Int64")
    gdf = gpd.GeoDataFrame(layer, geometry=list(geometry), crs="EPSG:4326")[COLUMNS]
    return gdf.reset_index(drop=True), layer_report(
        feed, collection, "routes", len(gdf), dropped, notes
    )
