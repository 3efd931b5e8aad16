"""``run_collection(spec, settings)``: source -> normalise -> validate -> store, one layer."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pyproj

from geopublish.catalog.models import CollectionSpec
from geopublish.errors import LockedError, ValidationFailed
from geopublish.pipeline.features import plan_schema, stage_features
from geopublish.pipeline.kinds import derived_plan, gtfs_plan, vector_plan
from geopublish.pipeline.raster import run_raster
from geopublish.pipeline.report import Report, now_iso
from geopublish.refresh.changes import ChangeLog
from geopublish.refresh.detect import Detection, detect
from geopublish.refresh.history import RunLog, run_record
from geopublish.refresh.lock import layer_lock
from geopublish.refresh.webhook import notify
from geopublish.settings import Settings
from geopublish.source.http import fetch_once
from geopublish.store import Store
from geopublish.store.raster import RasterStore
from geopublish.validate import enforce, evaluate

LOG = logging.getLogger("geopublish.pipeline")


def lonlat_bbox(bounds: tuple[float, ...] | None, storage: str) -> list[float] | None:
    """Bounds in the storage CRS as a CRS84 bbox."""
    if bounds is None:
        return None
    to84 = pyproj.Transformer.from_crs(storage, "OGC:CRS84", always_xy=True)
    minx, miny, maxx, maxy = bounds
    return [round(v, 7) for v in to84.transform_bounds(minx, miny, maxx, maxy, densify_pts=11)]


def run_collection(
    spec: CollectionSpec,
    settings: Settings,
    store: Store,
    *,
    force: bool = False,
    trigger: str = "manual",
    skip_unchanged: bool = False,
    progress: Callable[[int], None] = lambda n: None,
    on_total: Callable[[int], None] = lambda n: None,
) -> dict[str, Any]:
    """Build one collection and publish it unless a gate refuses; return the report.

    The served version changes only at the store's atomic swap, after every gate passed.
    With ``skip_unchanged`` (refreshes), a source whose fingerprint matches the last build's
    is recorded as "unchanged" and nothing is rebuilt. Every run adds a line to the
    collection's history; refused and failed runs call the webhook.
    """
    cid = spec.cid
    report = Report(cid, trigger)
    runs = RunLog(settings.var_dir, cid)
    try:
        with layer_lock(settings.var_dir / "locks", cid), fetch_once():
            note = runs.begin(report.data["build_id"], trigger, report.data["started"])
            if note:
                report.data["notes"].append(note)
            try:
                return _locked(
                    spec, settings, store, report, runs, force, skip_unchanged, progress, on_total
                )
            finally:
                runs.end()
    except LockedError as exc:
        report.finish("failed", str(exc))
        runs.append(run_record(report.data))
        raise


def _published(spec: CollectionSpec, settings: Settings, store: Store) -> bool:
    if spec.is_raster:
        return RasterStore(settings.store_dir).files.current(spec.cid) is not None
    return store.current(spec.cid) is not None


def _locked(
    spec: CollectionSpec,
    settings: Settings,
    store: Store,
    report: Report,
    runs: RunLog,
    force: bool,
    skip_unchanged: bool,
    progress: Callable[[int], None],
    on_total: Callable[[int], None],
) -> dict[str, Any]:
    cid = spec.cid
    detection: Detection | None = None
    try:
        previous = runs.state()
        detection = detect(
            spec, settings, store, previous, published=_published(spec, settings, store)
        )
        report.data["source"] = detection.source
        if skip_unchanged and not force and not detection.changed:
            if previous and previous.get("outcome") == "refused":
                report.data["note"] = (
                    f"source unchanged since build {previous.get('build_id')} was refused"
                )
            if detection.restat and previous:
                runs.save_state({**previous, **detection.state})
            report.finish("unchanged")
            runs.append(run_record(report.data))
            LOG.info("%s: unchanged (%.3f s)", cid, report.data["duration_s"])
            return report.data
        report.data["notes"].append(f"built because {detection.reason}")
        if spec.is_raster:
            rasters = RasterStore(settings.store_dir, settings.keep_versions)
            rasters.files.cleanup(cid)
            run_raster(spec, settings, rasters, report, force)
        else:
            _run_features(spec, settings, store, report, force, progress, on_total)
    except ValidationFailed as exc:
        report.data["gates"] = exc.findings
        report.finish("refused", str(exc))
        assert detection is not None
        _attempted(runs, detection, report)
        _close(settings, report, runs)
        raise
    except Exception as exc:
        report.finish("failed", str(exc) or type(exc).__name__)
        _close(settings, report, runs)
        raise
    report.finish("published")
    _attempted(runs, detection, report)
    _close(settings, report, runs)
    return report.data


def _attempted(runs: RunLog, detection: Detection, report: Report) -> None:
    """Remember the source this build reached the gates with, so it is not retried as is."""
    state = {
        **detection.state,
        "outcome": report.data["outcome"],
        "build_id": report.data["build_id"],
        "at": report.data["finished"],
    }
    runs.save_state(state)


def _close(settings: Settings, report: Report, runs: RunLog) -> None:
    report.write(settings.reports_dir)
    record = run_record(report.data)
    runs.append(record)
    if record["outcome"] in ("refused", "failed"):
        LOG.info("%s: %s: %s", record["collection"], record["outcome"], record.get("error"))
        report_url = f"{settings.public_url}/reports/{record['collection']}"
        notify(settings.webhook_url, {**record, "report": report_url})


def _run_features(
    spec: CollectionSpec,
    settings: Settings,
    store: Store,
    report: Report,
    force: bool,
    progress: Callable[[int], None],
    on_total: Callable[[int], None],
) -> None:
    cid = spec.cid
    removed = store.cleanup(cid)
    if removed:
        report.data["notes"].append(f"removed {len(removed)} leftover staging file(s)")
    kind = spec.source.kind
    if kind == "gtfs":
        plan = gtfs_plan(spec, settings, report.stats)
    elif kind == "derived":
        plan = derived_plan(spec, settings, store)
    else:
        plan = vector_plan(spec, settings, report.stats)
    on_total(plan.total)
    report.data.update(plan.notes)
    schema = plan_schema(spec, plan.columns, plan.geometry)
    staged = stage_features(spec, store, schema, plan.frames, report.stats, progress)
    try:
        _finish(spec, settings, store, staged, report, force)
    except BaseException:
        store.discard(staged)
        raise


def _finish(
    spec: CollectionSpec,
    settings: Settings,
    store: Store,
    staged: Any,
    report: Report,
    force: bool,
) -> None:
    cid = spec.cid
    stats = report.stats
    stats["written"] = staged.count
    bbox84 = lonlat_bbox(staged.bounds, spec.crs.storage)
    previous = store.current(cid)
    findings = evaluate(
        spec.checks,
        count=staged.count,
        bbox_crs84=bbox84,
        fields=staged.schema.fields,
        stats=stats,
        previous=previous.meta if previous else None,
    )
    report.data["gates"] = [f.as_dict() for f in findings]
    enforce(cid, findings, force=force)
    report.data["bbox"] = list(staged.bounds) if staged.bounds else None
    report.data["bbox_crs84"] = bbox84
    meta = {
        "collection": cid,
        "count": staged.count,
        "bbox": report.data["bbox"],
        "bbox_crs84": bbox84,
        "storage_crs": spec.crs.storage,
        "fields": staged.schema.fields,
        "id_column": staged.schema.id_column,
        "geometry_type": staged.schema.geometry_type,
        "build_id": report.data["build_id"],
        "built_at": report.data["started"],
        "source_sha256": report.data["source"]["fingerprint"]["sha256"],
        "source_http": report.data["source"].get("http", []),
    }
    before = store.hashes(cid) if previous else {}
    version = store.publish(staged, meta)
    report.data["version"] = version.number
    report.data["changes"] = ChangeLog(settings.var_dir, cid).record(
        before,
        store.hashes(cid, version.number),
        version=version.number,
        previous_version=previous.number if previous else None,
        info={
            "published_at": now_iso(),
            "build_id": report.data["build_id"],
            "trigger": report.data["trigger"],
            "source_sha256": meta["source_sha256"],
            "source_http": meta["source_http"],
        },
    )
    LOG.info("%s: published version %d (%d features)", cid, version.number, staged.count)
