"""Scores of a layer and of each publisher of a federated one: see ledger/scores.py."""

from __future__ import annotations

import json
import logging
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from geopublish.catalog.models import CollectionSpec
from geopublish.catalog.publishers import load_publishers
from geopublish.ledger.files import read_json
from geopublish.ledger.scores import score_layer, score_publisher
from geopublish.pipeline.federated import folder
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


def reference_count(spec: CollectionSpec, settings: Settings, key: str | None = None) -> int | None:
    """The declared reference count of a layer (or of ``<layer>/<publisher>``), read in place."""
    declared = references(settings).get(key or spec.cid)
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
    finally:
        if spec.federation is not None:
            score_publishers(spec, settings)


def _events(path: Path) -> list[dict[str, Any]]:
    """A publisher's ``history.jsonl`` (lines that do not parse are skipped)."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return []
    out = []
    for line in lines:
        try:
            found = json.loads(line)
        except ValueError:
            continue
        if isinstance(found, dict) and "at" in found and "outcome" in found:
            out.append(found)
    return out


def score_publishers(spec: CollectionSpec, settings: Settings) -> dict[str, dict[str, Any]]:
    """Compute and record the scores of every publisher of a federated layer; never raises."""
    out: dict[str, dict[str, Any]] = {}
    try:
        found = load_publishers(spec, settings.collections_dir)
    except Exception as exc:
        LOG.warning("%s: publisher scores not computed: %s", spec.cid, exc)
        return out
    layer_interval = spec.refresh.interval if spec.refresh else None
    for slug, publisher in found.items.items():
        home = folder(settings, spec.cid) / slug
        try:
            state = read_json(home / "state.json") or {}
            outcome = state.get("outcome")
            out[slug] = score_publisher(
                settings.var_dir,
                spec.cid,
                slug,
                name=publisher.name,
                events=_events(home / "history.jsonl"),
                check=None if outcome is None else outcome != "failed",
                checked=state.get("checked"),
                outcome=outcome,
                interval=(publisher.refresh.interval if publisher.refresh else None)
                or layer_interval,
                count=(state.get("summary") or {}).get("valid"),
                reference=reference_count(spec, settings, f"{spec.cid}/{slug}"),
            )
        except Exception as exc:  # bookkeeping: logged, never raised
            LOG.warning("%s: scores of publisher %r not computed: %s", spec.cid, slug, exc)
    return out
