"""Cost of encoding detection and confirmation versus reading the same CSV with pyogrio.

Usage: .venv/bin/python bench/ingest/encoding_cost.py [ROWS]
Writes a UTF-8 and a Windows-1252 CSV of ROWS rows (default 1 000 000) in a temporary folder,
then times, three times each: geopublish's prepare step (detect on a sample + decode every
byte; the cp1252 file is also transcoded to UTF-8) and a full pyogrio Arrow read of the file.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import pyogrio

from geopublish.catalog.models import CsvGeometry, Part, Source
from geopublish.source.prepare import prepare_part
from geopublish.source.resolve import Resolved


def write(path: Path, rows: int, encoding: str) -> None:
    with open(path, "w", encoding=encoding, newline="") as out:
        out.write("code;nom;commune;x;y\n")
        for i in range(rows):
            out.write(f"{i};Aire n°{i} – Œuvre;Béziers-Sète;{3 + i % 1000 / 1000};43.5\n")


def timed(fn) -> float:
    best = []
    for _ in range(3):
        start = time.perf_counter()
        fn()
        best.append(time.perf_counter() - start)
    return min(best)


def main() -> None:
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    source = Source(parts=[Part(path="x.csv")], csv=CsvGeometry(x="x", y="y", delimiter=";"))
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for encoding in ("utf-8", "cp1252"):
            path = folder / f"{encoding}.csv"
            write(path, rows, encoding)
            part = Resolved(path, str(path), str(path))
            prep = timed(lambda: prepare_part(part, source, "bench", folder / "t"))  # noqa: B023
            read = timed(lambda: _read_rows(path))  # noqa: B023
            size = path.stat().st_size / 1e6
            print(
                f"{encoding}: {rows} rows, {size:.0f} MB: prepare {prep:.2f} s, "
                f"pyogrio read {read:.2f} s, ratio {prep / read:.2f}"
            )


def _read_rows(path: Path) -> int:
    with pyogrio.open_arrow(str(path), use_pyarrow=True, SEPARATOR="SEMICOLON") as (_, reader):
        return sum(len(batch) for batch in reader)


if __name__ == "__main__":
    main()
