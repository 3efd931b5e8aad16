"""What the commands share: the context object, errors as exit codes, progress, summaries."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property

import click

from geopublish.catalog import Catalog, load_catalog
from geopublish.pipeline.batch import Outcome, build_many, publish_api
from geopublish.refresh.runner import refresh_pass
from geopublish.settings import Settings
from geopublish.store import Stores, open_stores

LOG = logging.getLogger("geopublish.cli")


@dataclass
class Context:
    """What every command needs, built once per invocation."""

    settings: Settings
    overrides: dict = field(default_factory=dict)

    @cached_property
    def catalog(self) -> Catalog:
        """Every spec under collections/."""
        return load_catalog(self.settings.collections_dir)

    @cached_property
    def stores(self) -> Stores:
        """The configured feature store and the raster store."""
        return open_stores(self.settings)


def fail(message: str, code: int = 1) -> None:
    """Print one line per problem on stderr and exit."""
    for line in message.splitlines() or [""]:
        click.echo(f"error: {line}", err=True)
    sys.exit(code)


def checked(obj: Context) -> None:
    """Stop with every catalogue problem, one line each."""
    if obj.catalog.problems:
        fail("\n".join(obj.catalog.problems))


def progress_factory(
    cid: str,
) -> tuple[Callable[[int], None], Callable[[int], None], Callable[[], None]]:
    """A bar on a terminal, log lines every 10% otherwise."""
    state = {"done": 0, "total": 0, "logged": 0}
    bar = click.progressbar(length=1, label=cid, file=sys.stderr) if sys.stderr.isatty() else None

    def step(n: int) -> None:
        state["done"] += n
        if bar is not None:
            bar.length = max(state["total"], state["done"], 1)
            bar.update(n)
        elif state["total"] and state["done"] - state["logged"] >= state["total"] / 10:
            state["logged"] = state["done"]
            LOG.info("%s: %d / %d features read", cid, state["done"], state["total"])

    def total(n: int) -> None:
        state["total"] = n

    def done() -> None:
        if bar is not None:
            bar.render_finish()

    return step, total, done


def summarise(outcome: Outcome) -> None:
    """One line per collection built."""
    for cid, report in outcome.reports.items():
        if "raster" in report:
            out = report["raster"]["output"]
            click.echo(
                f"{cid}: {report['outcome']} v{report.get('version', '-')}: raster "
                f"{out['width']}x{out['height']} {out['crs']}, COG valid "
                f"{report['raster']['cog_valid']} ({report['duration_s']:.1f} s)"
            )
            continue
        f = report["features"]
        dropped = sum(f["dropped"].values())
        click.echo(
            f"{cid}: {report['outcome']} v{report.get('version', '-')}: {f['written']} written, "
            f"{f['read']} read, {f['repaired']} repaired, {dropped} dropped, "
            f"{f['duplicates']} duplicates ({report['duration_s']:.1f} s)"
        )


def describe(report: dict) -> str:
    """One line for one collection's refresh or rollback."""
    line = f"{report['collection']}: {report['outcome']}"
    if report["outcome"] == "published":
        line += f" v{report.get('version', '-')}"
        changes = report.get("changes")
        if changes:
            line += f" (+{changes['added']} ~{changes['modified']} -{changes['removed']})"
    if report.get("note"):
        line += f"; {report['note']}"
    return f"{line} ({report['duration_s']:.2f} s)"


def usable(obj: Context, ids: tuple[str, ...]) -> tuple[Catalog, tuple[str, ...]]:
    """Report every catalogue problem; the catalogue without the specs that have one.

    A bad spec blocks only itself: the other layers build, and the command ends with
    exit code 1 (see :func:`finish`).
    """
    for problem in obj.catalog.problems:
        click.echo(f"error: {problem}", err=True)
    catalog = obj.catalog.buildable()
    return catalog, tuple(i for i in ids if i not in catalog.invalid)


def finish(obj: Context, outcome: Outcome) -> None:
    """Exit 1 when a collection failed or a spec had a problem (already reported)."""
    if not outcome.ok:
        fail("\n".join(outcome.errors.values()))
    if obj.catalog.problems:
        sys.exit(1)


def run_build(obj: Context, ids: tuple[str, ...], force: bool, trigger: str) -> Outcome:
    """Build, publish the API config, print a summary; errors are returned, not raised."""
    catalog, wanted = usable(obj, ids)
    if obj.catalog.problems and (not catalog.specs or (ids and not wanted)):
        return Outcome()
    outcome = build_many(
        catalog,
        obj.settings,
        obj.stores,
        wanted,
        force=force,
        trigger=trigger,
        progress=progress_factory,
    )
    summarise(outcome)
    publish_api(catalog, obj.settings, obj.stores)
    return outcome


def run_refresh(obj: Context, ids: tuple[str, ...], trigger: str) -> Outcome:
    """One refresh pass with progress, one line per collection; errors are returned."""
    catalog, wanted = usable(obj, ids)
    if obj.catalog.problems and (not catalog.specs or (ids and not wanted)):
        return Outcome()
    outcome = refresh_pass(
        catalog, obj.settings, obj.stores, wanted, trigger=trigger, progress=progress_factory
    )
    for report in outcome.reports.values():
        click.echo(describe(report))
    return outcome
