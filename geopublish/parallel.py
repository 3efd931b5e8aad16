"""The build's threads: vectorised geometry work in chunks, and stages that run one batch ahead.

shapely's vectorised functions (GEOS), pyproj's transforms (PROJ) and WKB encoding run with the
GIL released, so a batch cut into a few contiguous chunks (:func:`pmap`) uses every core;
results come back in input order, identical to one call on the whole array. :func:`prefetch`
runs a generator one item ahead in its own thread, so the stages of a build (read, normalise,
identify, write) overlap. ``GEOPUBLISH_THREADS`` sets the number of threads per vectorised call
(default: the usable cores, at most 4); 1 turns both off.

Before the first thread starts, glibc is asked for at most two malloc arenas (as
``MALLOC_ARENA_MAX=2`` would): by default each thread gets its own arena, whose freed pages
glibc keeps, and a 1M-polygon build then peaked about 110 MB higher (bench/RESULTS.md).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os
import queue
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pyproj
import shapely

MIN_CHUNK = 2_000  # below this, thread hand-off costs more than it saves
M_ARENA_MAX = -8  # glibc mallopt parameter
_pool: ThreadPoolExecutor | None = None


@functools.cache
def _cap_arenas() -> None:
    """Ask glibc for two malloc arenas at most, once per process.

    A no-op off glibc or when the user set ``MALLOC_ARENA_MAX``.
    """
    if "MALLOC_ARENA_MAX" in os.environ:
        return
    name = ctypes.util.find_library("c")
    if not name:
        return
    try:
        ctypes.CDLL(name).mallopt(M_ARENA_MAX, 2)
    except (OSError, AttributeError):  # not glibc
        return


def threads() -> int:
    """Threads used for one vectorised call."""
    configured = os.environ.get("GEOPUBLISH_THREADS", "").strip()
    if configured:
        if not configured.isdigit():
            raise ValueError(
                f"GEOPUBLISH_THREADS={configured!r}: expected a whole number of threads, e.g. 2"
            )
        return max(1, int(configured))
    return max(1, min(len(os.sched_getaffinity(0)), 4))


def pmap(func: Callable[[np.ndarray], Any], values: np.ndarray) -> np.ndarray:
    """``func(values)`` computed on contiguous chunks in threads, concatenated in order."""
    parts = min(threads(), len(values) // MIN_CHUNK)
    if parts <= 1:
        return np.asarray(func(values))
    global _pool
    if _pool is None or _pool._max_workers < parts:
        _cap_arenas()
        _pool = ThreadPoolExecutor(max_workers=parts, thread_name_prefix="geopublish-geom")
    chunks = np.array_split(values, parts)
    return np.concatenate([np.asarray(r) for r in _pool.map(func, chunks)])


@functools.lru_cache(maxsize=16)
def transformer(source: str, target: str, always_xy: bool = True) -> pyproj.Transformer:
    """One transformer per pair of CRS (WKT) and axis rule, kept for the process.

    pyproj >= 3.1 transformers are thread-safe, so build threads and server threads share them.
    """
    return pyproj.Transformer.from_crs(source, target, always_xy=always_xy)


def transform(geoms: np.ndarray, how: pyproj.Transformer) -> np.ndarray:
    """Geometries with every coordinate passed through ``how`` (Z kept), in this thread."""
    out = np.empty_like(geoms)
    has_z = shapely.has_z(geoms)
    for mask, include_z in ((~has_z, False), (has_z, True)):
        if not mask.any():
            continue
        coords = shapely.get_coordinates(geoms[mask], include_z=include_z)
        moved = np.array(how.transform(*coords.T)).T
        out[mask] = shapely.set_coordinates(geoms[mask].copy(), moved)
    return out


def reproject(geoms: np.ndarray, source: pyproj.CRS, target: pyproj.CRS) -> np.ndarray:
    """Geometries transformed like ``GeoSeries.to_crs`` (always x/y order, Z kept), in threads."""
    how = transformer(source.to_wkt(), target.to_wkt())
    return pmap(lambda chunk: transform(chunk, how), geoms)


def to_wkb(geoms: np.ndarray) -> np.ndarray:
    """2D little-endian WKB of each geometry (None for missing)."""
    return pmap(lambda a: shapely.to_wkb(a, output_dimension=2, byte_order=1), geoms)


_DONE = object()


def prefetch[T](items: Iterator[T]) -> Iterator[T]:
    """Items of ``items`` computed one ahead in a thread, so producing overlaps consuming.

    The producer's exceptions are raised in the consumer, at the item where they happened; a
    consumer that stops early (error, kill) stops the producer at its next item.
    """
    if threads() <= 1:
        yield from items
        return
    _cap_arenas()
    slot: queue.Queue[Any] = queue.Queue(maxsize=1)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        slot.put((item, None), timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            slot.put((_DONE, None))
        except BaseException as exc:  # handed to the consumer, raised there
            slot.put((_DONE, exc))

    worker = threading.Thread(target=produce, name="geopublish-prefetch", daemon=True)
    worker.start()
    try:
        while True:
            item, error = slot.get()
            if error is not None:
                raise error
            if item is _DONE:
                return
            yield item
    finally:
        stop.set()
        while worker.is_alive():
            try:
                slot.get_nowait()
            except queue.Empty:
                worker.join(0.05)
