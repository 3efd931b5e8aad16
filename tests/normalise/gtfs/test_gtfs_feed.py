"""Reading and validating real GTFS feeds: row counts, drops, refusals, times."""

from __future__ import annotations

import csv
import io
import shutil
import zipfile
from pathlib import Path

import pandas as pd
import pytest

from geopublish.errors import GtfsError
from geopublish.normalise.gtfs import derive_stops, read_feed
from geopublish.normalise.gtfs.checks import gtfs_seconds
from geopublish.normalise.gtfs.modes import route_type_label

SUBSET = "gtfs_tisseo_toulouse_subset"
NETWORK = "gtfs_tisseo_network_partial"
CAIRNS = "gtfs_cairns_translink/cairns_gtfs.zip"


def raw_rows(feed: Path, name: str) -> list[dict]:
    if feed.suffix == ".zip":
        with zipfile.ZipFile(feed) as archive:
            text = archive.read(name).decode("utf-8-sig")
    else:
        text = (feed / name).read_text(encoding="utf-8-sig")
    return list(csv.DictReader(io.StringIO(text)))


def write_rows(path: Path, rows: list[dict]) -> None:
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def unzip_to(feed: Path, target: Path) -> Path:
    with zipfile.ZipFile(feed) as archive:
        archive.extractall(target)
    return target


@pytest.mark.parametrize("feed", [SUBSET, NETWORK, CAIRNS])
def test_report_counts_rows_of_every_file_read(shared_data: Path, feed: str) -> None:
    path = shared_data / feed
    _, report = read_feed(path, collection="transport_stops", network="net")
    for name, rows in report["files"].items():
        assert rows == len(raw_rows(path, name)), name
    assert report["feed"] == str(path)
    assert report["dropped"].get("stop_times.txt: unknown stop_id", 0) == 0


def test_network_feed_lists_missing_stop_times_and_why_no_service(shared_data: Path) -> None:
    feed, report = read_feed(shared_data / NETWORK, collection="c", network="tisseo")
    assert report["missing_files"] == ["stop_times.txt"]
    assert report["service_date"] is None
    assert any("calendar.txt has no rows" in n for n in report["notes"])
    trips = len(raw_rows(shared_data / NETWORK, "trips.txt"))
    assert report["dropped"]["trips.txt: unknown shape_id (trip kept without shape)"] == trips
    assert len(feed.trips) == trips


def test_times_past_midnight_are_service_day_seconds(shared_data: Path) -> None:
    seconds = gtfs_seconds(pd.Series(["27:17:00", "05:29:00", "0:00:00", "", "25h"]))
    assert seconds.iloc[:3].tolist() == [98220, 19740, 0]
    assert seconds.iloc[3:].isna().all()
    raw = raw_rows(shared_data / SUBSET, "stop_times.txt")
    latest = max(raw, key=lambda r: tuple(int(p) for p in r["departure_time"].split(":")))
    _, report = read_feed(shared_data / SUBSET, collection="c", network="t")
    assert latest["departure_time"] == "27:17:00"
    assert any("98220 s" in n for n in report["notes"])


def test_corrupt_zip_is_refused_naming_collection_and_file(tmp_path: Path) -> None:
    path = tmp_path / "x.zip"
    path.write_bytes(b"this is not a zip archive \x00\x01\x02" * 20)
    with pytest.raises(
        GtfsError, match=r"collection 'bus_stops': feed '.*x\.zip' is not a readable zip"
    ):
        read_feed(path, collection="bus_stops", network="n")


def test_missing_path_is_refused(tmp_path: Path) -> None:
    with pytest.raises(GtfsError, match="does not exist"):
        read_feed(tmp_path / "nowhere.zip", collection="c", network="n")


def test_missing_stops_txt_is_noted_then_refused_by_stops_layer(
    shared_data: Path, tmp_path: Path
) -> None:
    for path in (shared_data / SUBSET).glob("*.txt"):
        if path.name != "stops.txt":
            shutil.copy(path, tmp_path / path.name)
    feed, report = read_feed(tmp_path, collection="bus_stops", network="n")
    assert "stops.txt" in report["missing_files"]
    with pytest.raises(GtfsError, match=r"collection 'bus_stops'.*stops\.txt is missing"):
        derive_stops(feed, collection="bus_stops", network="n")


def test_missing_required_column_names_feed_file_and_expected(
    shared_data: Path, tmp_path: Path
) -> None:
    shutil.copytree(shared_data / SUBSET, tmp_path / "feed")
    rows = raw_rows(shared_data / SUBSET, "stops.txt")
    stops = tmp_path / "feed" / "stops.txt"
    stops.chmod(0o644)
    write_rows(stops, [{k: v for k, v in r.items() if k != "stop_lat"} for r in rows])
    with pytest.raises(GtfsError) as info:
        read_feed(tmp_path / "feed", collection="bus_stops", network="n")
    message = str(info.value)
    assert "'bus_stops'" in message and "'stop_lat'" in message and "stops.txt" in message
    assert "expected stop_id, stop_lat, stop_lon" in message


def test_stop_time_at_unknown_stop_is_dropped_and_counted(
    shared_data: Path, tmp_path: Path
) -> None:
    feed_dir = unzip_to(shared_data / CAIRNS, tmp_path / "cairns")
    rows = raw_rows(feed_dir, "stop_times.txt")
    rows[0]["stop_id"] = "no_such_stop"
    rows[1]["trip_id"] = "no_such_trip"
    write_rows(feed_dir / "stop_times.txt", rows)
    feed, report = read_feed(feed_dir, collection="c", network="n")
    assert report["dropped"]["stop_times.txt: unknown stop_id"] == 1
    assert report["dropped"]["stop_times.txt: unknown trip_id"] == 1
    assert len(feed.stop_times) == len(rows) - 2


def test_bad_coordinates_are_dropped_and_all_bad_is_refused(
    shared_data: Path, tmp_path: Path
) -> None:
    rows = raw_rows(shared_data / SUBSET, "stops.txt")
    rows[0]["stop_lat"] = "abc"
    rows[1]["stop_lat"], rows[1]["stop_lon"] = "0", "0"
    rows[2]["stop_lat"] = "91.5"
    rows[3]["stop_lon"] = ""
    shutil.copy(shared_data / SUBSET / "routes.txt", tmp_path / "routes.txt")
    write_rows(tmp_path / "stops.txt", rows)
    feed, report = read_feed(tmp_path, collection="c", network="n")
    assert report["dropped"] == {"stops.txt: missing or invalid stop_lat/stop_lon": 4}
    stops, _ = derive_stops(feed, collection="c", network="n")
    assert len(stops) == len(rows) - 4
    for row in rows:
        row["stop_lon"] = "200"
    write_rows(tmp_path / "stops.txt", rows)
    feed, _ = read_feed(tmp_path, collection="bus_stops", network="n")
    expected = (
        f"collection 'bus_stops': feed '{tmp_path}': stops.txt has no usable stop "
        f"({len(rows)} rows, all dropped: missing or invalid stop_lat/stop_lon: {len(rows)})"
    )
    with pytest.raises(GtfsError) as info:
        derive_stops(feed, collection="bus_stops", network="n")
    assert str(info.value) == expected


@pytest.mark.parametrize(
    ("code", "label"),
    [
        (0, "Tram"),
        (1, "Subway/Metro"),
        (3, "Bus"),
        (12, "Monorail"),
        (101, "High Speed Rail"),
        (200, "Coach"),
        (299, "Coach"),
        (401, "Metro"),
        (700, "Bus"),
        (1700, "Miscellaneous"),
        (8, None),
        (99, None),
        (1800, None),
    ],
)
def test_route_type_labels_cover_basic_and_extended_types(code: int, label: str | None) -> None:
    assert route_type_label(code) == label
