"""Run history of a layer: one JSON line per run, the last source state, a running marker.

``var/history/<id>/runs.jsonl`` gets a line per run (unchanged, published, refused, failed);
``state.json`` is the source fingerprint of the last build that reached the gates, which the
next refresh compares against; ``running.json`` exists while a run holds the layer lock, so
a run killed with SIGKILL is recorded as failed by the next one.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from geopublish.ledger.files import read_json, write_json
from geopublish.procs import other_alive

KEEP_RUNS = 1000
VALIDITY_KEYS = ("valid_as_read", "checked_geometries", "repaired")
RUN_KEYS = (
    "build_id",
    "collection",
    "trigger",
    "started",
    "finished",
    "outcome",
    "duration_s",
    "version",
    "error",
    "note",
    "source_ok",
)


class RunLog:
    """The history folder of one collection."""

    def __init__(self, var_dir: Path, collection: str) -> None:
        self.collection = collection
        self.folder = var_dir / "history" / collection
        self.runs = self.folder / "runs.jsonl"
        self.marker = self.folder / "running.json"

    def state(self) -> dict[str, Any] | None:
        """Source state of the last build that reached the gates, if any."""
        state = read_json(self.folder / "state.json")
        return state if isinstance(state, dict) else None

    def save_state(self, state: dict[str, Any]) -> None:
        """Remember the source a build was attempted from."""
        write_json(self.folder / "state.json", state)

    def begin(
        self, build_id: str, trigger: str, started: str, *, recovered: str | None = None
    ) -> str | None:
        """Mark a run as started; record a previous run that was killed. Returns its note.

        ``recovered`` is the build id of a killed run the journal already recorded as
        published: it is not recorded as failed too.
        """
        note = None
        old = read_json(self.marker)
        if isinstance(old, dict) and old.get("build_id") == recovered:
            old = None
        if isinstance(old, dict) and not other_alive(int(old.get("pid") or 0)):
            note = f"run {old.get('build_id')} was interrupted (process {old.get('pid')} gone)"
            self.append(
                {
                    "build_id": old.get("build_id"),
                    "collection": self.collection,
                    "trigger": old.get("trigger"),
                    "started": old.get("started"),
                    "outcome": "failed",
                    "error": "interrupted: the process ended before the run finished",
                }
            )
        write_json(
            self.marker,
            {"build_id": build_id, "trigger": trigger, "started": started, "pid": os.getpid()},
        )
        return note

    def end(self) -> None:
        """The run is over (whatever its outcome)."""
        self.marker.unlink(missing_ok=True)

    def append(self, record: dict[str, Any]) -> None:
        """Add one run record (one line, appended in a single write)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        line = json.dumps(record, ensure_ascii=False, default=str) + "\n"
        fd = os.open(self.runs, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line.encode("utf-8"))
        finally:
            os.close(fd)
        if self.runs.stat().st_size > KEEP_RUNS * 2000:
            self._trim()

    def _trim(self) -> None:
        lines = self.runs.read_text(encoding="utf-8").splitlines(keepends=True)
        tmp = self.runs.with_name(f".runs.jsonl.{os.getpid()}.tmp")
        tmp.write_text("".join(lines[-KEEP_RUNS:]), encoding="utf-8")
        os.replace(tmp, self.runs)

    def has(self, build_id: str, outcome: str) -> bool:
        """Whether a run of ``build_id`` with ``outcome`` is recorded."""
        return any(
            r.get("build_id") == build_id and r.get("outcome") == outcome for r in self.read(50)
        )

    def read(self, limit: int | None = None) -> list[dict[str, Any]]:
        """Run records, newest first (a line cut short by a kill is skipped)."""
        try:
            lines = self.runs.read_text(encoding="utf-8").splitlines()
        except OSError:
            return []
        out = []
        for line in reversed(lines):
            try:
                out.append(json.loads(line))
            except ValueError:
                continue
            if limit is not None and len(out) >= limit:
                break
        return out


def run_record(report: dict[str, Any]) -> dict[str, Any]:
    """The history line of a finished run, from its report."""
    record = {k: report[k] for k in RUN_KEYS if report.get(k) is not None}
    fingerprint = report.get("source", {}).get("fingerprint") or {}
    record["source"] = {
        "sha256": fingerprint.get("sha256"),
        "http": report.get("source", {}).get("http", []),
    }
    features = report.get("features", {})
    record["counts"] = {
        "read": features.get("read", 0),
        "written": features.get("written", 0),
        **{k: features[k] for k in VALIDITY_KEYS if k in features},
        **(report.get("changes") or {}),
    }
    federation = report.get("federation") or {}
    if federation.get("publishers"):
        record["publishers"] = {
            slug: {k: v for k, v in p.items() if k in ("outcome", "read", "valid", "error")}
            for slug, p in federation["publishers"].items()
        }
    if report.get("gates"):
        record["failed_gates"] = [g["gate"] for g in report["gates"] if not g.get("ok")]
    return record
