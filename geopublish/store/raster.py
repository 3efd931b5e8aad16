"""Raster backgrounds: versioned Cloud Optimised GeoTIFFs behind a ``current.tif`` symlink.

The same contract as the feature stores: a staging file written by the raster build,
``publish`` moving it in as the next version (its :class:`PublishedLayer` record in a JSON
file beside it) and swapping the link, ``rollback``, ``prune``, ``drop``, ``cleanup``. A raster
has no feature ids: its change sets list none.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from geopublish.model import PublishedLayer
from geopublish.store.base import Partition, Staged
from geopublish.store.files import FileStore, VersionedFiles


class RasterStore(FileStore):
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

    def _record(self, collection: str, path: Path) -> dict[str, Any]:
        try:
            record = json.loads(self.files.sidecar(path).read_text(encoding="utf-8"))
        except (OSError, ValueError):  # a version published without its record
            record = {"collection": collection, "build_id": path.stem, "built_at": ""}
        return {**record, "kind": "coverage"}

    def hashes(
        self, collection: str, number: int | None = None, where: Partition | None = None
    ) -> dict[str, str]:
        """Rasters have no feature ids."""
        return {}
