"""Read GTFS ``.txt`` tables from a zip or a folder as all-string DataFrames."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pandas as pd

from geopublish.errors import GtfsError

REQUIRED_COLUMNS: dict[str, tuple[str, ...]] = {
    "agency": ("agency_name", "agency_url", "agency_timezone"),
    "stops": ("stop_id", "stop_lat", "stop_lon"),
    "routes": ("route_id", "route_type"),
    "trips": ("route_id", "service_id", "trip_id"),
    "stop_times": ("trip_id", "stop_id", "stop_sequence"),
    "calendar": (
        "service_id",
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
        "sunday",
        "start_date",
        "end_date",
    ),
    "calendar_dates": ("service_id", "date", "exception_type"),
    "shapes": ("shape_id", "shape_pt_lat", "shape_pt_lon", "shape_pt_sequence"),
}

OPTIONAL_COLUMNS: dict[str, tuple[str, ...]] = {
    "agency": ("agency_id",),
    "stops": ("stop_code", "stop_name", "location_type", "parent_station", "wheelchair_boarding"),
    "routes": (
        "agency_id",
        "route_short_name",
        "route_long_name",
        "route_color",
        "route_text_color",
    ),
    "trips": ("direction_id", "shape_id"),
    "stop_times": ("arrival_time", "departure_time"),
}


class FeedSource:
    """The files of one feed, a zip archive or a folder of ``.txt`` files.

    Parameters
    ----------
    path
        The ``.zip`` file or the folder.
    collection
        Collection id, named in error messages.
    """

    def __init__(self, path: Path, collection: str) -> None:
        self.path = Path(path)
        self.collection = collection
        self.members: dict[str, str] = {}
        self.zip: zipfile.ZipFile | None = None
        where = f"collection {collection!r}: feed '{self.path}'"
        if self.path.is_dir():
            self.members = {p.stem: p.name for p in self.path.glob("*.txt")}
        elif self.path.is_file():
            try:
                self.zip = zipfile.ZipFile(self.path)
            except zipfile.BadZipFile as exc:
                raise GtfsError(f"{where} is not a readable zip: {exc}") from exc
            for name in sorted(self.zip.namelist(), key=lambda n: n.count("/")):
                stem = Path(name).stem
                if name.endswith(".txt") and stem not in self.members:
                    self.members[stem] = name
        else:
            raise GtfsError(f"{where} does not exist; expected a .zip or a folder of .txt files")

    def has(self, name: str) -> bool:
        """Whether the feed holds ``<name>.txt``."""
        return name in self.members

    def read(self, name: str, notes: list[str]) -> pd.DataFrame | None:
        """Read ``<name>.txt`` as strings (empty cells are ``""``), or None when absent or empty.

        Required columns missing raise GtfsError; known optional columns missing are added
        empty. A file that is not UTF-8 is decoded as cp1252 and a note says so.
        """
        if name not in self.members:
            return None
        raw = self._bytes(self.members[name])
        if not raw.strip():
            notes.append(f"{name}.txt is empty (0 bytes) and was treated as missing.")
            return None
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            text = raw.decode("cp1252")
            notes.append(f"{name}.txt is not UTF-8; it was decoded as cp1252.")
        usecols = None
        if name == "stop_times":
            wanted = set(REQUIRED_COLUMNS[name] + OPTIONAL_COLUMNS[name])
            usecols = lambda c: c.strip() in wanted  # noqa: E731
        try:
            table = pd.read_csv(
                io.StringIO(text), dtype=str, keep_default_na=False, usecols=usecols
            )
        except (pd.errors.ParserError, ValueError) as exc:
            raise GtfsError(
                f"collection {self.collection!r}: feed '{self.path}': {name}.txt is not "
                f"readable CSV: {exc}"
            ) from exc
        table.columns = [str(c).strip() for c in table.columns]
        missing = [c for c in REQUIRED_COLUMNS.get(name, ()) if c not in table.columns]
        if missing:
            raise GtfsError(
                f"collection {self.collection!r}: feed '{self.path}': column "
                f"{missing[0]!r} missing from {name}.txt; expected "
                f"{', '.join(REQUIRED_COLUMNS[name])} (found {', '.join(table.columns)})"
            )
        for column in OPTIONAL_COLUMNS.get(name, ()):
            if column not in table.columns:
                table[column] = ""
        for column in table.columns:
            table[column] = table[column].str.strip()
        return table

    def _bytes(self, member: str) -> bytes:
        if self.zip is not None:
            try:
                return self.zip.read(member)
            except (zipfile.BadZipFile, OSError) as exc:
                raise GtfsError(
                    f"collection {self.collection!r}: feed '{self.path}' is not a readable "
                    f"zip: {member}: {exc}"
                ) from exc
        return (self.path / member).read_bytes()

    def close(self) -> None:
        """Close the zip archive, if any."""
        if self.zip is not None:
            self.zip.close()
