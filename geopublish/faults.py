"""Test-only crash points: ``GEOPUBLISH_KILL_AT=<point>`` kills the process there with SIGKILL.

The crash tests name a point of a build or refresh (no timing involved) and check what the
next run makes of it. ``<point>:<n>`` kills at the n-th time the point is reached (e.g.
``write:2``: while the second batch is written). Unset, a point costs one dictionary lookup.
"""

from __future__ import annotations

import os
import signal

POINTS = ("read", "write", "index", "rename", "swap", "changes", "report", "config")
_SEEN: dict[str, int] = {}


def crash_point(name: str) -> None:
    """Die here when the environment names this point (and its occurrence)."""
    wanted = os.environ.get("GEOPUBLISH_KILL_AT")
    if not wanted:
        return
    point, _, nth = wanted.partition(":")
    if point != name:
        return
    _SEEN[name] = _SEEN.get(name, 0) + 1
    if _SEEN[name] >= int(nth or 1):
        os.kill(os.getpid(), signal.SIGKILL)
