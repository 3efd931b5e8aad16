"""The one swap-and-record step of builds, refreshes and rollbacks, and its recovery.

A publication is: journal (what is about to be served), the store's atomic swap, then the
change set (ids that differ from the version served before), pruning, the report, the history
line and the source state, then the journal is removed. A run killed anywhere in between is
finished or undone by the next run of the layer (:func:`recover`, under its lock): when the
store serves the journal's build, what is missing is written (each step is idempotent); when it
does not, a version the run may have left is dropped. So every served version has exactly one
change set, and no version that was never served is kept.
"""

from __future__ import annotations

import logging
from typing import Any

from geopublish.faults import crash_point
from geopublish.ledger import Ledger, run_record
from geopublish.model import PublishedLayer
from geopublish.pipeline.report import finish, now_iso
from geopublish.pipeline.tiles import prune_tiles
from geopublish.publish.downloads import Downloads
from geopublish.store import Partition, Staged, Store

LOG = logging.getLogger("geopublish.pipeline")


def publish(
    ledger: Ledger,
    store: Store,
    staged: Staged,
    layer: PublishedLayer,
    report: dict[str, Any],
    state: dict[str, Any],
) -> PublishedLayer:
    """Swap ``staged`` in as the served version of its collection and record it."""
    cid = ledger.collection
    previous = store.current(cid)
    ledger.journal.begin(
        {
            "kind": "publish",
            "build_id": layer.build_id,
            "previous": previous.version if previous else None,
            "report": report,
            "state": state,
        }
    )
    try:
        served = store.publish(staged, layer)
    except BaseException:
        _undo(store, cid, layer.build_id)
        ledger.journal.end()
        raise
    record(ledger, store, served, previous.version if previous else None, report, state)
    LOG.info("%s: published version %d (%d features)", cid, served.version, served.count)
    return served


def rollback(ledger: Ledger, store: Store, number: int, report: dict[str, Any]) -> PublishedLayer:
    """Serve kept version ``number`` again and record it like a publication."""
    cid = ledger.collection
    previous = store.current(cid)
    target = store._kept(cid, number)
    ledger.journal.begin(
        {
            "kind": "rollback",
            "build_id": target.build_id,
            "version": number,
            "previous": previous.version if previous else None,
            "report": report,
            "state": None,
        }
    )
    served = store.rollback(cid, number)
    crash_point("swap")
    record(ledger, store, served, previous.version if previous else None, report, None)
    return served


def record(
    ledger: Ledger,
    store: Store,
    served: PublishedLayer,
    previous: int | None,
    report: dict[str, Any],
    state: dict[str, Any] | None,
) -> None:
    """Write what a swap needs recorded: change set, pruning, report, history, state."""
    cid = ledger.collection
    where = _replaced(report, previous)
    before = store.hashes(cid, previous, where) if previous is not None else {}
    after = store.hashes(cid, served.version, where)
    report["version"] = served.version
    report["changes"] = ledger.changes.record(
        before,
        after,
        version=served.version,
        previous_version=previous,
        info={
            "published_at": now_iso(),
            "build_id": served.build_id,
            "trigger": report.get("trigger"),
            "source_sha256": served.source_sha256,
            "source_http": served.source_http,
            **_publishers(report),
        },
    )
    crash_point("changes")
    store.prune(cid)
    Downloads(ledger.var_dir / "downloads").keep(cid, [v.build_id for v in store.versions(cid)])
    prune_tiles(ledger.var_dir / "tiles", store, cid)
    if report.get("outcome") != "published":
        finish(report, "published")
    ledger.reports.write(report)
    if not ledger.runs.has(report["build_id"], "published"):
        ledger.runs.append(run_record(report))
    if state is not None:
        ledger.runs.save_state(
            {**state, "outcome": "published", "build_id": report["build_id"], "at": now_iso()}
        )
    ledger.journal.end()


def recover(ledger: Ledger, store: Store) -> str | None:
    """Finish or undo a publication a killed run left; return the build id it recorded.

    Called under the layer lock before anything else, so the journal's writer is dead.
    """
    ledger.cleanup()
    entry = ledger.journal.pending()
    if entry is None:
        return None
    cid = ledger.collection
    served = store.current(cid)
    swapped = served is not None and served.build_id == entry["build_id"]
    if entry["kind"] == "rollback":
        swapped = swapped and served is not None and served.version == entry["version"]
    if not swapped:
        if entry["kind"] == "publish":
            _undo(store, cid, entry["build_id"])
        ledger.journal.end()
        LOG.warning(
            "%s: run %s was killed before its swap; nothing of it is kept", cid, entry["build_id"]
        )
        return None
    assert served is not None
    report = entry["report"]
    report.setdefault("notes", []).append(
        "recorded by the next run: this run was interrupted after its swap"
    )
    record(ledger, store, served, entry["previous"], report, entry["state"])
    LOG.warning("%s: run %s was killed after its swap; recorded now", cid, report["build_id"])
    return str(report["build_id"])


def _undo(store: Store, cid: str, build_id: str) -> None:
    """Drop a version of ``build_id`` that a failed or killed swap left unserved."""
    for version in store.versions(cid):
        if version.build_id == build_id and not version.current:
            store.drop(cid, version.version)


def _replaced(report: dict[str, Any], previous: int | None) -> Partition | None:
    """The partitions an incremental build replaced in ``previous``: the only rows that differ.

    Every other partition was copied as stored, so its ids and hashes are those of
    ``previous``; and since ids are unique in each version, none of the replaced partitions' ids
    is in a kept one. The diff of the replaced partitions is the diff of the versions.
    """
    path = report.get("build_path") or {}
    if path.get("mode") != "incremental" or previous is None or path["base_version"] != previous:
        return None
    return Partition(path["column"], tuple(path["replaced"]))


def _publishers(report: dict[str, Any]) -> dict[str, Any]:
    """Each publisher's outcome, for the change set of a federated layer."""
    found = (report.get("federation") or {}).get("publishers") or {}
    return {"publishers": {s: p.get("outcome") for s, p in found.items()}} if found else {}
