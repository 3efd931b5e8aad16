"""``run_collection``: one run of one layer, from the change check to the recorded outcome."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from geopublish import parallel
from geopublish.catalog import Catalog
from geopublish.catalog.models import CollectionSpec
from geopublish.errors import GeopublishError, LockedError, SourceError, ValidationFailed
from geopublish.ledger import Ledger, run_record
from geopublish.ledger.webhook import notifier
from geopublish.pipeline import swap
from geopublish.pipeline.detect import Detection, detect
from geopublish.pipeline.downloads import make_downloads
from geopublish.pipeline.features import build_features
from geopublish.pipeline.quality import score
from geopublish.pipeline.raster import build_raster
from geopublish.pipeline.report import Report
from geopublish.pipeline.tiles import build_tiles, discard_tiles
from geopublish.settings import Settings
from geopublish.source.http import fetch_once
from geopublish.store import Stores

LOG = logging.getLogger("geopublish.pipeline")
Progress = Callable[[int], None]


def run_collection(
    spec: CollectionSpec,
    settings: Settings,
    stores: Stores,
    catalog: Catalog,
    *,
    force: bool = False,
    trigger: str = "manual",
    skip_unchanged: bool = False,
    progress: Progress = lambda n: None,
    on_total: Progress = lambda n: None,
) -> dict[str, Any]:
    """Build one collection and publish it unless a gate refuses; return the report.

    The served version changes only at the store's atomic swap, after every gate passed.
    With ``skip_unchanged`` (refreshes), a source whose fingerprint matches the last build's
    is recorded as "unchanged" and nothing is rebuilt. Every run adds a line to the
    collection's history; refused and failed runs call the webhook. A run killed earlier is
    first finished or undone (:func:`geopublish.pipeline.swap.recover`).
    """
    cid = spec.cid
    parallel.configure(settings.threads)
    report = Report(cid, trigger)
    ledger = Ledger(settings.var_dir, cid)
    try:
        with ledger.lock(), fetch_once():
            store = stores.of(spec)
            recovered = swap.recover(ledger, store)
            removed = store.cleanup(cid)  # even when this run builds nothing
            if removed:
                report.data["notes"].append(f"removed {len(removed)} leftover staging file(s)")
            note = ledger.runs.begin(
                report.data["build_id"], trigger, report.data["started"], recovered=recovered
            )
            if note:
                report.data["notes"].append(note)
            try:
                return _locked(
                    spec, settings, stores, catalog, ledger, report, force, skip_unchanged,
                    progress, on_total,
                )  # fmt: skip
            finally:
                ledger.runs.end()
                score(spec, settings, stores)
    except LockedError as exc:
        report.finish("failed", str(exc))
        ledger.runs.append(run_record(report.data))
        raise


def _locked(
    spec: CollectionSpec,
    settings: Settings,
    stores: Stores,
    catalog: Catalog,
    ledger: Ledger,
    report: Report,
    force: bool,
    skip_unchanged: bool,
    progress: Progress,
    on_total: Progress,
) -> dict[str, Any]:
    cid = spec.cid
    detection: Detection | None = None
    try:
        previous = ledger.runs.state()
        detection = detect(spec, settings, catalog, stores, previous)
        report.data["source"] = detection.source
        if skip_unchanged and not force and not detection.changed:
            if previous and previous.get("outcome") == "refused":
                report.data["note"] = (
                    f"source unchanged since build {previous.get('build_id')} was refused"
                )
            if detection.restat and previous:
                ledger.runs.save_state({**previous, **detection.state})
            report.finish("unchanged")
            ledger.runs.append(run_record(report.data))
            LOG.info("%s: unchanged (%.3f s)", cid, report.data["duration_s"])
            return report.data
        report.data["notes"].append(f"built because {detection.reason}")
        if spec.is_raster:
            staged, layer = build_raster(spec, stores.rasters, detection, report, force)
        else:
            staged, layer = build_features(
                spec, settings, stores.features, detection, report, force, progress, on_total
            )
        store = stores.of(spec)
        try:
            if not spec.is_raster:
                files, process = make_downloads(
                    settings, staged, layer, report.data.get("build_path")
                )
                report.data["downloads"] = files
                report.data["downloads_process"] = process
        except BaseException:
            store.discard(staged)
            raise
        try:
            if not spec.is_raster:
                # Built before the swap from the staged rows, so the version is served with them.
                built = build_tiles(
                    spec, settings.tiles_dir, stores.features, staged, layer, settings.batch_size
                )
                if built is not None:
                    report.data["tiles"] = built
            report.finish("published")  # what the journal keeps, should the run die after it
            swap.publish(ledger, store, staged, layer, report.data, detection.state)
        except BaseException:
            store.discard(staged)
            if store.current(cid) is None or store.current(cid).build_id != layer.build_id:
                discard_tiles(settings.tiles_dir, cid, layer.build_id)
            raise
        announce(settings, "published", run_record(report.data))
    except ValidationFailed as exc:
        report.data["gates"] = exc.findings
        report.finish("refused", str(exc))
        assert detection is not None
        ledger.runs.save_state(
            {
                **detection.state,
                "outcome": "refused",
                "build_id": report.data["build_id"],
                "at": report.data["finished"],
            }
        )
        _close(settings, ledger, report)
        raise
    except Exception as exc:
        report.data["source_ok"] = not isinstance(exc, SourceError)
        report.finish("failed", error_line(cid, exc))
        _close(settings, ledger, report)
        raise
    return report.data


def error_line(cid: str, exc: BaseException) -> str:
    """The one line recorded for a failure; a bug is an internal error naming the layer."""
    if isinstance(exc, GeopublishError):
        return str(exc) or type(exc).__name__
    text = repr(exc)
    return f"collection {cid!r}: internal error: {text if len(text) <= 300 else text[:297] + '...'}"


def _close(settings: Settings, ledger: Ledger, report: Report) -> None:
    """Record a run that published nothing: report, history line, webhook."""
    ledger.reports.write(report.data)
    record = run_record(report.data)
    ledger.runs.append(record)
    LOG.info("%s: %s: %s", record["collection"], record["outcome"], record.get("error"))
    announce(settings, record["outcome"], record)


def announce(settings: Settings, kind: str, record: dict[str, Any]) -> None:
    """Queue the CloudEvent of a run (published, refused, failed, rollback); never waits."""
    cid = record["collection"]
    base = settings.public_url
    data = {
        **record,
        "report": f"{base}/reports/{cid}",
        "collection_url": f"{base}/collections/{cid}",
    }
    try:
        notifier(settings.var_dir, settings.webhook_url, settings.webhook_secret).emit(
            kind, f"{base}/collections/{cid}", cid, data
        )
    except Exception as exc:  # a notification must never fail the run
        LOG.warning("%s: event %s not queued: %s", cid, kind, exc)
