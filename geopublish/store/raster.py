"""Raster backgrounds: versioned Cloud Optimised GeoTIFFs behind a ``current.tif`` symlink."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from geopublish.store.files import VersionedFiles


class RasterStore:
    """COG versions per collection; metadata in a JSON file beside each version."""

    def __init__(self, root: Path, keep_versions: int = 5) -> None:
        self.files = VersionedFiles(root, ".tif", keep_versions)

    def current_meta(self, collection: str) -> dict[str, Any] | None:
        """Metadata of the served version, or None when never built."""
        path = self.files.current(collection)
        if path is None:
            return None
        sidecar = path.with_suffix(".json")
        return json.loads(sidecar.read_text(encoding="utf-8")) if sidecar.is_file() else {}

    def rollback(self, collection: str, number: int) -> None:
        """Serve kept version ``number`` again."""
        names = {n: p.name for n, p in self.files.numbered(collection)}
        if number not in names:
            from geopublish.errors import StoreError

            raise StoreError(
                f"collection {collection!r}: version {number} is not kept; kept: {sorted(names)}"
            )
        self.files.point(collection, names[number])
