"""``geopublish refresh``, ``history``, ``rollback`` and ``schedule``."""

from __future__ import annotations

import json
import os

import click

from geopublish.cli.common import Context, checked, describe, finish, run_refresh
from geopublish.cli.options import ids_argument
from geopublish.ledger import RunLog
from geopublish.refresh.runner import rollback as restore
from geopublish.refresh.schedule import RefreshScheduler


@click.command()
@ids_argument
@click.pass_obj
def refresh(obj: Context, ids: tuple[str, ...]) -> None:
    """Rebuild the given collections (all when none) whose sources changed; skip the rest."""
    finish(obj, run_refresh(obj, ids, "refresh"))


@click.command()
@click.argument("cid", metavar="ID")
@click.option("--limit", "-n", type=int, default=20, show_default=True, help="Runs to show.")
@click.option("--json", "as_json", is_flag=True, help="JSON lines, newest first.")
@click.pass_obj
def history(obj: Context, cid: str, limit: int, as_json: bool) -> None:
    """Past builds and refreshes of a collection, newest first."""
    checked(obj)
    obj.catalog.select((cid,))
    runs = RunLog(obj.settings.var_dir, cid).read(limit)
    if as_json:
        for run in runs:
            click.echo(json.dumps(run, ensure_ascii=False))
        return
    if not runs:
        click.echo(f"{cid}: no run recorded yet")
        return
    for run in runs:
        counts = run.get("counts", {})
        source = run.get("source", {})
        etags = [h.get("etag") or h.get("last_modified") for h in source.get("http", [])]
        fingerprint = ", ".join(filter(None, etags)) or (source.get("sha256") or "-")[:12]
        changed = ""
        if "added" in counts:
            changed = f" +{counts['added']} ~{counts['modified']} -{counts['removed']}"
        version = f"v{run['version']}" if run.get("version") else "-"
        reason = run.get("error") or run.get("note") or ""
        click.echo(
            f"{run.get('started')}  {run.get('trigger', '-'):<11} {run['outcome']:<9} "
            f"{version:<5} {counts.get('written', 0):>7} features{changed}  "
            f"{run.get('duration_s', 0):.2f} s  source {fingerprint}"
            + (f"  {reason}" if reason else "")
        )


@click.command()
@click.argument("cid", metavar="ID")
@click.option("--version", "number", type=int, default=None, help="Kept version [previous].")
@click.pass_obj
def rollback(obj: Context, cid: str, number: int | None) -> None:
    """Serve a kept version of a collection again and republish the API."""
    checked(obj)
    report = restore(obj.catalog, obj.settings, obj.stores, cid, number)
    click.echo(describe(report))


@click.command()
@click.option("--initial/--no-initial", default=True, help="Run one refresh pass first.")
@click.option("--parent", type=int, default=None, hidden=True)
@click.pass_obj
def schedule(obj: Context, initial: bool, parent: int | None) -> None:
    """Run the refresh scheduler in the foreground (``up`` starts one beside the server)."""
    click.echo(f"refresh scheduler running (pid {os.getpid()})", err=True)
    RefreshScheduler(obj.settings, obj.stores, parent).run(initial=initial)
