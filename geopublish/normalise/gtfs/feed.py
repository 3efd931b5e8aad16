"""Read a GTFS feed, drop what is unusable and say why in a validation report."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from geopublish.normalise.gtfs import checks, service
from geopublish.normalise.gtfs.files import FeedSource

TABLES = (
    "agency",
    "stops",
    "routes",
    "trips",
    "stop_times",
    "calendar",
    "calendar_dates",
    "shapes",
)
REQUIRED_FILES = ("agency", "stops", "routes", "trips", "stop_times")


@dataclass
class Feed:
    """One GTFS feed after validation; every table holds strings, absent tables are None."""

    path: Path
    collection: str
    network: str
    agency: pd.DataFrame | None = None
    stops: pd.DataFrame | None = None
    routes: pd.DataFrame | None = None
    trips: pd.DataFrame | None = None
    stop_times: pd.DataFrame | None = None
    calendar: pd.DataFrame | None = None
    calendar_dates: pd.DataFrame | None = None
    shapes: pd.DataFrame | None = None
    service_date: dt.date | None = None
    active_trips: frozenset[str] | None = None
    service_note: str | None = None
    report: dict = field(default_factory=dict)

    def where(self, collection: str | None = None) -> str:
        """Return the message prefix naming the collection and the feed."""
        return f"collection {collection or self.collection!r}: feed '{self.path}'"


def read_feed(path: Path, *, collection: str, network: str) -> tuple[Feed, dict]:
    """Read and validate a GTFS feed.

    Parameters
    ----------
    path
        A ``.zip`` file or a folder of ``.txt`` files.
    collection
        Collection id, named in messages.
    network
        Namespace of the feed's ids in derived layers (``"<network>:<stop_id>"``).

    Returns
    -------
    tuple of (Feed, dict)
        The feed with unusable rows dropped, and the validation report: ``feed``, ``files``
        (rows per file read), ``missing_files``, ``dropped`` (``"<file>: <reason>"`` -> count),
        ``notes`` (sentences) and ``service_date`` (``YYYY-MM-DD`` or None).

    Raises
    ------
    GtfsError
        The path is missing or not a readable zip, or a present file lacks a required column.
    """
    source = FeedSource(Path(path), collection)
    notes: list[str] = []
    try:
        tables = {name: source.read(name, notes) for name in TABLES}
    finally:
        source.close()
    feed = Feed(path=Path(path), collection=collection, network=network)
    for name, table in tables.items():
        setattr(feed, name, table)
    report: dict = {
        "feed": str(path),
        "files": {f"{n}.txt": len(t) for n, t in tables.items() if t is not None},
        "missing_files": [f"{n}.txt" for n in REQUIRED_FILES if tables[n] is None],
        "dropped": {},
        "notes": notes,
        "service_date": None,
    }
    if tables["calendar"] is None and tables["calendar_dates"] is None:
        report["missing_files"] += ["calendar.txt", "calendar_dates.txt"]
    for name in report["missing_files"]:
        notes.append(f"{name} is missing from the feed.")
    if tables["shapes"] is None:
        notes.append("shapes.txt is absent: route geometry can only come from stop sequences.")
    checks.check_feed(feed, report["dropped"], notes)
    feed.service_date, feed.active_trips, feed.service_note = service.representative_day(feed)
    if feed.service_note:
        notes.append(feed.service_note)
    report["service_date"] = feed.service_date.isoformat() if feed.service_date else None
    feed.report = report
    return feed, report
