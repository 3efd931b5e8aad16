"""Read GTFS ``.txt`` tables from a zip or a folder as all-string DataFrames."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import IO

import pandas as pd

from geopublish.errors import GtfsError

# Same bounds as geopublish/source/archive.py (stages do not import each other).
MAX_MEMBER_BYTES = 8 * 1024**3
MAX_RATIO = 200

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
        member = self.members[name]
        with self._open(member) as probe:
            if not probe.read(64 * 1024).strip() and not probe.read(1):
                notes.append(f"{name}.txt is empty (0 bytes) and was treated as missing.")
                return None
        usecols = None
        if name == "stop_times":
            wanted = set(REQUIRED_COLUMNS[name] + OPTIONAL_COLUMNS[name])
            usecols = lambda c: c.strip() in wanted  # noqa: E731
        table = None
        for encoding in ("utf-8-sig", "cp1252"):
            try:
                # Streamed: the member is never held whole in memory, as bytes or as text.
                with self._open(member) as raw:
                    text = io.TextIOWrapper(raw, encoding=encoding, newline="")
                    table = pd.read_csv(text, dtype=str, keep_default_na=False, usecols=usecols)
                break
            except UnicodeDecodeError:
                notes.append(f"{name}.txt is not UTF-8; it was decoded as cp1252.")
            except (pd.errors.ParserError, ValueError, zipfile.BadZipFile, OSError) as exc:
                detail = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
                raise GtfsError(
                    f"collection {self.collection!r}: feed '{self.path}': {member} is not "
                    f"readable CSV: {detail}"
                ) from exc
        assert table is not None
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

    def _open(self, member: str) -> IO[bytes]:
        """A stream over one file of the feed; a zip member past the bounds is refused."""
        if self.zip is None:
            return open(self.path / member, "rb")
        info = self.zip.getinfo(member)
        ratio = info.file_size / max(info.compress_size, 1)
        if info.file_size > MAX_MEMBER_BYTES or (
            info.file_size > 64 * 1024**2 and ratio > MAX_RATIO
        ):
            raise GtfsError(
                f"collection {self.collection!r}: feed '{self.path}': {member} expands to "
                f"{info.file_size} bytes ({ratio:.0f}x its compressed size): refused as a "
                f"possible zip bomb (limits: {MAX_MEMBER_BYTES} bytes, {MAX_RATIO}x)"
            )
        try:
            return self.zip.open(info)
        except (zipfile.BadZipFile, OSError) as exc:
            raise GtfsError(
                f"collection {self.collection!r}: feed '{self.path}' is not a readable "
                f"zip: {member}: {exc}"
            ) from exc

    def close(self) -> None:
        """Close the zip archive, if any."""
        if self.zip is not None:
            self.zip.close()
