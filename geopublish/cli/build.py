"""``geopublish build`` and ``geopublish publish``."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable

import click

from geopublish.cli.main import Context, cli, fail
from geopublish.cli.options import force_option, ids_argument
from geopublish.pipeline.batch import Outcome, build_many, publish_api

LOG = logging.getLogger("geopublish.build")


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
    """One line per collection."""
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


def run_build(obj: Context, ids: tuple[str, ...], force: bool, trigger: str) -> Outcome:
    """Build, publish the API config, print a summary; errors are returned, not raised."""
    catalog = obj.catalog
    if catalog.problems:
        fail("\n".join(catalog.problems))
    outcome = build_many(
        catalog,
        obj.settings,
        obj.store,
        ids,
        force=force,
        trigger=trigger,
        progress=progress_factory,
    )
    summarise(outcome)
    publish_api(catalog, obj.settings, obj.store)
    return outcome


@cli.command()
@ids_argument
@force_option
@click.pass_obj
def build(obj: Context, ids: tuple[str, ...], force: bool) -> None:
    """Build the given collections (all when none), publish them, update the API."""
    outcome = run_build(obj, ids, force, "manual")
    if not outcome.ok:
        fail("\n".join(outcome.errors.values()))


@cli.command()
@ids_argument
@force_option
@click.pass_obj
def publish(obj: Context, ids: tuple[str, ...], force: bool) -> None:
    """Regenerate pygeoapi-config.yml and OpenAPI; with --force, rebuild IDs past the gates."""
    if force and ids:
        outcome = run_build(obj, ids, True, "forced")
        if not outcome.ok:
            fail("\n".join(outcome.errors.values()))
        return
    count = publish_api(obj.catalog, obj.settings, obj.store)
    click.echo(f"published {count} collection(s) to {obj.settings.pygeoapi_config}")
