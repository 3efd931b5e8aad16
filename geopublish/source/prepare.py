"""Make a resolved part readable by GDAL as UTF-8: detect, confirm or transcode its text.

CSV: read whole with the declared or detected encoding; plain UTF-8 is read in place, any
other encoding (BOM, UTF-16, Windows-1252, ...) through a UTF-8 copy in the build's temporary
folder. Shapefile: when neither the spec, a ``.cpg`` file nor the DBF header says the
encoding, it is detected on the records and handed to GDAL (ENCODING open option), after
every record was confirmed to decode.
"""

from __future__ import annotations

import hashlib
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from geopublish.catalog.models import Source
from geopublish.errors import SourceError
from geopublish.source import encoding as enc
from geopublish.source.archive import check_size, member_info, open_member
from geopublish.source.resolve import Resolved

TEXT_TABLES = {".csv", ".tsv", ".txt"}


@dataclass
class Prepared:
    """A part as GDAL should read it, with the encoding found and extra open options."""

    part: Resolved
    source: Source
    encoding: str | None = None
    options: dict[str, str] = field(default_factory=dict)


def _name(part: Resolved) -> str:
    return part.member if part.member is not None else part.file.name


@contextmanager
def _open(part: Resolved, member: str | None = None) -> Iterator[BinaryIO]:
    """The part's bytes (or a sibling's, ``member``): a local file or a zip member."""
    if part.member is None:
        path = part.file if member is None else part.file.with_name(member)
        with open(path, "rb") as handle:
            yield handle
    else:
        with zipfile.ZipFile(part.file) as archive:
            with open_member(archive, member or part.member, str(part.file)) as handle:
                yield handle


def _sibling(part: Resolved, suffix: str) -> str | None:
    """Name of the part's sidecar with ``suffix`` (any case), or None."""
    name = PurePosixPath(_name(part))
    wanted = {str(name.with_suffix(s)) for s in (suffix, suffix.upper())}
    if part.member is None:
        found = [w for w in wanted if (part.file.parent / PurePosixPath(w).name).is_file()]
        return PurePosixPath(found[0]).name if found else None
    with zipfile.ZipFile(part.file) as archive:
        names = set(archive.namelist())
    found = [w for w in wanted if w in names]
    return found[0] if found else None


def _declared(source: Source, collection: str) -> str | None:
    if source.encoding is None:
        return None
    try:
        return enc.canonical(source.encoding)
    except ValueError as exc:
        raise SourceError(
            f"collection {collection!r}: source.encoding: {exc}; e.g. 'cp1252', 'latin1'"
        ) from exc


def prepare_part(part: Resolved, source: Source, collection: str, tmp: Path) -> Prepared:
    """Detect or confirm ``part``'s text encoding; a CSV not in UTF-8 is transcoded.

    The members of a zip are checked against the size bounds first (zip bombs).
    """
    if zipfile.is_zipfile(part.file):
        _check_archive(part, collection)
    suffix = PurePosixPath(_name(part)).suffix.lower()
    if suffix in TEXT_TABLES and source.csv is not None or suffix == ".csv":
        return _prepare_csv(part, source, collection, tmp, suffix)
    if suffix == ".shp":
        _check_shapefile(part, collection)
        return _prepare_dbf(part, source, collection)
    return Prepared(part, source)


def _check_archive(part: Resolved, collection: str) -> None:
    try:
        with zipfile.ZipFile(part.file) as archive:
            if part.member is not None:
                member_info(archive, part.member, str(part.file))
            else:
                for info in archive.infolist():
                    check_size(info, str(part.file))
    except zipfile.BadZipFile as exc:
        raise SourceError(
            f"collection {collection!r}: {part.origin!r} is not a readable zip: {exc}"
        ) from exc
    except SourceError as exc:
        raise SourceError(f"collection {collection!r}: {exc}") from exc


def _prepare_csv(
    part: Resolved, source: Source, collection: str, tmp: Path, suffix: str
) -> Prepared:
    declared = _declared(source, collection)
    with _open(part) as stream:
        name = declared or enc.detect(stream.read(enc.SAMPLE))
        if name is None:
            raise SourceError(
                f"collection {collection!r}: {part.origin!r}: cannot tell the text "
                "encoding; set source.encoding (e.g. 'cp1252', 'latin1', 'utf-16')"
            )
        plain = source.model_copy(update={"encoding": None})
        digest = hashlib.sha1(part.origin.encode()).hexdigest()[:12]
        target = tmp / f"{digest}{suffix}"

        def convert(name: str) -> Prepared:
            stream.seek(0)
            if name in enc.UTF8:
                enc.confirm(stream, name, collection, part.origin, declared is not None)
                return Prepared(part, plain, name)
            enc.transcode(stream, name, target, collection, part.origin, declared is not None)
            return Prepared(Resolved(target, str(target), part.origin, None, part.fetched),
                            plain, name)  # fmt: skip

        try:
            return convert(name)
        except enc.DecodeFailed as exc:
            # The sample fitted, a later byte does not (accents only past the first rows):
            # guess again where it failed; that guess is confirmed on every byte in turn.
            again = None if declared else enc.detect(enc.sample_at(stream, exc.offset))
            if again is None or again == name:
                raise
            return convert(again)


def _size(part: Resolved) -> int:
    if part.member is None:
        return part.file.stat().st_size
    with zipfile.ZipFile(part.file) as archive:
        return archive.getinfo(part.member).file_size


def _check_shapefile(part: Resolved, collection: str) -> None:
    """Refuse a .shp shorter than its header says (GDAL reads its records as no geometry)."""
    with _open(part) as stream:
        header = stream.read(100)
    where = f"collection {collection!r}: shapefile {part.origin!r}"
    if len(header) < 100 or int.from_bytes(header[:4], "big") != 9994:
        raise SourceError(f"{where}: not a shapefile (its 100-byte header is missing or wrong)")
    declared = int.from_bytes(header[24:28], "big") * 2
    actual = _size(part)
    if actual < declared:
        raise SourceError(
            f"{where} is truncated: its header declares {declared} bytes, the file has "
            f"{actual} ({actual / declared:.0%}); the geometries past that point are lost. "
            "Fetch or export the file again"
        )


def _prepare_dbf(part: Resolved, source: Source, collection: str) -> Prepared:
    declared = _declared(source, collection)
    dbf = _sibling(part, ".dbf")
    if dbf is None:
        return Prepared(part, source)
    origin = f"{part.origin[: -len(PurePosixPath(_name(part)).suffix)]}{PurePosixPath(dbf).suffix}"
    with _open(part, dbf) as stream:
        try:
            _, _, ldid = enc.dbf_records(stream)
            stream.seek(0)
            if declared is None and (_sibling(part, ".cpg") is not None or ldid != 0):
                return Prepared(part, source)  # the file says its encoding: GDAL reads it
            name = declared or enc.detect(enc.dbf_sample(stream))
        except ValueError as exc:
            raise SourceError(f"collection {collection!r}: {origin!r}: {exc}") from exc
        if name is None:
            return Prepared(part, source)
        stream.seek(0)
        try:
            enc.confirm_dbf(stream, name, collection, origin, declared is not None)
        except enc.DecodeFailed as exc:
            again = None if declared else enc.detect(enc.sample_at(stream, exc.offset))
            if again is None or again == name:
                raise
            name = again
            stream.seek(0)
            enc.confirm_dbf(stream, name, collection, origin, False)
    plain = source.model_copy(update={"encoding": None})
    return Prepared(part, plain, name, {"ENCODING": enc.gdal_name(name)})
