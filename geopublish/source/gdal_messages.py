"""GDAL's own error lines, read back from its log file (``CPL_LOG``) part by part.

GDAL writes read errors ("fread(81) failed on DBF file") through its default handler, which
prints to stderr unless ``CPL_LOG`` names a file; the CLI sets it (``var/log/gdal.log``), and
a build notes the file's size before a part and reads what was added after it.
"""

from __future__ import annotations

import os


def _path() -> str | None:
    return os.environ.get("CPL_LOG")


def offset() -> int:
    """Current size of GDAL's log file (0 when there is none)."""
    path = _path()
    try:
        return os.path.getsize(path) if path else 0
    except OSError:
        return 0


def since(start: int, limit: int = 64 * 1024) -> list[str]:
    """The lines GDAL logged after ``start`` (at most ``limit`` bytes, each line cut short)."""
    path = _path()
    if not path:
        return []
    try:
        with open(path, "rb") as handle:
            handle.seek(start)
            data = handle.read(limit)
    except OSError:
        return []
    lines = data.decode("utf-8", "replace").splitlines()
    return [line.strip()[:300] for line in lines if line.strip()]
