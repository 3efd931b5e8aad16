"""The run's bookkeeping: locks, run history, change sets, source state, reports, webhooks.

Used by the wiring (``pipeline/``, ``refresh/``, ``cli/``) and read by ``serve/``; it imports
no stage and never the pipeline back. Everything lives under ``var/``: ``locks/<id>.lock``,
``history/<id>/`` (``runs.jsonl``, ``state.json``, ``running.json``, ``publishing.json``,
``changes/<seq>.json``) and ``reports/<id>/``. Every JSON file is written by
:func:`~geopublish.ledger.files.write_json` (temporary file, then rename), so a kill leaves the
old or the new file, never a partial one; temporaries of dead processes are removed by
:func:`~geopublish.ledger.files.cleanup`.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from pathlib import Path

from geopublish.ledger.changes import ChangeLog
from geopublish.ledger.files import cleanup, read_json, write_json
from geopublish.ledger.journal import Journal
from geopublish.ledger.lock import layer_lock
from geopublish.ledger.reports import Reports
from geopublish.ledger.runs import RunLog, run_record


class Ledger:
    """The bookkeeping of one collection."""

    def __init__(self, var_dir: Path, collection: str) -> None:
        self.var_dir = var_dir
        self.collection = collection
        self.runs = RunLog(var_dir, collection)
        self.changes = ChangeLog(var_dir, collection)
        self.journal = Journal(var_dir, collection)
        self.reports = Reports(var_dir / "reports", collection)

    def lock(self) -> AbstractContextManager[None]:
        """Hold this collection's build lock (LockedError at once when taken)."""
        return layer_lock(self.var_dir / "locks", self.collection)

    def cleanup(self) -> list[str]:
        """Remove temporaries that killed runs left in this collection's folders."""
        return cleanup(self.runs.folder) + cleanup(self.changes.folder) + self.reports.cleanup()


__all__ = [
    "ChangeLog",
    "Journal",
    "Ledger",
    "Reports",
    "RunLog",
    "cleanup",
    "layer_lock",
    "read_json",
    "run_record",
    "write_json",
]
