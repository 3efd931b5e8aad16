"""The publication journal: what a run is about to swap in, so a kill can be finished or undone.

Before a swap (publication or rollback) the run writes ``history/<id>/publishing.json``: its
build id, the version served before, the report and source state it will record. The journal
is removed once the change set, the report, the history line and the state are written. A
journal found by the next run of the layer (under its lock, so its writer is dead) means the
run stopped somewhere between: if the store serves the journal's build, the next run writes
what is missing; otherwise the version it may have left is dropped.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from geopublish.ledger.files import read_json, write_json


class Journal:
    """The pending publication of one collection."""

    def __init__(self, var_dir: Path, collection: str) -> None:
        self.path = var_dir / "history" / collection / "publishing.json"

    def begin(self, entry: dict[str, Any]) -> None:
        """Record what is about to be swapped in."""
        write_json(self.path, entry)

    def pending(self) -> dict[str, Any] | None:
        """The journal a killed run left, if any."""
        entry = read_json(self.path)
        return entry if isinstance(entry, dict) else None

    def end(self) -> None:
        """The publication is fully recorded."""
        self.path.unlink(missing_ok=True)
