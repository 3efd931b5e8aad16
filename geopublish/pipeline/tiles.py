"""The tile set of a version: built from the staged rows before the swap, pruned with it.

The file is named after the build (``var/tiles/<id>/<build_id>.mbtiles``): the build id is in
the version's record, so whatever version a store serves (after a publication or a rollback)
names its own tile set, and the server never has to be told about a swap. Pruning keeps the
tile sets of the kept versions and of nothing else.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from geopublish.catalog.models import CollectionSpec
from geopublish.model import PublishedLayer, tiles_file
from geopublish.publish import tiles
from geopublish.store import FeatureStore, Staged, Store

LOG = logging.getLogger("geopublish.pipeline")


def build_tiles(
    spec: CollectionSpec,
    tiles_dir: Path,
    store: FeatureStore,
    staged: Staged,
    layer: PublishedLayer,
    batch: int,
) -> dict | None:
    """Tile the staged rows of ``layer``; return what the report keeps (None: not tiled)."""
    if not spec.tiles.enabled or layer.geometry_type is None or layer.id_column is None:
        return None
    plan = tiles.plan(
        spec.cid,
        layer.fields,
        layer.id_column,
        layer.geometry_type,
        layer.storage_crs,
        minzoom=spec.tiles.minzoom,
        maxzoom=spec.tiles.maxzoom,
        attributes=spec.tiles.attributes,
    )
    started = time.perf_counter()
    target = tiles_file(tiles_dir, spec.cid, layer.build_id)
    tiles.build(store.scan(staged, batch), plan, target)
    took = round(time.perf_counter() - started, 3)
    LOG.info("%s: tiles z%d-z%d built in %.1f s", spec.cid, plan.minzoom, plan.maxzoom, took)
    return {
        "file": target.name,
        "minzoom": plan.minzoom,
        "maxzoom": plan.maxzoom,
        "bytes": target.stat().st_size,
        "duration_s": took,
    }


def discard_tiles(tiles_dir: Path, collection: str, build_id: str) -> None:
    """Remove the tile set of a build that will not be served."""
    tiles_file(tiles_dir, collection, build_id).unlink(missing_ok=True)


def prune_tiles(tiles_dir: Path, store: Store, collection: str) -> list[str]:
    """Keep the tile sets of the store's kept versions only."""
    kept = {v.build_id for v in store.versions(collection)}
    return tiles.prune(tiles_dir / collection, kept)
