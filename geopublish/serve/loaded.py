"""Which configuration the running server loaded, so a reload that did not happen is retried.

Each worker records, when it starts, the SHA-256 of the pygeoapi configuration it read in
``var/serve/loaded.json``. A later ``publish`` compares it with the file on disk: a config
written by a run killed before its SIGHUP is then still sent to the server.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path


def marker(var_dir: Path) -> Path:
    """Where the workers record the configuration they loaded."""
    return var_dir / "serve" / "loaded.json"


def digest(path: Path) -> str | None:
    """SHA-256 of a configuration file, or None when it is missing."""
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


def record(var_dir: Path, config_path: Path) -> None:
    """Record the configuration this worker loaded (called once at worker start)."""
    path = marker(var_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    # One small write, no temporary file: a worker killed while booting leaves nothing behind,
    # and a torn marker only reads as "unknown", which makes the next publish reload again.
    data = json.dumps({"sha256": digest(config_path), "pid": os.getpid()}).encode()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


def loaded(var_dir: Path) -> str | None:
    """SHA-256 of the configuration the server last loaded, or None."""
    try:
        return json.loads(marker(var_dir).read_text()).get("sha256")
    except (OSError, ValueError, AttributeError):
        return None
