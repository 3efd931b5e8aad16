"""Pick a representative service day of a GTFS feed and the trips that run on it.

Rule: among the Tuesdays, Wednesdays and Thursdays of the feed's service period (earliest
``start_date`` or calendar date to latest ``end_date`` or calendar date), take the date with
the most active trips, the earliest on ties. A service is active on a date when its
calendar.txt weekday flag is set and the date lies within start_date..end_date, unless
calendar_dates.txt removes it (exception_type 2); exception_type 1 adds it. When no
Tuesday-Thursday has any trip, the busiest date of the whole period is taken instead.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from geopublish.normalise.gtfs.feed import Feed

DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
Result = tuple[dt.date | None, frozenset[str] | None, str | None]


def _dates(values: pd.Series) -> pd.Series:
    return pd.to_datetime(values, format="%Y%m%d", errors="coerce")


def _why_undefined(feed: Feed, n_trips: int) -> str:
    reasons = []
    for name in ("calendar", "calendar_dates"):
        table = getattr(feed, name)
        if table is None:
            reasons.append(f"{name}.txt is absent")
        elif table.empty:
            reasons.append(f"{name}.txt has no rows")
        else:
            reasons.append(f"{name}.txt defines none of the trips' service_ids")
    return (
        f"trips_per_day is null: {' and '.join(reasons)}, so the {n_trips} trips have no "
        "known service days and no representative service date can be chosen."
    )


def representative_day(feed: Feed) -> Result:
    """Return the representative date, the ids of the trips active on it, and a note.

    The date and the trip ids are None when the feed defines no usable service; the note
    then says why in words.
    """
    if feed.trips is None or feed.trips.empty:
        return None, None, "trips_per_day is null: trips.txt is missing or has no usable trip."
    trips = feed.trips
    cal = (
        feed.calendar
        if feed.calendar is not None
        else pd.DataFrame(columns=["service_id", *DAYS, "start_date", "end_date"])
    )
    cd = (
        feed.calendar_dates
        if feed.calendar_dates is not None
        else pd.DataFrame(columns=["service_id", "date", "exception_type"])
    )
    cal = cal.assign(start=_dates(cal["start_date"]), end=_dates(cal["end_date"]))
    cal = cal.dropna(subset=["start", "end"])
    cd = cd.assign(day=_dates(cd["date"])).dropna(subset=["day"])
    cd = cd[cd["exception_type"].isin(["1", "2"])]
    services = pd.Index(sorted(set(cal["service_id"]) | set(cd["service_id"])))
    defined = trips["service_id"].isin(services)
    if not defined.any():
        return None, None, _why_undefined(feed, len(trips))
    bounds = pd.concat([cal["start"], cal["end"], cd["day"]])
    period = pd.date_range(bounds.min(), bounds.max(), freq="D")
    active = np.zeros((len(period), len(services)), dtype=bool)
    if not cal.empty:
        col = services.get_indexer(cal["service_id"])
        flags = cal[list(DAYS)].eq("1").to_numpy()
        day = period.to_numpy()[:, None]
        within = (day >= cal["start"].to_numpy()) & (day <= cal["end"].to_numpy())
        weekday_on = flags[:, period.day_of_week].T
        active[:, col] |= within & weekday_on
    if not cd.empty:
        rows = period.get_indexer(cd["day"])
        cols = services.get_indexer(cd["service_id"])
        active[rows, cols] = (cd["exception_type"] == "1").to_numpy()
    per_service = trips.loc[defined, "service_id"].value_counts().reindex(services, fill_value=0)
    per_day = active.astype(np.int64) @ per_service.to_numpy()
    midweek = np.isin(period.day_of_week, (1, 2, 3))
    rule = "the Tuesday-Thursday"
    if not (per_day * midweek).any():
        midweek[:] = True
        rule = "no Tuesday-Thursday has a trip, so the day"
    best = int(np.argmax(np.where(midweek, per_day, -1)))
    if per_day[best] == 0:
        return None, None, "trips_per_day is null: no trip runs on any date of the service period."
    date = period[best].date()
    running = set(services[active[best]])
    ids = frozenset(trips.loc[trips["service_id"].isin(running), "trip_id"])
    note = (
        f"service_date {date.isoformat()} ({date.strftime('%A')}) is {rule} of "
        f"{period[0].date()}..{period[-1].date()} with the most active trips ({len(ids)}), "
        "the earliest on ties."
    )
    undefined = int((~defined).sum())
    if undefined:
        note += (
            f" {undefined} trips reference service_ids defined nowhere and count as not running."
        )
    return date, ids, note
