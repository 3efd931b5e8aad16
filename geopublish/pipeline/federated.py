"""Federated layers: every publisher's file -> mapped, validated rows -> one layer.

Per publisher, in ``var/federation/<layer>/<slug>/``: ``state.json`` (input hash, counts,
outcome), ``rows.json`` (its last good rows, with provenance), ``quarantine.json`` (rows
refused, with reasons) and ``history.jsonl``. An input whose hash did not move is not read
again; a publisher whose read fails, or whose valid share falls by more than
``federation.max_valid_drop``, keeps its last good rows; the others are not affected.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from geopublish.catalog.models import CollectionSpec, Federation, Part, Publisher
from geopublish.catalog.publishers import load_publishers, read_schema
from geopublish.errors import GeopublishError
from geopublish.ledger.files import read_json, write_json
from geopublish.model import PublishedLayer
from geopublish.normalise.federation import map_rows
from geopublish.pipeline import federation_parts as parts
from geopublish.pipeline import federation_refs as refs
from geopublish.pipeline.federation_layer import Consolidation, columns
from geopublish.pipeline.kinds import Plan
from geopublish.pipeline.report import now_iso
from geopublish.settings import Settings
from geopublish.source.publisher import contained, read_table
from geopublish.source.resolve import Resolved, resolve_part
from geopublish.validate.rows import Reference, check_rows


def folder(settings: Settings, cid: str) -> Path:
    """Where a federated layer keeps its publishers' state."""
    return settings.var_dir / "federation" / cid


@dataclass
class Outcome:
    """What happened to one publisher in one run."""

    slug: str
    outcome: str  # published, unchanged, refused, failed
    rows_file: Path | None = None  # its rows in the layer (None: it has none yet)
    summary: dict[str, Any] = field(default_factory=dict)


def publisher_parts(
    spec: CollectionSpec, settings: Settings
) -> tuple[dict[str, Publisher], list[str]]:
    """The layer's valid publishers and the problems of the others."""
    found = load_publishers(spec, settings.collections_dir)
    return found.items, found.problems


def digest(spec: CollectionSpec, settings: Settings) -> str:
    """Hash of the publisher files and the schema: a new publisher is a change."""
    assert spec.federation is not None
    sha = hashlib.sha256()
    pub = settings.collections_dir / spec.federation.publishers
    for path in sorted(pub.glob("*.yml")) if pub.is_dir() else []:
        sha.update(path.name.encode() + b"\0" + path.read_bytes())
    schema = settings.source_root / spec.federation.schema_file
    sha.update(schema.read_bytes() if schema.is_file() else b"-")
    return sha.hexdigest()


def inputs(spec: CollectionSpec, settings: Settings) -> list[tuple[Part, Resolved]]:
    """Every publisher file that resolves (one that does not fails only its publisher)."""
    items, _ = publisher_parts(spec, settings)
    out = []
    for slug, publisher in items.items():
        for part in publisher.parts:
            try:
                out.append((part, resolve_part(part, settings, f"{spec.cid}/{slug}")))
            except GeopublishError:
                continue
    return out


def _hash(files: list[Path], publisher: Publisher, extra: str) -> str:
    sha = hashlib.sha256(publisher.model_dump_json().encode() + extra.encode())
    for file in files:
        with file.open("rb") as handle:
            while chunk := handle.read(1 << 20):
                sha.update(chunk)
    return sha.hexdigest()


def _read(
    spec: CollectionSpec, settings: Settings, publisher: Publisher, schema: dict
) -> tuple[list, list[Path], list[Resolved]]:
    fed = spec.federation
    assert fed is not None
    what = f"collection {spec.cid!r}, publisher {publisher.key!r}"
    mapped, files, resolved = [], [], []
    roots = [*settings.source_roots, settings.var_dir / "cache"]
    for part in publisher.parts:
        res = resolve_part(part, settings, f"{spec.cid}/{publisher.key}")
        file = contained(res.file, roots, what)
        table = read_table(
            file, fmt=publisher.format, encoding=publisher.encoding,
            delimiter=publisher.delimiter, what=f"{what}, {file.name!r}",
        )  # fmt: skip
        rows = map_rows(table.header, table.rows, schema, fed, publisher.mapping)
        mapped.extend((res, m) for m in rows)
        files.append(file)
        resolved.append(res)
    return mapped, files, resolved


def run_publisher(
    spec: CollectionSpec, settings: Settings, publisher: Publisher, schema: dict,
    reference: Callable[[], Reference], extra: str,
) -> Outcome:  # fmt: skip
    """Read, map and validate one publisher unless its input is unchanged; apply its gate."""
    fed = spec.federation
    assert fed is not None
    home = folder(settings, spec.cid) / publisher.key
    state = read_json(home / "state.json") or {}
    rows_file = home / "rows.json"
    last_rows = rows_file if rows_file.is_file() else None
    slug = publisher.key
    try:
        resolved_files = [
            contained(resolve_part(p, settings, f"{spec.cid}/{slug}").file,
                      [*settings.source_roots, settings.var_dir / "cache"], slug)
            for p in publisher.parts
        ]  # fmt: skip
        key = _hash(resolved_files, publisher, extra)
        if state.get("input") == key and last_rows is not None:
            write_json(home / "state.json", {**state, "outcome": "unchanged",
                                             "checked": now_iso()}, durable=False)  # fmt: skip
            return Outcome(slug, "unchanged", last_rows, state.get("summary", {}))
        mapped, files, resolved = _read(spec, settings, publisher, schema)
    except GeopublishError as exc:
        return _kept(home, slug, state, last_rows, "failed", str(exc))
    values = [m.values for _, m in mapped]
    points = [(m.lon, m.lat) if m.lon is not None else None for _, m in mapped]
    problems = check_rows(schema, values, points, reference())
    reasons: dict[int, list[dict[str, str]]] = {}
    for i, (_, m) in enumerate(mapped):
        for r in m.reasons:
            reasons.setdefault(i, []).append(r.as_dict())
    for p in problems:
        reasons.setdefault(p.index, []).append(
            {"field": p.field, "value": p.value[:200], "rule": p.rule, "message": p.message}
        )
    fetched = now_iso()
    good, quarantined = [], []
    named = {}
    for res, file in zip(resolved, files, strict=True):  # each part named and hashed once
        etag = res.fetched.etag if res.fetched is not None and res.fetched.etag else None
        named[res.origin] = (_relative(res.origin, settings.source_root), etag or _file_sha(file))
    for i, (res, m) in enumerate(mapped):
        origin, tag = named[res.origin]
        if i in reasons:
            quarantined.append({"source_row": m.row, "source_file": origin, "reasons": reasons[i],
                                "values": m.values})  # fmt: skip
            continue
        good.append({
            "values": m.values, "lon": m.lon, "lat": m.lat,
            "provenance": {
                "publisher": slug, "source_file": origin, "fetched_at": fetched,
                "source_hash": tag,
                "schema_version": fed.schema_version, "source_row": m.row,
            },
        })  # fmt: skip
    summary = _summary(len(mapped), len(good), quarantined)
    previous_share = (state.get("summary") or {}).get("share_valid")
    if (
        last_rows is not None
        and previous_share is not None
        and previous_share - summary["share_valid"] > fed.max_valid_drop
    ):
        note = (
            f"part des lignes valides tombée de {previous_share:.0%} à "
            f"{summary['share_valid']:.0%} (seuil {fed.max_valid_drop:.0%})"
        )
        write_json(home / "attempt.json", {"summary": summary, "quarantine": quarantined})
        return _kept(home, slug, state, last_rows, "refused", note, summary)
    write_json(home / "rows.json", good)
    write_json(home / "quarantine.json", quarantined)
    new_state = {"input": key, "summary": summary, "outcome": "published", "at": fetched,
                 "checked": fetched}  # fmt: skip
    write_json(home / "state.json", new_state)
    _history(home, {"at": fetched, "outcome": "published", **summary})
    return Outcome(slug, "published", rows_file, summary)


def _relative(origin: str, root: Path) -> str:
    """A local source named from the source root (a URL as it is)."""
    path = Path(origin)
    if path.is_absolute() and path.is_relative_to(root):
        return str(path.relative_to(root))
    return origin


def _file_sha(file: Path) -> str:
    sha = hashlib.sha256()
    with file.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            sha.update(chunk)
    return "sha256:" + sha.hexdigest()


def _summary(read: int, valid: int, quarantined: list[dict]) -> dict[str, Any]:
    by_reason: dict[str, int] = {}
    by_rule: dict[str, int] = {}
    for row in quarantined:
        for reason in row["reasons"]:
            key = f"{reason['field']}:{reason['rule']}"
            by_reason[key] = by_reason.get(key, 0) + 1
        for rule in {r["rule"] for r in row["reasons"]}:
            by_rule[rule] = by_rule.get(rule, 0) + 1
    return {
        "read": read,
        "valid": valid,
        "quarantined": len(quarantined),
        "share_valid": round(valid / read, 4) if read else 0.0,
        "by_reason": dict(sorted(by_reason.items())),
        "rows_by_rule": dict(sorted(by_rule.items())),
    }


def _history(home: Path, line: dict[str, Any]) -> None:
    home.mkdir(parents=True, exist_ok=True)
    with (home / "history.jsonl").open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(line, ensure_ascii=False) + "\n")


def _kept(
    home: Path, slug: str, state: dict, last_rows: Path | None, outcome: str, error: str,
    attempt: dict | None = None,
) -> Outcome:  # fmt: skip
    at = now_iso()
    kept = (state.get("summary") or {}).get("valid", 0) if last_rows is not None else 0
    write_json(home / "state.json", {**state, "outcome": outcome, "error": error, "checked": at})
    _history(home, {"at": at, "outcome": outcome, "error": error, "kept": kept,
                    **({"attempt": attempt} if attempt else {})})  # fmt: skip
    summary = {**(state.get("summary") or {}), "error": error, "kept": kept}
    return Outcome(slug, outcome, last_rows, summary)


def _order(fed: Federation, slugs: list[str]) -> list[str]:
    rank = {s: i for i, s in enumerate(fed.priorities)}
    return sorted(slugs, key=lambda s: (rank.get(s, len(rank)), s))


def federated_plan(
    spec: CollectionSpec, settings: Settings, report: dict, served: PublishedLayer | None
) -> Plan:
    """Run every publisher, consolidate, write the download; the frames for the store.

    With a ``served`` version of the same layout, only the publishers whose partition changed
    are read again and framed: the store derives the new version from the served one.
    """
    fed = spec.federation
    assert fed is not None
    schema_path = settings.source_root / fed.schema_file
    schema = read_schema(schema_path, spec.cid)
    items, problems = publisher_parts(spec, settings)
    extra = hashlib.sha256(
        json.dumps(schema, sort_keys=True).encode() + fed.model_dump_json().encode()
    ).hexdigest()
    outcomes: dict[str, Outcome] = {}
    for slug, publisher in items.items():

        def ref(publisher: Publisher = publisher) -> Reference:
            # The COG tables and outlines are read only when a publisher is validated.
            tables = refs.reference_tables(settings, fed)
            return Reference(tables.cog, refs.territory(tables, publisher), tables.outlines,
                             fed.tolerance_m)  # fmt: skip

        outcomes[slug] = run_publisher(spec, settings, publisher, schema, ref, extra)
    for line in problems:  # a publisher whose YAML broke keeps its last good rows
        slug = Path(line.split(":", 1)[0]).stem
        home = folder(settings, spec.cid) / slug
        if slug not in outcomes and home.is_dir():
            rows_file = home / "rows.json"
            outcomes[slug] = _kept(
                home, slug, read_json(home / "state.json") or {},
                rows_file if rows_file.is_file() else None, "failed", line,
            )  # fmt: skip
    order = _order(fed, [slug for slug, o in outcomes.items() if o.rows_file is not None])
    layer = Consolidation(fed, schema, [(slug, outcomes[slug].rows_file) for slug in order])
    base = folder(settings, spec.cid)
    names = {slug: p.name for slug, p in items.items()}
    summary = {
        slug: {"outcome": o.outcome, "name": names.get(slug, slug), **o.summary}
        for slug, o in sorted(outcomes.items())
    }
    report["federation"] = {
        "schema": fed.schema_file, "schema_version": fed.schema_version,
        "publishers": summary, "duplicates": layer.duplicates, "collisions": layer.collisions,
        "problems": problems,
    }  # fmt: skip
    write_json(base / "layer.json", {"build_id": report["build_id"], **report["federation"]})
    for slug, o in sorted(outcomes.items()):
        report["notes"].append(f"publisher {slug}: {o.outcome}")
    shape = parts.layout(spec, columns(schema))
    choice = parts.choose(
        spec, served, shape, layer.fingerprints, layer.counts, settings.federation_incremental
    )
    report["build_path"] = choice.report()
    report["notes"].append(f"{choice.mode} build: {choice.reason}")
    only = set(choice.replaced) if choice.mode == "incremental" else None
    total = layer.count if only is None else sum(layer.counts.get(s, 0) for s in only)
    download = base / "downloads" / f"{report['build_id']}.csv"
    frames = layer.frames(download, settings.batch_size, only)
    plan = Plan([], columns(schema), "Point", total, frames)
    plan.partitioned = parts.Partitioned(choice, shape, layer.fingerprints)
    return plan
