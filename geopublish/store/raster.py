"""Raster backgrounds: versioned Cloud Optimised GeoTIFFs behind a ``current.tif`` symlink.

The same contract as the feature stores: a staging file written by the raster build,
``publish`` moving it in as the next version (its :class:`PublishedLayer` record in a JSON
file beside it) and swapping the link, ``rollback``, ``prune``, ``drop``, ``cleanup``. A raster
has no feature ids: its change sets list none.
"""

from __future__ import annotations

import json
from pathlib import Path

from geopublish.model import PublishedLayer
from geopublish.store.base import Staged, Store
from geopublish.store.files import VersionedFiles


class RasterStore(Store):
    """COG versions per collection; each version's record in a JSON file beside it."""

    kind = "raster"

    def __init__(self, root: Path, keep_versions: int = 5) -> None:
        self.files = VersionedFiles(root, ".tif")
        self.keep = max(1, keep_versions)

    def stage(self, collection: str) -> Staged:
        """A fresh staging path for the raster build of this process."""
        return Staged(collection, str(self.files.staging(collection)))

    def publish(self, staged: Staged, layer: PublishedLayer) -> PublishedLayer:
        """Move the staged COG in as the next version and point ``current.tif`` at it."""
        self.files.publish(staged.collection, Path(staged.location), layer.record())
        return self.published(staged.collection)

    def discard(self, staged: Staged) -> None:
        """Remove a staging file."""
        Path(staged.location).unlink(missing_ok=True)

    def _version(self, collection: str, path: Path, current: Path | None) -> PublishedLayer:
        sidecar = self.files.sidecar(path)
        try:
            record = json.loads(sidecar.read_text(encoding="utf-8"))
        except (OSError, ValueError):  # a version published without its record
            record = {"collection": collection, "build_id": path.stem, "built_at": ""}
        return PublishedLayer.model_validate({**record, "kind": "coverage"}).placed(
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
        """Serve kept version ``number`` again."""
        kept = self._kept(collection, number)
        assert kept.location is not None
        self.files.point(collection, Path(kept.location).name)
        return self.published(collection)

    def drop(self, collection: str, number: int) -> None:
        """Delete a kept version (never the served one)."""
        self.files.drop(collection, number)

    def hashes(self, collection: str, number: int | None = None) -> dict[str, str]:
        """Rasters have no feature ids."""
        return {}

    def cleanup(self, collection: str) -> list[str]:
        """Remove staging files and temporaries whose writer process is gone."""
        return self.files.cleanup(collection)
