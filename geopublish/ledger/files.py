"""One atomic JSON writer for the ledger, a tolerant reader, and cleanup of temporaries."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

from geopublish.faults import crash_point
from geopublish.procs import other_alive

TEMPORARY = re.compile(r"^\..+\.(\d+)\.tmp$")


def write_json(path: Path, data: Any, *, point: str | None = None, durable: bool = True) -> None:
    """Write JSON to ``.<name>.<pid>.tmp`` beside ``path``, then rename it into place.

    ``point`` names a test crash point reached between the two steps. Without ``durable``
    the file is not synced first (a note whose loss in a crash costs nothing).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    text = json.dumps(data, ensure_ascii=False, indent=1, default=str)
    with open(tmp, "w", encoding="utf-8") as handle:
        handle.write(text)
        if durable:
            handle.flush()
            os.fsync(handle.fileno())
    if point:
        crash_point(point)
    os.replace(tmp, path)


def read_json(path: Path) -> Any:
    """The JSON in ``path``, or None when it is missing, empty or cut short."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def cleanup(folder: Path) -> list[str]:
    """Remove ``.<name>.<pid>.tmp`` files of processes that are gone."""
    removed: list[str] = []
    if not folder.is_dir():
        return removed
    for path in folder.iterdir():
        match = TEMPORARY.match(path.name)
        if match and not other_alive(int(match.group(1))):
            path.unlink(missing_ok=True)
            removed.append(str(path))
    return removed
