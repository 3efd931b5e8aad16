"""Tell someone when a refresh is refused or fails: POST the run record as JSON."""

from __future__ import annotations

import logging
from typing import Any

import requests

LOG = logging.getLogger("geopublish.refresh")


def notify(url: str | None, record: dict[str, Any], *, timeout: float = 10.0) -> bool:
    """POST ``record`` to ``url``; never raises (a dead webhook must not fail the run)."""
    if not url:
        return False
    try:
        resp = requests.post(url, json=record, timeout=timeout)
        resp.raise_for_status()
    except requests.RequestException as exc:
        LOG.warning("%s: webhook %s failed: %s", record.get("collection"), url, exc)
        return False
    return True
