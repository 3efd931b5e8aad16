"""Reading parts: encodings, zip members, CSV geometry, batches."""

from __future__ import annotations

from pathlib import Path

import pytest

from geopublish.catalog.models import Part, Source
from geopublish.errors import SourceError
from geopublish.settings import get_settings
from geopublish.source import resolve_part
from geopublish.source.vector import iter_batches

PLU = "plu_30014_lambert93/30014_ZONE_URBA_20171013.shp"
PARKING = "montpellier_opendata/VilleMTP_MTP_ParkingOuvrage/VilleMTP_MTP_ParkingOuv.csv"
CYCLE = (
    "montpellier_opendata/VilleMTP_AggloMTP_PistesCyclables/VilleMTP_AggloMTP_PistesCyclables.zip"
)


def read(data: Path, path: str, batch_size: int = 1000, **source: object) -> tuple[list, dict]:
    settings = get_settings(source_root=data, source_mode="local")
    part = resolve_part(Part(path=path), settings, "t")
    stats: dict = {"dropped": {}}
    spec = Source(parts=[Part(path=path)], **source)
    return list(iter_batches(part, spec, "t", batch_size, stats)), stats


@pytest.mark.parametrize("encoding", [None, "cp1252"])
def test_shapefile_text_is_decoded_with_or_without_an_encoding_override(shared_data, encoding):
    frames, _ = read(shared_data, PLU, encoding=encoding)
    text = set(frames[0]["LIBELONG"].dropna())
    assert "Zone urbaine soumise à des prescriptions architecturales particulières" in text


def test_latin1_csv_with_decimal_commas_in_small_batches(shared_data):
    frames, stats = read(
        shared_data,
        PARKING,
        batch_size=5,
        encoding="latin1",
        csv={"x": "COORD_X,C,50", "y": "COORD_Y,C,50", "decimal_comma": True},
    )
    assert [len(f) for f in frames] == [5, 5, 5, 5, 2]
    first = frames[0].iloc[0]
    assert first["NOM,C,50"] == "Arc de Triomphe"
    assert (first.geometry.x, first.geometry.y) == (3.8732007528, 43.6110026707)
    assert stats["dropped"] == {}
    names = {n for f in frames for n in f["NOM,C,50"]}
    assert "Comédie" in names and "Hôtel de ville" in names


def test_zip_archive_is_read_through_vsizip(shared_data):
    frames, _ = read(shared_data, CYCLE, batch_size=100)
    assert sum(len(f) for f in frames) == 319 and len(frames) == 4
    assert frames[0].crs.to_epsg() == 2154


def test_missing_csv_columns_are_named(shared_data):
    with pytest.raises(SourceError, match=r"column\(s\) \['lon'\] missing"):
        read(shared_data, PARKING, encoding="latin1", csv={"x": "lon", "y": "COORD_Y,C,50"})


def test_missing_local_file_is_a_source_error(tmp_path):
    with pytest.raises(SourceError, match="source file .* not found and no url"):
        read(tmp_path, "nowhere.geojson")
