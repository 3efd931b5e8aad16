"""``run_collection(spec, settings)``: source -> normalise -> validate -> store, one layer."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pyproj

from geopublish.catalog.models import CollectionSpec
from geopublish.errors import ValidationFailed
from geopublish.pipeline.features import plan_schema, stage_features
from geopublish.pipeline.kinds import derived_plan, gtfs_plan, vector_plan
from geopublish.pipeline.raster import run_raster
from geopublish.pipeline.report import Report
from geopublish.refresh.lock import layer_lock
from geopublish.settings import Settings
from geopublish.source.resolve import fingerprint_files
from geopublish.store import Store
from geopublish.store.raster import RasterStore
from geopublish.validate import enforce, evaluate

LOG = logging.getLogger("geopublish.pipeline")


def lonlat_bbox(bounds: tuple[float, ...] | None, storage: str) -> list[float] | None:
    """Bounds in the storage CRS as a CRS84 bbox."""
    if bounds is None:
        return None
    to84 = pyproj.Transformer.from_crs(storage, "OGC:CRS84", always_xy=True)
    return [round(v, 7) for v in to84.transform_bounds(*bounds, densify_pts=11)]


def run_collection(
    spec: CollectionSpec,
    settings: Settings,
    store: Store,
    *,
    force: bool = False,
    trigger: str = "manual",
    progress: Callable[[int], None] = lambda n: None,
    on_total: Callable[[int], None] = lambda n: None,
) -> dict[str, Any]:
    """Build one collection and publish it unless a gate refuses; return the report.

    The served version changes only at the store's atomic swap, after every gate passed.
    """
    cid = spec.cid
    report = Report(cid, trigger)
    try:
        with layer_lock(settings.var_dir / "locks", cid):
            if spec.is_raster:
                rasters = RasterStore(settings.store_dir, settings.keep_versions)
                rasters.files.cleanup(cid)
                run_raster(spec, settings, rasters, report, force)
            else:
                _run_features(spec, settings, store, report, force, progress, on_total)
    except ValidationFailed as exc:
        report.data["gates"] = exc.findings
        report.finish("refused", str(exc))
        report.write(settings.reports_dir)
        raise
    except Exception as exc:
        report.finish("failed", str(exc) or type(exc).__name__)
        report.write(settings.reports_dir)
        raise
    report.finish("published")
    report.write(settings.reports_dir)
    return report.data


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
    report.data["source"] = {
        "parts": [p.origin for p in plan.parts],
        "fingerprint": fingerprint_files(sorted({p.file for p in plan.parts})),
    }
    schema = plan_schema(spec, plan.columns, plan.geometry)
    staged = stage_features(spec, store, schema, plan.frames, report.stats, progress)
    try:
        _finish(spec, store, staged, report, force)
    except BaseException:
        store.discard(staged)
        raise


def _finish(spec: CollectionSpec, store: Store, staged: Any, report: Report, force: bool) -> None:
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
    }
    version = store.publish(staged, meta)
    report.data["version"] = version.number
    LOG.info("%s: published version %d (%d features)", cid, version.number, staged.count)
