"""A refresh pass (rebuild what changed, then republish the API) and rollbacks."""

from __future__ import annotations

from geopublish.catalog import Catalog
from geopublish.errors import StoreError
from geopublish.pipeline.batch import Outcome, ProgressFactory, build_many, no_progress, publish_api
from geopublish.pipeline.report import Report, now_iso
from geopublish.refresh.changes import ChangeLog
from geopublish.refresh.history import RunLog, run_record
from geopublish.refresh.lock import layer_lock
from geopublish.settings import Settings
from geopublish.store import Store
from geopublish.store.raster import RasterStore


def with_dependents(catalog: Catalog, ids: tuple[str, ...]) -> tuple[str, ...]:
    """``ids`` plus every collection derived from one of them (all when ``ids`` is empty)."""
    if not ids:
        return ()
    wanted = set(ids)
    extra = [c for c in catalog.order() if wanted & set(catalog.dependencies(c))]
    return tuple(dict.fromkeys([*ids, *extra]))


def refresh_pass(
    catalog: Catalog,
    settings: Settings,
    store: Store,
    ids: tuple[str, ...] = (),
    *,
    trigger: str = "refresh",
    progress: ProgressFactory = no_progress,
) -> Outcome:
    """Rebuild the collections whose inputs changed, then regenerate the API if needed."""
    outcome = build_many(
        catalog,
        settings,
        store,
        with_dependents(catalog, ids),
        trigger=trigger,
        skip_unchanged=True,
        progress=progress,
    )
    publish_api(catalog, settings, store)
    return outcome


def previous_number(numbers: list[int], current: int | None, collection: str) -> int:
    """The newest kept version older than the served one."""
    older = [n for n in numbers if current is None or n < current]
    if not older:
        raise StoreError(
            f"collection {collection!r}: no kept version older than v{current}; kept: {numbers}"
        )
    return older[-1]


def rollback(
    catalog: Catalog, settings: Settings, store: Store, cid: str, number: int | None = None
) -> dict:
    """Serve kept version ``number`` (default: the one before the served one) again.

    The change feed gets the ids that differ, the history a ``rollback`` run. The source
    state is left alone, so the next refresh does not rebuild the unchanged source over the
    restored version.
    """
    spec = catalog.select((cid,))[-1]
    report = Report(cid, "rollback")
    runs = RunLog(settings.var_dir, cid)
    with layer_lock(settings.var_dir / "locks", cid):
        if spec.is_raster:
            rasters = RasterStore(settings.store_dir, settings.keep_versions)
            numbers = [n for n, _ in rasters.files.numbered(cid)]
            served = rasters.files.current(cid)
            current = int(served.stem[1:]) if served else None
            target = number if number is not None else previous_number(numbers, current, cid)
            rasters.rollback(cid, target)
        else:
            version = store.current(cid)
            current = version.number if version else None
            numbers = [v.number for v in store.versions(cid)]
            target = number if number is not None else previous_number(numbers, current, cid)
            before = store.hashes(cid)
            restored = store.rollback(cid, target)
            report.stats["written"] = int(restored.meta.get("count", 0))
            report.data["changes"] = ChangeLog(settings.var_dir, cid).record(
                before,
                store.hashes(cid),
                version=target,
                previous_version=current,
                info={
                    "published_at": now_iso(),
                    "build_id": restored.meta.get("build_id"),
                    "trigger": "rollback",
                    "source_sha256": restored.meta.get("source_sha256"),
                    "source_http": restored.meta.get("source_http", []),
                },
            )
        report.data["version"] = target
        report.data["note"] = f"rolled back from v{current} to v{target}"
        report.finish("published")
        runs.append(run_record(report.data))
    publish_api(catalog, settings, store)
    return report.data
