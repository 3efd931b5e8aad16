"""A federated layer's partitions (one per publisher) and what a refresh has to rewrite.

Each publisher's kept rows (``rows.json``) have a ``keys.json`` beside them: only what the
layer-wide decisions need (national id, point, dedupe key, source row) and the digest of the
rows, rebuilt whenever ``rows.json`` is newer. A partition's *fingerprint* digests its rows and
the ids the decisions gave them, so two versions with the same fingerprint for a publisher store
the same rows for it. Each version records its partitions (fingerprint, count, extent); a
refresh derives the next version from the served one by replacing only the partitions whose
fingerprint moved, when the layout is the same and they are few (:func:`choose`).
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd

from geopublish.catalog.models import CollectionSpec, Federation
from geopublish.ledger.files import read_json, write_json
from geopublish.model import PublishedLayer
from geopublish.pipeline import federation_refs as refs

COLUMN = "publisher"  # the stored column naming each row's partition
FORMAT = 1  # bump when the stored rows of a partition change for the same inputs
MAX_SHARE = 0.25  # above this share of rows replaced, rewriting the whole layer is as cheap


def _rule(fed: Federation) -> str:
    fields = fed.dedupe.fields if fed.dedupe else None
    return json.dumps([FORMAT, fed.id_rule, fields])


def keys(rows_file: Path, fed: Federation) -> dict[str, Any]:
    """What the decisions need of one publisher's rows, from the cache when it is current."""
    cache = rows_file.with_name("keys.json")
    stat = rows_file.stat()
    of = [stat.st_size, stat.st_mtime_ns]
    found = read_json(cache)
    if isinstance(found, dict) and found.get("of") == of and found.get("rule") == _rule(fed):
        return found
    raw = rows_file.read_bytes()
    rows = json.loads(raw) or []
    fields = fed.dedupe.fields if fed.dedupe else []
    made = {
        "of": of,
        "rule": _rule(fed),
        "rows": hashlib.sha256(raw).hexdigest(),
        "base": ["-".join(r["values"].get(f, "") for f in fed.id_rule) for r in rows],
        "lon": [r["lon"] for r in rows],
        "lat": [r["lat"] for r in rows],
        "srow": [r["provenance"]["source_row"] for r in rows],
        "key": ["\x1f".join(refs.norm(r["values"].get(f, "")) for f in fields) for r in rows]
        if fields
        else None,
    }
    write_json(cache, made)
    return made


def fingerprint(found: dict[str, Any], ids: list[str | None]) -> str:
    """Digest of a partition as stored: its rows and the id each was given (None: left out)."""
    sha = hashlib.sha256(f"{found['rule']}\n{found['rows']}\n".encode())
    sha.update("\x1e".join("\x00" if i is None else i for i in ids).encode())
    return sha.hexdigest()


def layout(spec: CollectionSpec, columns: dict[str, str]) -> str:
    """Digest of what shapes every stored row: the spec's build sections and the columns."""
    sections = {"source", "conform", "feature_id", "geometry", "dedupe", "crs", "federation"}
    if spec.privacy is not None:
        sections.add("privacy")
    text = spec.model_dump_json(include=sections) + json.dumps(columns, sort_keys=True)
    return hashlib.sha256(f"{FORMAT}\n{text}".encode()).hexdigest()


@dataclass
class Choice:
    """How this build writes the layer: all of it, or the served version with some replaced."""

    mode: str  # "full" or "incremental"
    reason: str
    replaced: list[str] = field(default_factory=list)
    base: PublishedLayer | None = None
    kept_bounds: tuple[float, float, float, float] | None = None

    def report(self) -> dict[str, Any]:
        """What the run report keeps (and the change set step reads back)."""
        out: dict[str, Any] = {"mode": self.mode, "reason": self.reason}
        if self.mode == "incremental":
            assert self.base is not None
            out.update(column=COLUMN, base_version=self.base.version,
                       base_build=self.base.build_id, replaced=self.replaced)  # fmt: skip
        return out


def choose(
    spec: CollectionSpec,
    served: PublishedLayer | None,
    shape: str,
    prints: dict[str, str],
    counts: dict[str, int],
    allowed: bool = True,
) -> Choice:
    """Full or incremental; incremental only when its result is the full build's."""
    if served is None:
        return Choice("full", "no version is served")
    if not allowed:
        return Choice("full", "GEOPUBLISH_FEDERATION_INCREMENTAL is off")
    if spec.privacy is not None:
        return Choice("full", "a privacy treatment needs the whole layer")
    parts = served.partitions or {}
    if parts.get("layout") != shape:
        reason = "the served version records no partitions" if not parts else "the layout changed"
        return Choice("full", reason)
    old = parts.get("parts") or {}
    replaced = sorted({s for s, fp in prints.items() if (old.get(s) or {}).get("fp") != fp}
                      | (old.keys() - prints.keys()))  # fmt: skip
    rows = sum(counts.get(s, 0) + (old.get(s) or {}).get("count", 0) for s in replaced)
    total = max(served.count, 1)
    if rows > MAX_SHARE * total:
        return Choice(
            "full",
            f"{len(replaced)} of {len(prints)} publishers changed, {rows} rows to replace "
            f"(more than {MAX_SHARE:.0%} of {served.count})",
        )
    kept = [old[s]["bounds"] for s in old.keys() - set(replaced) if old[s].get("bounds")]
    bounds = None
    if kept:
        bounds = (min(b[0] for b in kept), min(b[1] for b in kept),
                  max(b[2] for b in kept), max(b[3] for b in kept))  # fmt: skip
    reason = f"{len(replaced)} of {len(prints)} publishers changed ({rows} rows)"
    return Choice("incremental", reason, replaced, served, bounds)


@dataclass
class Partitioned:
    """A build's partitions: its choice, fingerprints, and what the store was given."""

    choice: Choice
    shape: str
    prints: dict[str, str]
    written: dict[str, list] = field(default_factory=dict)

    def record(self, count: int) -> dict[str, Any] | None:
        """The partitions of the version this build makes (see :func:`record`)."""
        return record(self.shape, self.prints, self.written, self.choice, count)


def cover(parts: dict[str, list], gdf: gpd.GeoDataFrame) -> None:
    """Count and extent of each partition in a written batch (``[count, minx, ...]``)."""
    if not len(gdf):
        return
    bounds = gdf.geometry.bounds
    bounds["n"] = 1
    grouped = bounds.groupby(gdf[COLUMN].to_numpy()).agg(
        {"n": "sum", "minx": "min", "miny": "min", "maxx": "max", "maxy": "max"}
    )
    for slug, (n, minx, miny, maxx, maxy) in zip(
        grouped.index, grouped.itertuples(index=False), strict=True
    ):
        was = parts.get(slug)
        box = [minx, miny, maxx, maxy]
        if was is not None:
            box = [min(was[1], minx), min(was[2], miny), max(was[3], maxx), max(was[4], maxy)]
        parts[slug] = [int(n) + (was[0] if was else 0), *box]


def record(
    shape: str, prints: dict[str, str], written: dict[str, list], choice: Choice, count: int
) -> dict[str, Any] | None:
    """The partitions of the new version: kept ones as served, the others as written.

    None (the next build is then a full one) when the counts do not add up to the version's.
    """
    old = ((choice.base.partitions or {}).get("parts") or {}) if choice.base else {}
    parts: dict[str, Any] = {}
    for slug, fp in prints.items():
        if choice.mode == "incremental" and slug not in choice.replaced:
            parts[slug] = old[slug]
            continue
        n, *box = written.get(slug) or [0, math.nan, math.nan, math.nan, math.nan]
        finite = all(math.isfinite(v) for v in box)
        parts[slug] = {"fp": fp, "count": n, "bounds": box if finite else None}
    if sum(p["count"] for p in parts.values()) != count:
        return None
    return {"column": COLUMN, "layout": shape, "parts": parts}
