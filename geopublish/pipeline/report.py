"""The JSON build report: what was read, done, dropped and published, and how long it took."""

from __future__ import annotations

import json
import os
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


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
        """Close the report with an outcome: published, unchanged, refused or failed."""
        self.data["outcome"] = outcome
        if error:
            self.data["error"] = error
        self.data["finished"] = now_iso()
        self.data["duration_s"] = round(time.monotonic() - self.started, 3)
        return self.data

    def write(self, reports_dir: Path) -> Path:
        """Write ``<build_id>.json`` and replace ``latest.json`` atomically."""
        folder = reports_dir / self.data["collection"]
        folder.mkdir(parents=True, exist_ok=True)
        text = json.dumps(self.data, indent=2, ensure_ascii=False, default=str) + "\n"
        path = folder / f"{self.data['build_id']}.json"
        path.write_text(text, encoding="utf-8")
        tmp = folder / f".latest-{os.getpid()}.json"
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, folder / "latest.json")
        return path
