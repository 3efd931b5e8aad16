"""``geopublish serve`` and ``geopublish up``."""

from __future__ import annotations

import logging
import os
import subprocess
import sys

import click

from geopublish.cli.common import Context, run_refresh
from geopublish.cli.options import host_option, port_option, workers_option
from geopublish.pipeline.batch import publish_api
from geopublish.serve.server import serve as run_server


def _apply(obj: Context, host: str | None, port: int | None, workers: int | None) -> None:
    settings = obj.settings
    if host:
        settings.host = host
    if port:
        settings.port = port
    if workers:
        settings.workers = workers
    # The URL served is the deployment's: every later build and refresh writes the same links.
    settings.record_served_url()


@click.command()
@host_option
@port_option
@workers_option
@click.pass_obj
def serve(obj: Context, host: str | None, port: int | None, workers: int | None) -> None:
    """Serve the published layers with pygeoapi under gunicorn."""
    _apply(obj, host, port, workers)
    publish_api(obj.catalog, obj.settings, obj.stores)
    click.echo(f"serving on {obj.settings.public_url}", err=True)
    run_server(obj.settings, pidfile=str(obj.settings.var_dir / "gunicorn.pid"))


@click.command()
@host_option
@port_option
@workers_option
@click.pass_obj
def up(obj: Context, host: str | None, port: int | None, workers: int | None) -> None:
    """Refresh every collection, then serve them while the scheduler keeps them current.

    Layers whose sources did not change are not rebuilt; layers that fail keep their last
    version. The scheduler runs in its own process and stops with the server.
    """
    _apply(obj, host, port, workers)
    outcome = run_refresh(obj, (), "startup")
    for message in outcome.errors.values():
        click.echo(f"error: {message}", err=True)
    click.echo(f"serving on {obj.settings.public_url}", err=True)
    verbose = ["-v"] if logging.getLogger().getEffectiveLevel() <= logging.INFO else []
    env = {
        **os.environ,
        "GEOPUBLISH_HOST": obj.settings.host,
        "GEOPUBLISH_PORT": str(obj.settings.port),
    }
    scheduler = subprocess.Popen(
        [sys.executable, "-m", "geopublish", *verbose, "schedule", "--no-initial"]
        + ["--parent", str(os.getpid())],
        env=env,
    )
    try:
        run_server(obj.settings, pidfile=str(obj.settings.var_dir / "gunicorn.pid"))
    finally:
        scheduler.terminate()
        scheduler.wait(timeout=30)
