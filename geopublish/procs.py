"""Whether the process that left a marker, a lock or a temporary file still runs; peak memory."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import re
import signal
from pathlib import Path

PR_SET_PDEATHSIG = 1  # Linux prctl option


def other_alive(pid: int) -> bool:
    """A live process other than this one has id ``pid`` (0 and our own id are not)."""
    if not pid or pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True


def peak_rss_mb() -> float | None:
    """The calling process's resident-memory high-water mark in MB (``VmHWM``; None off Linux).

    Not ``getrusage``: Linux carries the pre-exec image's high-water mark into ``ru_maxrss``,
    so a spawned child would report at least its parent's peak at the fork.
    """
    try:
        status = Path("/proc/self/status").read_text(encoding="ascii")
    except OSError:
        return None
    found = re.search(r"^VmHWM:\s+(\d+) kB", status, re.MULTILINE)
    return round(int(found.group(1)) / 1024, 1) if found else None


def die_with_parent(parent: int) -> None:
    """End this (child) process when ``parent`` ends, so a killed build leaves no writer behind.

    Linux only (``prctl(PR_SET_PDEATHSIG)``); elsewhere a no-op. A parent already gone before
    the call ends the child at once.
    """
    name = ctypes.util.find_library("c")
    if not name:
        return
    try:
        ctypes.CDLL(name).prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL))
    except (OSError, AttributeError):  # not Linux
        return
    if os.getppid() != parent:
        os._exit(1)
