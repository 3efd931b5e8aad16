"""Build reports: ``var/reports/<id>/<build_id>.json`` and ``latest.json``, kept bounded.

Written atomically (a kill leaves the old or the new file), pruned to the newest
``KEEP_REPORTS`` per collection; readers skip a file that does not parse.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from geopublish.ledger.files import cleanup, read_json, write_json

KEEP_REPORTS = 100


class Reports:
    """The build reports of one collection."""

    def __init__(self, reports_dir: Path, collection: str) -> None:
        self.folder = reports_dir / collection

    def write(self, report: dict[str, Any]) -> Path:
        """Write ``<build_id>.json``, replace ``latest.json``, prune the oldest."""
        path = self.folder / f"{report['build_id']}.json"
        write_json(path, report, point="report")
        write_json(self.folder / "latest.json", report)
        for old in self._builds()[:-KEEP_REPORTS]:
            old.unlink(missing_ok=True)
        return path

    def exists(self, build_id: str) -> bool:
        """Whether the report of ``build_id`` was written."""
        return (self.folder / f"{build_id}.json").is_file()

    def _builds(self) -> list[Path]:
        if not self.folder.is_dir():
            return []
        return sorted(p for p in self.folder.glob("2*.json") if p.is_file())

    def latest(self) -> dict[str, Any] | None:
        """The newest report, or None."""
        found = read_json(self.folder / "latest.json")
        return found if isinstance(found, dict) else None

    def history(self, limit: int | None = None) -> list[dict[str, Any]]:
        """Kept reports, newest first (a file that does not parse is skipped)."""
        out = []
        for path in reversed(self._builds()):
            found = read_json(path)
            if isinstance(found, dict):
                out.append(found)
            if limit is not None and len(out) >= limit:
                break
        return out

    def known(self) -> bool:
        """Whether the collection has a report folder."""
        return self.folder.is_dir()

    def cleanup(self) -> list[str]:
        """Remove temporaries of killed writers."""
        return cleanup(self.folder)
