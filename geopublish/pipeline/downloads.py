"""The downloads of a staged version, written before its swap (see publish/downloads.py)."""

from __future__ import annotations

from typing import Any

from geopublish.model import PublishedLayer
from geopublish.publish.downloads import Downloads
from geopublish.settings import Settings
from geopublish.store import FeatureStore, Partition, Staged


def make_downloads(
    settings: Settings,
    store: FeatureStore,
    staged: Staged,
    layer: PublishedLayer,
    path: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Write every download format of ``layer`` from its staging copy; the files' summary.

    After an incremental build (``path``, the report's ``build_path``) whose base version has
    its downloads, each file is the base's with the replaced partitions' rows replaced.
    """
    downloads = Downloads(settings.downloads_dir)
    where, base = None, None
    if path and path.get("mode") == "incremental":
        if downloads.manifest(layer.collection, path["base_build"]) is not None:
            where = Partition(path["column"], tuple(path["replaced"]))
            base = (path["base_build"], where.column, where.values)
    manifest = downloads.write(
        layer.collection,
        layer.build_id,
        store.scan(staged, settings.batch_size, where),
        geometry_type=layer.geometry_type or "Geometry",
        storage_crs=layer.storage_crs,
        bbox=layer.bbox,
        base=base,
    )
    return {k: {"size": v["size"], "sha256": v["sha256"]} for k, v in manifest["files"].items()}
