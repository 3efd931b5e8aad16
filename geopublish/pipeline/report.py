"""The JSON build report: what was read, done, dropped and published, and how long it took."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from geopublish.procs import peak_rss_mb


def now_iso() -> str:
    """UTC time, second precision, ISO 8601 with Z."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Report:
    """Accumulates one run's figures; ``stats`` is shared with the normalise steps."""

    def __init__(self, collection: str, trigger: str) -> None:
        self.started = time.monotonic()
        self.data: dict[str, Any] = {
            "collection": collection,
            "build_id": datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ"),
            "trigger": trigger,
            "started": now_iso(),
            "outcome": None,
            "source": {},
            "features": {
                "read": 0,
                "filtered": 0,
                "written": 0,
                "repaired": 0,
                "dropped": {},
                "duplicates": 0,
                "cast_failed": {},
            },
            "notes": [],
        }
        self.stats = self.data["features"]

    def finish(self, outcome: str, error: str | None = None) -> dict[str, Any]:
        """Close the report with an outcome: published, unchanged, refused or failed.

        ``peak_rss_mb`` is the build process's resident-memory high-water mark so far; the
        downloads' child process reports its own in ``downloads_process``.
        """
        self.data["peak_rss_mb"] = peak_rss_mb()
        return finish(self.data, outcome, error, round(time.monotonic() - self.started, 3))


def finish(
    data: dict[str, Any], outcome: str, error: str | None = None, duration: float | None = None
) -> dict[str, Any]:
    """Close report ``data`` (also one a killed run left in the journal)."""
    data["outcome"] = outcome
    if error:
        data["error"] = error
    data["finished"] = now_iso()
    if duration is not None:
        data["duration_s"] = duration
    data.setdefault("duration_s", 0.0)
    return data
