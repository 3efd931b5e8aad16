"""The build's threads: vectorised work in chunks, and stages that run one batch ahead.

shapely's vectorised functions (GEOS), pyproj's transforms (PROJ) and WKB encoding run with the
GIL released, so a batch cut into a few contiguous chunks (:func:`pmap`) uses every core;
results come back in input order, identical to one call on the whole array. :func:`prefetch`
runs a generator one item ahead in its own thread, so the stages of a build (read, normalise,
identify, write) overlap. The wiring calls :func:`configure` with the validated
``Settings.threads`` (``GEOPUBLISH_THREADS``); unconfigured, the usable cores up to 4 are used;
1 turns both off. The geometry kernels run in these threads live in :mod:`geopublish.kernels`.

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

MIN_CHUNK = 2_000  # below this, thread hand-off costs more than it saves
M_ARENA_MAX = -8  # glibc mallopt parameter
_pool: ThreadPoolExecutor | None = None


@functools.cache
def cap_arenas() -> None:
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


_CONFIGURED: list[int | None] = [None]


def configure(count: int | None) -> None:
    """Use ``count`` threads per vectorised call (None: the usable cores, at most 4)."""
    if count is not None and count < 1:
        raise ValueError(f"threads {count!r}: expected a whole number >= 1")
    _CONFIGURED[0] = count


def threads() -> int:
    """Threads used for one vectorised call."""
    if _CONFIGURED[0] is not None:
        return _CONFIGURED[0]
    return max(1, min(len(os.sched_getaffinity(0)), 4))


def pmap(func: Callable[[np.ndarray], Any], values: np.ndarray) -> np.ndarray:
    """``func(values)`` computed on contiguous chunks in threads, concatenated in order."""
    parts = min(threads(), len(values) // MIN_CHUNK)
    if parts <= 1:
        return np.asarray(func(values))
    global _pool
    if _pool is None or _pool._max_workers < parts:
        cap_arenas()
        _pool = ThreadPoolExecutor(max_workers=parts, thread_name_prefix="geopublish-geom")
    chunks = np.array_split(values, parts)
    return np.concatenate([np.asarray(r) for r in _pool.map(func, chunks)])


_DONE = object()


def prefetch[T](items: Iterator[T]) -> Iterator[T]:
    """Items of ``items`` computed one ahead in a thread, so producing overlaps consuming.

    The producer's exceptions are raised in the consumer, at the item where they happened; a
    consumer that stops early (error, kill) stops the producer at its next item.
    """
    if threads() <= 1:
        yield from items
        return
    cap_arenas()
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
