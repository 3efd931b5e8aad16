"""Numbered version files behind an atomically replaced ``current`` symlink.

``<root>/<collection>/v000042<suffix>`` files never change once published; ``current<suffix>``
points at the served one. Replacing the symlink with ``os.replace`` is atomic: a reader opens
the old or the new version, never a partial one.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path


class VersionedFiles:
    """The version files of every collection of one store, for one file suffix."""

    def __init__(self, root: Path, suffix: str, keep: int) -> None:
        self.root = root
        self.suffix = suffix
        self.keep = keep
        self.pattern = re.compile(rf"^v(\d{{6}}){re.escape(suffix)}$")

    def folder(self, collection: str) -> Path:
        """Folder of one collection's versions."""
        return self.root / collection

    def link(self, collection: str) -> Path:
        """The ``current`` symlink."""
        return self.folder(collection) / f"current{self.suffix}"

    def staging(self, collection: str) -> Path:
        """A fresh staging path for this process."""
        folder = self.folder(collection)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f".staging-{os.getpid()}{self.suffix}"
        path.unlink(missing_ok=True)
        return path

    def current(self, collection: str) -> Path | None:
        """The served file, resolved."""
        link = self.link(collection)
        return link.resolve() if link.exists() else None

    def numbered(self, collection: str) -> list[tuple[int, Path]]:
        """Kept versions, oldest first."""
        folder = self.folder(collection)
        if not folder.is_dir():
            return []
        found = [(self.pattern.match(p.name), p) for p in folder.iterdir()]
        return sorted((int(m.group(1)), p) for m, p in found if m)

    def publish(self, collection: str, staged: Path, meta: dict | None = None) -> int:
        """Move ``staged`` in as the next version and point ``current`` at it.

        ``meta``, when given, is written first as ``v000042.json`` beside the version.
        """
        number = max([n for n, _ in self.numbered(collection)], default=0) + 1
        final = self.folder(collection) / f"v{number:06d}{self.suffix}"
        if meta is not None:
            text = json.dumps({**meta, "version": number}, ensure_ascii=False, indent=2)
            final.with_suffix(".json").write_text(text, encoding="utf-8")
        with open(staged, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(staged, final)
        self.point(collection, final.name)
        self.prune(collection)
        return number

    def point(self, collection: str, name: str) -> None:
        """Atomically make ``current`` point at ``name``."""
        folder = self.folder(collection)
        tmp = folder / f".current-{os.getpid()}"
        tmp.unlink(missing_ok=True)
        os.symlink(name, tmp)
        os.replace(tmp, self.link(collection))
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def prune(self, collection: str) -> None:
        """Delete versions beyond the newest ``keep`` (never the served one)."""
        current = self.current(collection)
        versions = self.numbered(collection)
        for _, path in versions[: max(0, len(versions) - self.keep)]:
            if path != current:
                path.unlink(missing_ok=True)
                path.with_suffix(".json").unlink(missing_ok=True)

    def cleanup(self, collection: str) -> list[str]:
        """Remove staging files whose writer process is gone."""
        removed: list[str] = []
        folder = self.folder(collection)
        if not folder.is_dir():
            return removed
        for path in folder.glob(".staging-*"):
            pid = re.match(r"\.staging-(\d+)", path.name)
            if pid and int(pid.group(1)) != os.getpid() and pid_alive(int(pid.group(1))):
                continue
            path.unlink(missing_ok=True)
            removed.append(str(path))
        for path in folder.glob(".current-*"):
            path.unlink(missing_ok=True)
        return removed


def pid_alive(pid: int) -> bool:
    """Whether a process with this id exists (its lock or staging file is not stale)."""
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True
