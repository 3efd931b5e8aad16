"""Quality scores per layer, modelled on transport.data.gouv.fr's daily dataset scores.

Each score is a number in [0, 1] (or None when it does not apply), computed from the layer's
run history at every run and at least daily, then smoothed exponentially once per UTC day:
``s_day = α · s_previous_day + (1 − α) · today`` (α = 0.95 for availability, 0.9 for the
others; the first day takes today's value). Today's values:

- availability: the share of checks of the last 24 h that answered — each run's source (a
  ``SourceError`` is a miss) and each probe of the service by the scheduler (its own
  ``/collections/<id>/items?limit=1``); ≥ 99.5 % → 1, ≥ 97.5 % → 0.75, ≥ 95 % → 0.5, else 0;
- freshness: the time since the served data last changed (the last publication or rollback)
  over the declared refresh interval: ≤ 1.5 intervals → 1, ≤ 2.5 → 0.5, else 0 (None when
  no interval is declared);
- conformity: the last run that reached the gates: published with every gate passed → 1,
  published with failed gates (``--force``) → 0.5, refused → 0;
- validity: the share of geometries valid as read in the last published build (repairs are
  reported beside it);
- completeness: min(count, reference) / max(count, reference) where a reference count is
  declared (``config/references.yml``), else None.

Each publisher of a federated layer is scored the same way at each run of its layer
(:func:`score_publisher`), from its own history:

- availability: the share of the last 24 h's runs of the layer in which the publisher's file
  was fetched and read (its run not "failed"), same steps;
- freshness: the time since its rows last changed (its last accepted new input) over its own
  declared refresh interval, else the layer's, same steps;
- conformity: its last read that reached its gate: accepted → 1, refused (valid share fallen
  by more than ``federation.max_valid_drop``) → 0;
- validity: the share of its rows read that passed the schema and the national checks, in
  its last accepted read;
- completeness: min(rows, reference) / max(rows, reference) where ``config/references.yml``
  declares ``<layer>/<publisher>``, else None.

History: ``var/history/<id>/scores.jsonl`` (a publisher's:
``var/history/<id>/publishers/<slug>/scores.jsonl``), one entry per computation, the newest
:data:`KEEP` kept; the daily series is the last entry of each day.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from geopublish.ledger.runs import RunLog

SCORES = ("availability", "freshness", "conformity", "validity", "completeness")
ALPHA = {"availability": 0.95, "freshness": 0.9, "conformity": 0.9, "validity": 0.9}
ALPHA["completeness"] = 0.9
KEEP = 800
WINDOW = timedelta(hours=24)


def parse_time(value: str) -> datetime:
    """An ISO 8601 UTC time as written by the ledger."""
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def iso(moment: datetime) -> str:
    """The ledger's way of writing a UTC time."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def interval_seconds(interval: str | None) -> float | None:
    """Seconds of a declared refresh interval such as ``30m``, ``6h`` or ``1d``."""
    if not interval:
        return None
    unit = {"s": 1, "m": 60, "h": 3600, "d": 86400}[interval[-1]]
    return float(interval[:-1]) * unit


def availability_level(ratio: float | None) -> float | None:
    """transport.data.gouv.fr's steps for the share of checks answered over 24 h."""
    if ratio is None:
        return None
    for floor, level in ((0.995, 1.0), (0.975, 0.75), (0.95, 0.5)):
        if ratio >= floor:
            return level
    return 0.0


def freshness_level(age_s: float | None, interval_s: float | None) -> float | None:
    """1 within 1.5 declared intervals of the last change, 0.5 within 2.5, else 0."""
    if age_s is None or interval_s is None:
        return None
    ratio = age_s / interval_s
    return 1.0 if ratio <= 1.5 else 0.5 if ratio <= 2.5 else 0.0


def conformity_level(run: dict[str, Any] | None) -> float | None:
    """Score of the last run that reached the gates."""
    if run is None:
        return None
    if run["outcome"] == "refused":
        return 0.0
    return 0.5 if run.get("failed_gates") else 1.0


def validity_level(counts: dict[str, Any] | None) -> float | None:
    """Share of geometries valid as read."""
    checked = (counts or {}).get("checked_geometries")
    if not checked:
        return None
    return round(float(counts["valid_as_read"]) / float(checked), 6)


def completeness_level(count: int | None, reference: int | None) -> float | None:
    """How close the served count is to the reference count."""
    if count is None or not reference:
        return None
    return round(min(count, reference) / max(count, reference), 6)


def smooth(previous: float | None, today: float | None, alpha: float) -> float | None:
    """One step of exponential smoothing (the first value is taken as is)."""
    if today is None:
        return previous
    if previous is None:
        return today
    return round(alpha * previous + (1 - alpha) * today, 6)


def combine(entries: Iterable[dict[str, Any]]) -> dict[str, float | None]:
    """Mean of several subjects' smoothed scores (a publisher's layers, the catalogue)."""
    values: dict[str, list[float]] = {k: [] for k in SCORES}
    for entry in entries:
        for key in SCORES:
            value = entry.get("scores", {}).get(key)
            if value is not None:
                values[key].append(value)
    return {k: round(sum(v) / len(v), 6) if v else None for k, v in values.items()}


class ScoreLog:
    """The bounded score history of one subject (a layer, or one publisher of a layer)."""

    def __init__(self, var_dir: Path, collection: str, publisher: str | None = None) -> None:
        self.collection = collection
        self.publisher = publisher
        folder = var_dir / "history" / collection
        if publisher is not None:
            folder = folder / "publishers" / publisher
        self.path = folder / "scores.jsonl"

    @staticmethod
    def publishers(var_dir: Path, collection: str) -> list[str]:
        """The publishers of ``collection`` that have a score history, sorted."""
        folder = var_dir / "history" / collection / "publishers"
        if not folder.is_dir():
            return []
        return sorted(p.name for p in folder.iterdir() if (p / "scores.jsonl").is_file())

    def read(self) -> list[dict[str, Any]]:
        """Every kept entry, oldest first (lines that do not parse are skipped)."""
        try:
            lines = self.path.read_text(encoding="utf-8").splitlines()
        except OSError:
            return []
        out = []
        for line in lines:
            try:
                out.append(json.loads(line))
            except ValueError:
                continue
        return out

    def latest(self) -> dict[str, Any] | None:
        """The newest entry."""
        entries = self.read()
        return entries[-1] if entries else None

    def daily(self, days: int = 90) -> list[dict[str, Any]]:
        """The last entry of each day, oldest first, at most ``days`` of them."""
        by_day: dict[str, dict[str, Any]] = {}
        for entry in self.read():
            by_day[entry["at"][:10]] = entry
        return list(by_day.values())[-days:]

    def append(self, entry: dict[str, Any]) -> None:
        """Add an entry, keeping the newest :data:`KEEP` (one atomic rewrite)."""
        entries = [*self.read(), entry][-KEEP:]
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        tmp.write_text("".join(json.dumps(e) + "\n" for e in entries), encoding="utf-8")
        os.replace(tmp, self.path)


def smoothed(
    history: list[dict[str, Any]], today: dict[str, float | None], now: datetime
) -> dict[str, float | None]:
    """Today's values smoothed on the last entry of an earlier day (none: taken as they are)."""
    day = iso(now)[:10]
    before = [e for e in history if e["at"][:10] < day]
    previous = before[-1]["scores"] if before else {}
    return {k: smooth(previous.get(k), today[k], ALPHA[k]) for k in SCORES}


def within(moment: str, now: datetime) -> bool:
    """Whether a ledger time falls in the 24 h window ending at ``now``."""
    return now - WINDOW < parse_time(moment) <= now


def score_layer(
    var_dir: Path,
    collection: str,
    *,
    interval: str | None,
    count: int | None,
    reference: int | None = None,
    probe: bool | None = None,
    now: datetime | None = None,
    record: bool = True,
) -> dict[str, Any]:
    """Compute today's and the smoothed scores of one layer from its history; record them."""
    now = now or datetime.now(UTC)
    log = ScoreLog(var_dir, collection)
    history = log.read()
    runs = RunLog(var_dir, collection).read(10**6)[::-1]  # oldest first
    checks = [
        bool(r.get("source_ok", True))
        for r in runs
        if r.get("finished") and within(r["finished"], now)
    ]
    checks += [
        bool(e["probe"]) for e in history if e.get("probe") is not None and within(e["at"], now)
    ]
    if probe is not None:
        checks.append(probe)
    ratio = sum(checks) / len(checks) if checks else None
    past = [r for r in runs if r.get("finished") and parse_time(r["finished"]) <= now]
    published = [r for r in past if r["outcome"] in ("published", "rollback")]
    gated = [r for r in past if r["outcome"] in ("published", "refused")]
    changed = parse_time(published[-1]["finished"]) if published else None
    built = [r for r in published if r.get("counts", {}).get("checked_geometries")]
    today = {
        "availability": availability_level(ratio),
        "freshness": freshness_level(
            (now - changed).total_seconds() if changed else None, interval_seconds(interval)
        ),
        "conformity": conformity_level(gated[-1] if gated else None),
        "validity": validity_level(built[-1]["counts"] if built else None),
        "completeness": completeness_level(count, reference),
    }
    entry = {
        "collection": collection,
        "at": iso(now),
        "scores": smoothed(history, today, now),
        "today": today,
        "inputs": _inputs(
            checks,
            changed,
            interval,
            count,
            reference,
            repaired=built[-1]["counts"].get("repaired") if built else None,
            last_outcome=runs[-1]["outcome"] if runs else None,
        ),  # fmt: skip
        "probe": probe,
    }
    if record:
        log.append(entry)
    return entry


def _inputs(
    checks: list, changed: Any, interval: Any, count: Any, reference: Any, **extra: Any
) -> dict[str, Any]:
    """What a score was computed from, as shown beside it (layer or publisher)."""
    return {
        "checks_24h": len(checks),
        "answered_24h": sum(checks),
        "last_change": iso(changed) if changed else None,
        "refresh_interval": interval,
        "count": count,
        "reference": reference,
        **extra,
    }


def score_publisher(
    var_dir: Path,
    collection: str,
    publisher: str,
    *,
    name: str,
    events: list[dict[str, Any]],
    check: bool | None,
    checked: str | None,
    outcome: str | None,
    interval: str | None,
    count: int | None,
    reference: int | None = None,
    now: datetime | None = None,
    record: bool = True,
) -> dict[str, Any]:
    """Today's and the smoothed scores of one publisher of a federated layer; record them.

    Parameters
    ----------
    events
        The publisher's history, oldest first: ``at``, ``outcome`` (published: a new input
        accepted; refused: its gate refused it; failed: its file could not be read) and, when
        published, ``share_valid``.
    check
        Whether its file answered in the run being scored (None: no run read it, e.g. the
        scheduler's hourly computation).
    checked, outcome
        When the last run checked it and what became of it (published, unchanged, refused,
        failed); a check is counted once, however often one scores.
    """
    now = now or datetime.now(UTC)
    log = ScoreLog(var_dir, collection, publisher)
    history = log.read()
    latest = history[-1] if history else None
    if latest is not None and checked is not None and latest["inputs"].get("checked") == checked:
        check = None  # this run's check is counted already
    checks = [
        bool(e["check"]) for e in history if e.get("check") is not None and within(e["at"], now)
    ]
    if check is not None:
        checks.append(check)
    ratio = sum(checks) / len(checks) if checks else None
    past = [e for e in events if parse_time(e["at"]) <= now]
    published = [e for e in past if e["outcome"] == "published"]
    gated = [e for e in past if e["outcome"] in ("published", "refused")]
    changed = parse_time(published[-1]["at"]) if published else None
    share = published[-1].get("share_valid") if published else None
    today = {
        "availability": availability_level(ratio),
        "freshness": freshness_level(
            (now - changed).total_seconds() if changed else None, interval_seconds(interval)
        ),
        "conformity": (1.0 if gated[-1]["outcome"] == "published" else 0.0) if gated else None,
        "validity": round(float(share), 6) if share is not None else None,
        "completeness": completeness_level(count, reference),
    }
    entry = {
        "collection": collection,
        "publisher": publisher,
        "name": name,
        "at": iso(now),
        "scores": smoothed(history, today, now),
        "today": today,
        "inputs": _inputs(
            checks, changed, interval, count, reference, last_outcome=outcome, checked=checked
        ),
        "check": check,
    }
    if record:
        log.append(entry)
    return entry
