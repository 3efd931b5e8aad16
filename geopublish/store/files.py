"""Numbered version files behind an atomically replaced ``current`` symlink.

``<root>/<collection>/v000042<suffix>`` files never change once published; ``current<suffix>``
points at the served one. Replacing the symlink with ``os.replace`` is atomic: a reader opens
the old or the new version, never a partial one. Temporary names carry the writer's process
id (``.staging-<pid>…``, ``.current-<pid>``, ``.v000042.json.<pid>``), so ``cleanup`` removes
exactly what a dead process left.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

from geopublish.faults import crash_point
from geopublish.model import PublishedLayer
from geopublish.procs import other_alive
from geopublish.store.base import Staged, Store

LEFTOVER = re.compile(r"^\.+(?:staging|current)-(\d+)|^\.v\d{6}\.json\.(\d+)$")


class VersionedFiles:
    """The version files of every collection of one store, for one file suffix."""

    def __init__(self, root: Path, suffix: str) -> None:
        self.root = root
        self.suffix = suffix
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

    def sidecar(self, path: Path) -> Path:
        """The JSON record beside a version file."""
        return path.with_suffix(".json")

    def publish(self, collection: str, staged: Path, record: dict[str, Any] | None = None) -> int:
        """Move ``staged`` in as the next version and point ``current`` at it.

        ``record``, when given, is written first as ``v000042.json`` beside the version.
        """
        number = max([n for n, _ in self.numbered(collection)], default=0) + 1
        final = self.folder(collection) / f"v{number:06d}{self.suffix}"
        if record is not None:
            sidecar = self.sidecar(final)
            tmp = sidecar.with_name(f".{sidecar.name}.{os.getpid()}")
            tmp.write_text(json.dumps(record, ensure_ascii=False, indent=2), encoding="utf-8")
            os.replace(tmp, sidecar)
        with open(staged, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(staged, final)
        crash_point("rename")
        self.point(collection, final.name)
        crash_point("swap")
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

    def drop(self, collection: str, number: int) -> None:
        """Delete one version file and its record, unless it is the served one."""
        for found, path in self.numbered(collection):
            if found == number and path != self.current(collection):
                path.unlink(missing_ok=True)
                self.sidecar(path).unlink(missing_ok=True)

    def cleanup(self, collection: str) -> list[str]:
        """Remove temporary files (staging copies, links, records) whose writer is gone."""
        removed: list[str] = []
        folder = self.folder(collection)
        if not folder.is_dir():
            return removed
        for path in folder.iterdir():
            match = LEFTOVER.match(path.name)
            if not match:
                continue
            pid = int(match.group(1) or match.group(2))
            if other_alive(pid):
                continue
            path.unlink(missing_ok=True)
            removed.append(str(path))
        return removed


class FileStore(Store):
    """A store whose versions are files behind a ``current`` link (GeoPackage, rasters).

    Subclasses set ``files`` and say how a version file's record is read (:meth:`_record`).
    """

    files: VersionedFiles

    def _record(self, collection: str, path: Path) -> dict[str, Any]:
        """The PublishedLayer record written beside (or inside) one version file."""
        raise NotImplementedError

    def _version(self, collection: str, path: Path, current: Path | None) -> PublishedLayer:
        return PublishedLayer.model_validate(self._record(collection, path)).placed(
            version=int(path.stem[1:]),
            current=path == current,
            store=self.kind,
            location=str(path),
            served=str(self.files.link(collection)),
        )

    def current(self, collection: str) -> PublishedLayer | None:
        """The served version, if any."""
        path = self.files.current(collection)
        return self._version(collection, path, path) if path else None

    def versions(self, collection: str) -> list[PublishedLayer]:
        """Kept versions, oldest first."""
        current = self.files.current(collection)
        return [self._version(collection, p, current) for _, p in self.files.numbered(collection)]

    def rollback(self, collection: str, number: int) -> PublishedLayer:
        """Point the ``current`` link at a kept version."""
        kept = self._kept(collection, number)
        assert kept.location is not None
        self.files.point(collection, Path(kept.location).name)
        return self.published(collection)

    def drop(self, collection: str, number: int) -> None:
        """Delete a kept version file and its record (never the served one)."""
        self.files.drop(collection, number)

    def discard(self, staged: Staged) -> None:
        """Remove a staging file."""
        Path(staged.location).unlink(missing_ok=True)

    def cleanup(self, collection: str) -> list[str]:
        """Remove staging files and temporaries whose writer process is gone."""
        return self.files.cleanup(collection)
