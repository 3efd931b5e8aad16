"""Whether the process that left a marker, a lock or a temporary file is still running."""

from __future__ import annotations

import os


def other_alive(pid: int) -> bool:
    """A live process other than this one has id ``pid`` (0 and our own id are not)."""
    if not pid or pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True
