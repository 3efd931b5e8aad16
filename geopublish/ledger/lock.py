"""One build of a layer at a time.

An flock held for the whole run, released by the kernel even when the process is killed.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from geopublish.errors import LockedError


@contextmanager
def layer_lock(locks_dir: Path, collection: str) -> Iterator[None]:
    """Hold the lock of ``collection`` or raise LockedError at once."""
    locks_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(locks_dir / f"{collection}.lock", os.O_CREAT | os.O_RDWR, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise LockedError(
                f"collection {collection!r}: another build or refresh is running"
            ) from exc
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        yield
    finally:
        os.close(fd)
