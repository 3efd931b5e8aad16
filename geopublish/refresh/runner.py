"""A refresh pass (rebuild what changed, then republish the API) and rollbacks."""

from __future__ import annotations

from geopublish.catalog import Catalog
from geopublish.errors import StoreError
from geopublish.ledger import Ledger, run_record
from geopublish.pipeline import swap
from geopublish.pipeline.batch import Outcome, ProgressFactory, build_many, no_progress, publish_api
from geopublish.pipeline.report import Report
from geopublish.pipeline.run import announce
from geopublish.settings import Settings
from geopublish.store import Stores


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
    stores: Stores,
    ids: tuple[str, ...] = (),
    *,
    trigger: str = "refresh",
    progress: ProgressFactory = no_progress,
) -> Outcome:
    """Rebuild the collections whose inputs changed, then regenerate the API if needed."""
    outcome = build_many(
        catalog,
        settings,
        stores,
        with_dependents(catalog, ids),
        trigger=trigger,
        skip_unchanged=True,
        progress=progress,
    )
    publish_api(catalog, settings, stores)
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
    catalog: Catalog, settings: Settings, stores: Stores, cid: str, number: int | None = None
) -> dict:
    """Serve kept version ``number`` (default: the one before the served one) again.

    The change feed gets the ids that differ, the history a ``rollback`` run. The source
    state is left alone, so the next refresh does not rebuild the unchanged source over the
    restored version.
    """
    spec = catalog.select((cid,))[-1]
    store = stores.of(spec)
    report = Report(cid, "rollback")
    ledger = Ledger(settings.var_dir, cid)
    with ledger.lock():
        swap.recover(ledger, store)
        served = store.current(cid)
        current = served.version if served else None
        numbers = [v.version for v in store.versions(cid)]
        target = number if number is not None else previous_number(numbers, current, cid)
        report.data["note"] = f"rolled back from v{current} to v{target}"
        report.stats["written"] = store._kept(cid, target).count
        report.finish("published")
        swap.rollback(ledger, store, target, report.data)
    publish_api(catalog, settings, stores)
    announce(settings, "rollback", run_record(report.data))
    return report.data
