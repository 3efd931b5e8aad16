"""Read a publisher's table (CSV or JSON) into rows of strings, header as written.

Publishers' files are untrusted: the encoding is detected (charset-normalizer) unless
declared, a BOM is dropped, the CSV separator is sniffed among , ; tab and |, the file must
lie inside GEOPUBLISH_SOURCE_ROOT (or the download cache) and be smaller than ``MAX_BYTES``.
"""

from __future__ import annotations

import csv
import io
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from charset_normalizer import from_bytes

from geopublish.errors import SourceError

MAX_BYTES = 512 * 1024 * 1024
DELIMITERS = ",;\t|"


@dataclass
class Table:
    """A publisher's rows: header names and one dict per row (source row numbers from 1)."""

    header: list[str]
    rows: list[dict[str, Any]]
    encoding: str
    delimiter: str | None


def contained(file: Path, roots: list[Path], what: str) -> Path:
    """``file`` made absolute, or a SourceError when it lies outside every root.

    ``..`` cannot climb out; links the operator placed inside a root are followed.
    """
    real = Path(os.path.normpath(os.path.abspath(file)))
    for root in roots:
        if real.is_relative_to(Path(os.path.normpath(os.path.abspath(root)))):
            return real
    raise SourceError(f"{what}: {str(file)!r} lies outside the source root; refusing to read it")


def decode(data: bytes, declared: str | None, what: str) -> tuple[str, str]:
    """Text and encoding name; a declared encoding wins, else UTF-8, else detection."""
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8", errors="replace"), "utf-8-sig"
    if declared:
        try:
            return data.decode(declared), declared
        except (LookupError, UnicodeDecodeError) as exc:
            raise SourceError(f"{what}: cannot decode as {declared!r}: {exc}") from exc
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    best = from_bytes(data[: 1024 * 1024]).best()
    encoding = best.encoding if best is not None else "cp1252"
    return data.decode(encoding, errors="replace"), encoding


def sniff(text: str, declared: str | None) -> str:
    """The separator giving the most columns on the header (ties: the first of DELIMITERS)."""
    if declared:
        return declared
    first = text.split("\n", 1)[0]
    counts = {d: len(next(csv.reader([first], delimiter=d), [])) for d in DELIMITERS}
    return max(DELIMITERS, key=lambda d: counts[d])


def clean_name(name: str) -> str:
    """A header cell without BOM, quotes, brackets or surrounding blanks (tabs included)."""
    return name.replace("\ufeff", "").strip().strip("[]\"'").strip()


def read_table(
    file: Path, *, fmt: str | None, encoding: str | None, delimiter: str | None, what: str
) -> Table:
    """Every row of a publisher's CSV or JSON file (JSON: an array of objects or GeoJSON)."""
    try:
        size = file.stat().st_size
        if size > MAX_BYTES:
            raise SourceError(f"{what}: {file.name!r} is {size} bytes; the limit is {MAX_BYTES}")
        data = file.read_bytes()
    except OSError as exc:
        raise SourceError(f"{what}: cannot read {str(file)!r}: {exc.strerror}") from exc
    text, used = decode(data, encoding, what)
    kind = fmt or ("json" if file.suffix.lower() in (".json", ".geojson") else "csv")
    if kind == "csv" and text.lstrip()[:1] in ("[", "{"):
        kind = "json"  # a JSON file named .csv (seen in real IRVE uploads)
    if kind == "json":
        return _json(text, used, what)
    sep = sniff(text, delimiter)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=sep)
    try:
        header = [clean_name(h) for h in next(reader)]
    except StopIteration:
        raise SourceError(f"{what}: {file.name!r} is empty") from None
    except csv.Error as exc:
        raise SourceError(f"{what}: {file.name!r}: unreadable CSV header: {exc}") from exc
    rows = []
    try:
        for cells in reader:
            if not any(c.strip() for c in cells):
                continue
            rows.append(dict(zip(header, cells, strict=False)))
    except csv.Error as exc:
        raise SourceError(
            f"{what}: {file.name!r}: unreadable CSV at line {reader.line_num}: {exc}"
        ) from exc
    if header and len(header) == 1 and rows and sep == ",":
        raise SourceError(f"{what}: {file.name!r}: one column only; separator not recognised")
    return Table(header, rows, used, sep)


def _json(text: str, encoding: str, what: str) -> Table:
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise SourceError(f"{what}: not valid JSON: {exc}") from exc
    if isinstance(doc, dict) and doc.get("type") == "FeatureCollection":
        items = []
        for feature in doc.get("features") or []:
            if isinstance(feature, dict):
                props = dict(feature.get("properties") or {})
                props["geometry"] = feature.get("geometry")
                items.append(props)
    elif isinstance(doc, list):
        items = doc
    else:
        raise SourceError(
            f"{what}: expected a JSON array of records or a GeoJSON FeatureCollection, "
            f"got {type(doc).__name__}"
        )
    rows = [
        {clean_name(str(k)): v for k, v in item.items()} for item in items if isinstance(item, dict)
    ]
    if len(rows) != len(items):
        raise SourceError(f"{what}: {len(items) - len(rows)} JSON item(s) are not objects")
    header: list[str] = []
    for row in rows:
        header.extend(k for k in row if k not in header)
    return Table(header, rows, encoding, None)
