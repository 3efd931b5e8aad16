"""The refresh scheduler: one APScheduler job per spec with ``refresh``, plus a spec watcher.

Runs in its own process beside the server (``geopublish up`` starts it): builds never run
inside the gunicorn master. Jobs run one at a time; a job that finds its layer locked by a
manual build records a failed run and waits for the next trigger. Every few seconds the
watcher compares the spec files' sizes and mtimes; on a change it reschedules and runs a
refresh pass, which builds new or edited specs and republishes the API (graceful reload).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import requests
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from geopublish.catalog import Catalog, load_catalog
from geopublish.catalog.models import CollectionSpec
from geopublish.errors import CatalogError
from geopublish.pipeline.quality import score
from geopublish.refresh.runner import refresh_pass
from geopublish.settings import Settings
from geopublish.store import Stores

LOG = logging.getLogger("geopublish.refresh")
SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def trigger_for(spec: CollectionSpec) -> BaseTrigger | None:
    """The APScheduler trigger of a spec's ``refresh`` (None when it has none)."""
    refresh = spec.refresh
    if refresh is None or not (refresh.cron or refresh.interval):
        return None
    if refresh.interval:
        return IntervalTrigger(seconds=int(refresh.interval[:-1]) * SECONDS[refresh.interval[-1]])
    try:
        return CronTrigger.from_crontab(refresh.cron)
    except ValueError as exc:
        raise CatalogError(
            f"collection {spec.cid!r}: refresh.cron: {refresh.cron!r} is not a cron "
            f"expression ({exc}); expected five fields, e.g. '0 3 * * 1'"
        ) from exc


def probe(settings: Settings, cid: str) -> bool:
    """Whether the service answers its own first page of a layer."""
    url = f"{settings.public_url}/collections/{cid}?f=json"
    try:
        return requests.get(url, timeout=30).status_code == 200
    except requests.RequestException:
        return False


def signature(folder: Path) -> tuple[tuple[str, int, int], ...]:
    """(path, size, mtime_ns) of every spec file: changes when one is added, edited, removed."""
    return tuple(
        (str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in sorted(folder.rglob("*.yml"))
    )


class RefreshScheduler:
    """Schedules every layer's refresh and follows edits of the catalogue."""

    def __init__(self, settings: Settings, stores: Stores, parent: int | None = None) -> None:
        self.settings = settings
        self.stores = stores
        self.parent = parent
        self.catalog = Catalog()
        self.seen: tuple = ()
        self.scheduler = BlockingScheduler(
            executors={"default": ThreadPoolExecutor(1)},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 3600},
        )

    def run(self, *, initial: bool = False) -> None:
        """Schedule and block until stopped (or until the parent process is gone)."""
        self.sync(refresh=initial)
        self.scheduler.add_job(
            self.sync, IntervalTrigger(seconds=self.settings.watch_interval), id="__watch__"
        )
        # Scores at least daily, with a probe of the service: hourly checks feed availability.
        self.scheduler.add_job(self.score, IntervalTrigger(hours=1), id="__scores__")
        if self.parent is not None:
            self.scheduler.add_job(self._orphaned, IntervalTrigger(seconds=2), id="__parent__")
        self.scheduler.start()

    def _orphaned(self) -> None:
        if os.getppid() != self.parent:
            LOG.warning("the server (pid %s) is gone; stopping the scheduler", self.parent)
            self.scheduler.shutdown(wait=False)

    def sync(self, *, refresh: bool = True) -> None:
        """Reload the catalogue if a spec changed; reschedule; refresh when asked."""
        seen = signature(self.settings.collections_dir)
        if seen == self.seen:
            return
        self.seen = seen
        catalog = load_catalog(self.settings.collections_dir)
        for problem in catalog.problems:
            LOG.error("%s (the last valid catalogue stays in use)", problem)
        if catalog.problems:
            return
        self.catalog = catalog
        wanted = set()
        for spec in catalog.select():
            try:
                trigger = trigger_for(spec)
            except CatalogError as exc:
                LOG.error("%s", exc)
                continue
            if trigger is None:
                continue
            wanted.add(spec.cid)
            self.scheduler.add_job(
                self.refresh,
                trigger,
                args=[(spec.cid,), "schedule"],
                id=spec.cid,
                replace_existing=True,
            )
        for job in self.scheduler.get_jobs():
            if not job.id.startswith("__") and job.id not in wanted:
                job.remove()
        LOG.info("scheduled refreshes: %s", sorted(wanted))
        if refresh:
            self.refresh((), "spec-change")

    def score(self) -> None:
        """Probe the service for each layer and record its scores (never raises)."""
        for spec in self.catalog.select():
            score(spec, self.settings, self.stores, probe=probe(self.settings, spec.cid))

    def refresh(self, ids: tuple[str, ...], trigger: str) -> None:
        """One refresh pass; errors are logged (and recorded in the history), never raised."""
        try:
            outcome = refresh_pass(self.catalog, self.settings, self.stores, ids, trigger=trigger)
        except Exception:
            LOG.exception("refresh of %s failed", list(ids) or "every collection")
            return
        for cid, report in outcome.reports.items():
            LOG.info("%s: %s", cid, report["outcome"])
        for message in outcome.errors.values():
            LOG.error("%s", message)
