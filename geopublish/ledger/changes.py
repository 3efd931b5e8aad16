"""Change sets: the feature ids added, modified and removed at each publication.

One JSON file per publication (or rollback) in ``var/history/<id>/changes/<seq>.json``,
``seq`` increasing by one each time, so a client that read up to ``seq`` N asks for the
ones after N. Ids come from the store's id -> content hash map of each version.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from geopublish.ledger.files import write_json

KEEP_CHANGES = 200
NAME = re.compile(r"^(\d{6})\.json$")


def diff(before: dict[str, str], after: dict[str, str]) -> dict[str, list[str]]:
    """Ids only in ``after``, in both with another hash, only in ``before`` (sorted)."""
    added = sorted(after.keys() - before.keys())
    removed = sorted(before.keys() - after.keys())
    modified = sorted(i for i in after.keys() & before.keys() if after[i] != before[i])
    return {"added": added, "modified": modified, "removed": removed}


class ChangeLog:
    """The change sets of one collection."""

    def __init__(self, var_dir: Path, collection: str) -> None:
        self.collection = collection
        self.folder = var_dir / "history" / collection / "changes"

    def _numbers(self) -> list[int]:
        if not self.folder.is_dir():
            return []
        found = (NAME.match(p.name) for p in self.folder.iterdir())
        return sorted(int(m.group(1)) for m in found if m)

    def record(
        self,
        before: dict[str, str],
        after: dict[str, str],
        *,
        version: int,
        previous_version: int | None,
        info: dict[str, Any],
    ) -> dict[str, Any]:
        """Write the change set of one publication; return its counts.

        Recording the same publication again (same version and build, the newest change
        set) writes nothing: a run recovered after a kill gets exactly one change set.
        """
        numbers = self._numbers()
        latest = self.get(numbers[-1]) if numbers else None
        if (
            latest is not None
            and latest.get("version") == version
            and latest.get("build_id") == info.get("build_id")
            and latest.get("trigger") == info.get("trigger")
        ):
            return {"seq": latest["seq"], **latest["counts"]}
        seq = (numbers[-1] if numbers else 0) + 1
        ids = diff(before, after)
        counts = {k: len(v) for k, v in ids.items()}
        change = {
            "seq": seq,
            "collection": self.collection,
            "version": version,
            "previous_version": previous_version,
            **info,
            "counts": counts,
            **ids,
        }
        write_json(self.folder / f"{seq:06d}.json", change, point="changes-write")
        for old in numbers[: max(0, len(numbers) + 1 - KEEP_CHANGES)]:
            (self.folder / f"{old:06d}.json").unlink(missing_ok=True)
        return {"seq": seq, **counts}

    def get(self, seq: int) -> dict[str, Any] | None:
        """One full change set, or None when unknown or pruned."""
        try:
            return json.loads((self.folder / f"{seq:06d}.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None

    def latest(self) -> dict[str, Any] | None:
        """The newest change set."""
        numbers = self._numbers()
        return self.get(numbers[-1]) if numbers else None

    def since(self, seq: int, *, ids: bool, limit: int = 100) -> list[dict[str, Any]]:
        """Change sets after ``seq``, oldest first; without ``ids`` only their counts."""
        out = []
        for number in [n for n in self._numbers() if n > seq][:limit]:
            change = self.get(number)
            if change is None:
                continue
            if not ids:
                for key in ("added", "modified", "removed"):
                    change.pop(key, None)
            out.append(change)
        return out
