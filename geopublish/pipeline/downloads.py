"""The downloads of a staged version, written before its swap (see publish/downloads.py)."""

from __future__ import annotations

from typing import Any

from geopublish.model import PublishedLayer
from geopublish.publish.downloads import Downloads
from geopublish.settings import Settings
from geopublish.store import FeatureStore, Staged


def make_downloads(
    settings: Settings, store: FeatureStore, staged: Staged, layer: PublishedLayer
) -> dict[str, Any]:
    """Write every download format of ``layer`` from its staging copy; the files' summary."""
    manifest = Downloads(settings.downloads_dir).write(
        layer.collection,
        layer.build_id,
        store.scan(staged, settings.batch_size),
        geometry_type=layer.geometry_type or "Geometry",
        storage_crs=layer.storage_crs,
        bbox=layer.bbox,
    )
    return {k: {"size": v["size"], "sha256": v["sha256"]} for k, v in manifest["files"].items()}
