"""Text encodings of producers' tables: detected on a sample, confirmed on the whole input.

French open data comes in UTF-8 (with or without a BOM), UTF-16 from spreadsheet exports,
and Latin-1 / Windows-1252 from older tools; few files say which. A CSV that is not plain
UTF-8 is transcoded to a UTF-8 copy (GDAL's CSV driver and Arrow read UTF-8 only); a DBF is
read by GDAL with the detected encoding. Detection looks at a sample with charset-normalizer,
limited to the encodings such files use; the choice is then confirmed by decoding every byte,
and a byte that does not decode is one line naming the file, the row and the bytes.
"""

from __future__ import annotations

import codecs
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from charset_normalizer import from_bytes

from geopublish.errors import SourceError

SAMPLE = 256 * 1024
CHUNK = 1 << 20
# Encodings of Western European files, in the order charset-normalizer should weigh them.
CANDIDATES = ["utf_8", "cp1252", "latin_1", "iso8859_15", "utf_16", "mac_roman", "cp850"]
BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
UTF8 = {"utf-8", "utf_8", "utf8", "ascii"}


def canonical(encoding: str) -> str:
    """Python's name for ``encoding`` ('latin1' -> 'iso8859-1'); ValueError when unknown."""
    try:
        return codecs.lookup(encoding).name
    except LookupError as exc:
        raise ValueError(f"unknown encoding {encoding!r}") from exc


def detect(sample: bytes) -> str | None:
    """The encoding of ``sample`` (a file's first bytes): BOM, UTF-8, else the detector's."""
    for bom, name in BOMS:
        if sample.startswith(bom):
            return name
    try:
        codecs.getincrementaldecoder("utf-8")().decode(sample, final=False)
        return "utf-8"
    except UnicodeDecodeError:
        pass
    best = from_bytes(sample, cp_isolation=CANDIDATES).best()
    return None if best is None else canonical(best.encoding)


def _snippet(data: bytes, start: int, end: int) -> bytes:
    """The bad bytes with a little of their row around them (never past the row)."""
    first = max(data.rfind(b"\n", 0, start) + 1, start - 8)
    stop = data.find(b"\n", end)
    last = min(end + 8, stop if stop >= 0 else len(data))
    return data[first:last].rstrip(b"\r")


class DecodeFailed(SourceError):
    """Bytes that do not decode; ``offset`` is where they start in the input."""

    offset: int = 0


def decode_error(
    collection: str,
    origin: str,
    row: int,
    bad: bytes,
    encoding: str,
    declared: bool,
    offset: int = 0,
) -> DecodeFailed:
    """The one line for bytes that do not decode with ``encoding``."""
    how = "declared source.encoding" if declared else "detected encoding"
    error = DecodeFailed(
        f"collection {collection!r}: {origin!r} row {row}: bytes {bad!r} are not valid "
        f"{encoding!r} (the {how}); set source.encoding to the file's encoding "
        "(e.g. 'cp1252', 'latin1', 'utf-16')"
    )
    error.offset = offset
    return error


def decoded(
    stream: BinaryIO, encoding: str, collection: str, origin: str, declared: bool
) -> Iterator[str]:
    """Decode ``stream`` chunk by chunk; a bad byte raises the line naming its row."""
    decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
    rows = 1
    consumed = 0
    while True:
        chunk = stream.read(CHUNK)
        try:
            text = decoder.decode(chunk, final=not chunk)
        except UnicodeDecodeError as exc:
            good = exc.object[: exc.start]
            rows += decoder.__class__(errors="ignore").decode(good, final=True).count("\n")
            bad = _snippet(exc.object, exc.start, exc.end)
            offset = consumed + exc.start - (len(exc.object) - len(chunk))
            raise decode_error(
                collection, origin, rows, bad, encoding, declared, max(offset, 0)
            ) from exc
        consumed += len(chunk)
        rows += text.count("\n")
        if text:
            yield text
        if not chunk:
            return


def confirm(stream: BinaryIO, encoding: str, collection: str, origin: str, declared: bool) -> None:
    """Decode every byte of ``stream``: raise the one line at the first that fails."""
    for _ in decoded(stream, encoding, collection, origin, declared):
        pass


def transcode(
    stream: BinaryIO,
    encoding: str,
    target: Path,
    collection: str,
    origin: str,
    declared: bool,
) -> None:
    """Write ``stream`` decoded with ``encoding`` to ``target`` as UTF-8 without a BOM."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target, "w", encoding="utf-8", newline="") as out:
        for text in decoded(stream, encoding, collection, origin, declared):
            out.write(text.lstrip("\ufeff") if out.tell() == 0 else text)


def dbf_records(stream: BinaryIO) -> tuple[int, int, int]:
    """(header length, record length, language driver id) of a DBF file."""
    head = stream.read(32)
    if len(head) < 32:
        raise ValueError("DBF header is truncated")
    return int.from_bytes(head[8:10], "little"), int.from_bytes(head[10:12], "little"), head[29]


def confirm_dbf(
    stream: BinaryIO, encoding: str, collection: str, origin: str, declared: bool
) -> None:
    """Decode every DBF record with ``encoding``; the error names the record (row)."""
    header, length, _ = dbf_records(stream)
    stream.seek(header)
    length = max(length, 1)
    row = 0
    decoder_cls = codecs.getincrementaldecoder(encoding)
    while True:
        block = stream.read(max(CHUNK // length, 1) * length)
        if not block:
            return
        for start in range(0, len(block), length):
            record = block[start : start + length]
            if record[:1] == b"\x1a":
                return
            row += 1
            try:
                decoder_cls(errors="strict").decode(record, final=True)
            except UnicodeDecodeError as exc:
                bad = _snippet(record, exc.start, exc.end)
                offset = header + (row - 1) * length + exc.start
                raise decode_error(
                    collection, origin, row, bad, encoding, declared, offset
                ) from exc


def dbf_sample(stream: BinaryIO) -> bytes:
    """The first records of a DBF file (its text, without the binary header)."""
    header, _, _ = dbf_records(stream)
    stream.seek(header)
    return stream.read(SAMPLE)


def sample_at(stream: BinaryIO, offset: int) -> bytes:
    """A detection sample around ``offset`` (where a first guess failed)."""
    stream.seek(max(offset - SAMPLE // 8, 0))
    return stream.read(SAMPLE // 4)


def read_sample(stream: BinaryIO) -> bytes:
    """The first bytes of a stream, then rewinds it."""
    data = stream.read(SAMPLE)
    stream.seek(0)
    return data


GDAL_NAMES = {
    "utf-8": "UTF-8",
    "utf-8-sig": "UTF-8",
    "ascii": "UTF-8",
    "cp1252": "CP1252",
    "iso8859-1": "ISO-8859-1",
    "latin-1": "ISO-8859-1",
    "iso8859-15": "ISO-8859-15",
    "mac-roman": "MACINTOSH",
    "cp850": "CP850",
}


def gdal_name(encoding: str) -> str:
    """The iconv name GDAL's ENCODING open option takes."""
    return GDAL_NAMES.get(encoding, encoding.upper())
