"""Scores of a layer after each run (and daily from the scheduler): see ledger/scores.py."""

from __future__ import annotations

import json
import logging
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from geopublish.catalog.models import CollectionSpec
from geopublish.ledger.scores import score_layer
from geopublish.settings import Settings
from geopublish.store import Stores

LOG = logging.getLogger("geopublish.pipeline")
REFERENCES = "references.yml"


def references(settings: Settings) -> dict[str, Any]:
    """``config/references.yml``: collection -> reference file (JSON list) and filter."""
    path = settings.config_dir / REFERENCES
    if not path.is_file():
        return {}
    found = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return found if isinstance(found, dict) else {}


@lru_cache(maxsize=16)
def _count(path: Path, mtime: float, where: tuple[tuple[str, str], ...]) -> int:
    rows = json.loads(path.read_text(encoding="utf-8"))
    return sum(1 for r in rows if all(str(r.get(k)) == v for k, v in where))


def reference_count(spec: CollectionSpec, settings: Settings) -> int | None:
    """The declared reference count of a layer, read in place under the source root."""
    declared = references(settings).get(spec.cid)
    if not isinstance(declared, dict) or "file" not in declared:
        return None
    root = settings.source_root.resolve()
    path = (root / str(declared["file"])).resolve()
    if not path.is_relative_to(root) or not path.is_file():
        LOG.warning("%s: reference file %r not found under the source root", spec.cid, path)
        return None
    where = tuple(sorted((str(k), str(v)) for k, v in (declared.get("where") or {}).items()))
    try:
        return _count(path, path.stat().st_mtime, where)
    except (OSError, ValueError, AttributeError) as exc:
        LOG.warning("%s: reference file %r unreadable: %s", spec.cid, path.name, exc)
        return None


def score(
    spec: CollectionSpec, settings: Settings, stores: Stores, probe: bool | None = None
) -> dict[str, Any] | None:
    """Compute and record the layer's scores; never fails the run that asks."""
    try:
        served = stores.current(spec)
        return score_layer(
            settings.var_dir,
            spec.cid,
            interval=spec.refresh.interval if spec.refresh else None,
            count=served.count if served is not None and not spec.is_raster else None,
            reference=reference_count(spec, settings),
            probe=probe,
        )
    except Exception as exc:  # scores are bookkeeping: a failure is logged, never raised
        LOG.warning("%s: scores not computed: %s", spec.cid, exc)
        return None
