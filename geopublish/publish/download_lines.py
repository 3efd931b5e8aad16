"""A GDAL GeoJSON or CSV download with some rows replaced, without parsing the whole file.

The rows to drop are found by searching the file for their value (``, "publisher": "p007"`` in
GeoJSON, ``p007`` in CSV) and reading only the lines that hold it; the rest of the file is
copied in large slices. GeoJSON: GDAL writes one feature per line, and a value's own quotes are
escaped, so a line holding the property is that feature. CSV: a candidate line is parsed and
dropped when it is a whole record whose column holds one of the values; should a candidate sit
in a record spanning lines (a quoted newline), the file is filtered record by record instead.
"""

from __future__ import annotations

import csv
import json
import mmap
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

PIECE = 1 << 24  # bytes copied at a time


def replace_geojson(old: Path, new: Path, out: Path, column: str, values: tuple[str, ...]) -> None:
    """``old`` without the features whose ``column`` is in ``values``, then ``new``'s."""
    marks = [
        f'{lead}"{column}": {json.dumps(v, ensure_ascii=False)}'.encode()
        for v in values
        for lead in (", ", "{ ")
    ]
    with open(out, "wb") as sink, _mapped(old) as mm:
        start, end = _body(mm)
        sink.write(mm[:start])
        kept = _keep(_spans(mm, marks, start, end), start, end)
        wrote = _write_features(sink, mm, kept, first=True)
        with _mapped(new) as fresh:
            low, high = _body(fresh)
            _write_features(sink, fresh, [(low, high)] if high > low else [], first=not wrote)
        sink.write(b"\n]\n}\n")


def replace_csv(old: Path, new: Path, out: Path, column: str, values: tuple[str, ...]) -> None:
    """``old`` without the records whose ``column`` is in ``values``, then ``new``'s."""
    with open(old, encoding="utf-8", newline="") as handle:
        header = next(csv.reader(handle))
    index, wanted = header.index(column), set(values)
    with _mapped(old) as mm:
        start = mm.find(b"\n") + 1
        drop, parity, pos = [], 0, start
        for a, b in _spans(mm, [v.encode() for v in values], start, len(mm)):
            parity = (parity + _count(mm, pos, a)) % 2
            line = mm[a:b]
            if parity or line.count(b'"') % 2:
                return _by_record(old, new, out, index, wanted)
            row = next(csv.reader([line.decode("utf-8")]), [])
            if len(row) == len(header) and row[index] in wanted:
                drop.append((a, b))
            pos = b
        with open(out, "wb") as sink:
            sink.write(mm[:start])
            for a, b in _keep(drop, start, len(mm)):
                _copy(sink, mm, a, b)
    with open(out, "ab") as sink, _mapped(new) as fresh:
        _copy(sink, fresh, fresh.find(b"\n") + 1, len(fresh))


class _mapped:  # noqa: N801
    """A read-only memory map of a file (an empty file maps to empty bytes)."""

    def __init__(self, path: Path) -> None:
        self.handle = open(path, "rb")  # noqa: SIM115  (closed in __exit__)
        size = path.stat().st_size
        self.map: mmap.mmap | bytes = (
            mmap.mmap(self.handle.fileno(), 0, access=mmap.ACCESS_READ) if size else b""
        )

    def __enter__(self) -> mmap.mmap | bytes:
        return self.map

    def __exit__(self, *exc: object) -> None:
        if isinstance(self.map, mmap.mmap):
            self.map.close()
        self.handle.close()


def _body(mm: mmap.mmap | bytes) -> tuple[int, int]:
    """Where a GDAL GeoJSON's feature lines start and end."""
    head = b'"features": [\n'
    start = mm.find(head) + len(head)
    end = max(start, mm.rfind(b"\n]\n") + 1)
    if end - start <= 2 and not mm[start:end].strip():  # no feature: GDAL writes a blank line
        return start, start
    return start, end


def _spans(
    mm: mmap.mmap | bytes, marks: list[bytes], start: int, end: int
) -> list[tuple[int, int]]:
    """Sorted (start, end) of the lines in ``[start, end)`` holding one of ``marks``."""
    found: set[tuple[int, int]] = set()
    for mark in marks:
        at = mm.find(mark, start, end)
        while at != -1:
            a = max(start, mm.rfind(b"\n", start, at) + 1)
            b = mm.find(b"\n", at, end)
            b = end if b == -1 else b + 1
            found.add((a, b))
            at = mm.find(mark, b, end)
    return sorted(found)


def _keep(drop: list[tuple[int, int]], start: int, end: int) -> list[tuple[int, int]]:
    """The ranges of ``[start, end)`` outside ``drop``."""
    out, pos = [], start
    for a, b in drop:
        if a > pos:
            out.append((pos, a))
        pos = max(pos, b)
    if end > pos:
        out.append((pos, end))
    return out


def _write_features(
    sink: BinaryIO, mm: mmap.mmap | bytes, ranges: list[tuple[int, int]], first: bool
) -> bool:
    """Feature lines (each ends with a comma but the file's last) joined as GDAL joins them."""
    if not ranges:
        return False
    if not first:
        sink.write(b",\n")
    *body, (a, b) = ranges
    for lo, hi in body:
        _copy(sink, mm, lo, hi)
    last = max(a, mm.rfind(b"\n", a, b - 1) + 1)
    _copy(sink, mm, a, last)
    sink.write(mm[last:b].rstrip(b"\r\n").removesuffix(b","))
    return True


def _copy(sink: BinaryIO, mm: mmap.mmap | bytes, a: int, b: int) -> None:
    for lo in range(a, b, PIECE):
        sink.write(mm[lo : min(b, lo + PIECE)])


def _count(mm: mmap.mmap | bytes, a: int, b: int) -> int:
    """Double quotes in ``[a, b)``."""
    return sum(mm[lo : min(b, lo + PIECE)].count(b'"') for lo in range(a, b, PIECE))


def _by_record(old: Path, new: Path, out: Path, index: int, wanted: set[str]) -> None:
    """The slow, general path: every record of ``old`` parsed."""
    with open(out, "wb") as sink:
        records = _records(old)
        sink.write(next(records, b""))
        for record in records:
            row = next(csv.reader([record.decode("utf-8")]), [])
            if len(row) > index and row[index] in wanted:
                continue
            sink.write(record)
        fresh = _records(new)
        next(fresh, None)
        sink.writelines(fresh)


def _records(path: Path) -> Iterator[bytes]:
    """A CSV file's records: its lines, a record with quoted newlines kept whole."""
    pending = b""
    with open(path, "rb") as handle:
        for line in handle:
            pending += line
            if pending.count(b'"') % 2 == 0:
                yield pending
                pending = b""
    if pending:
        yield pending
