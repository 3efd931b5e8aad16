"""The downloads of a staged version, written before its swap (see publish/downloads.py).

A large layer's (``Settings.downloads_child_from`` features or more) are written in a fresh
child process (``spawn``): the build process has reached its own high-water mark by then (the
ids and dedupe keys it kept, glibc's retained pages), and the writers' buffers would stack on
top of it. The child opens the store from the same settings, streams the staged copy and
exits, giving its memory back; its peak RSS goes in the report. It dies with the build
process (a build killed by a timeout leaves no writer running).
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from geopublish import parallel
from geopublish.errors import PublishError
from geopublish.model import PublishedLayer
from geopublish.procs import die_with_parent, peak_rss_mb
from geopublish.publish.downloads import Downloads
from geopublish.settings import Settings
from geopublish.store import Partition, Staged, open_store


def write_downloads(
    settings: Settings,
    staged: Staged,
    layer: PublishedLayer,
    path: dict[str, Any] | None = None,
    parent: int | None = None,
) -> dict[str, Any]:
    """Write every format of ``layer`` from its staging copy; the manifest and the figures.

    After an incremental build (``path``, the report's ``build_path``) whose base version has
    its downloads, each file is the base's with the replaced partitions' rows replaced.
    ``parent``: the build process's id, when this runs in the child.
    """
    if parent is not None:
        die_with_parent(parent)
        parallel.cap_arenas()
    started = time.monotonic()
    steps: dict[str, dict[str, float | None]] = {}

    def step(key: str) -> None:
        done = sum(s["seconds"] or 0.0 for s in steps.values())
        seconds = round(time.monotonic() - started - done, 3)
        steps[key] = {"seconds": seconds, "peak_rss_mb": peak_rss_mb()}

    store = open_store(settings)
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
        batch_size=settings.batch_size,
        on_step=step,
    )
    seconds = round(time.monotonic() - started, 3)
    process = {"peak_rss_mb": peak_rss_mb(), "seconds": seconds, "steps": steps}
    return {"manifest": manifest, "process": process}


def make_downloads(
    settings: Settings, staged: Staged, layer: PublishedLayer, path: dict[str, Any] | None = None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Write every download format of ``layer``, in a child process for a large layer.

    Returns the files' summary (size, SHA-256 per format) and the writing process's figures:
    ``child``, peak RSS and time, in total and after each format (a high-water mark only
    grows: a step's figure is the peak up to its end). The child opens the store from
    ``settings`` and reads the same staged copy (the build's staging connection stays here).
    """
    if layer.count < settings.downloads_child_from:
        done = write_downloads(settings, staged, layer, path)
        done["process"]["child"] = False
        return _summary(done["manifest"]), done["process"]
    plain = dataclasses.replace(staged, extra={})  # a connection does not cross processes
    context = multiprocessing.get_context("spawn")
    try:
        with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
            done = pool.submit(write_downloads, settings, plain, layer, path, os.getpid()).result()
    except BrokenProcessPool as exc:
        raise PublishError(
            f"collection {layer.collection!r}: the process writing the downloads died "
            f"(killed, or out of memory): {exc}"
        ) from exc
    done["process"]["child"] = True
    return _summary(done["manifest"]), done["process"]


def _summary(manifest: dict[str, Any]) -> dict[str, Any]:
    return {k: {"size": v["size"], "sha256": v["sha256"]} for k, v in manifest["files"].items()}
