"""The ``geopublish`` command group: one context object, one module per command."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import click

from geopublish.cli import build, check, refresh, serve
from geopublish.cli.common import Context, fail
from geopublish.errors import GeopublishError
from geopublish.settings import get_settings


class Group(click.Group):
    """Turns geopublish errors into one-line messages and exit code 1."""

    def invoke(self, ctx: click.Context) -> object:
        """Run the command; geopublish errors become one line each and exit 1."""
        try:
            return super().invoke(ctx)
        except GeopublishError as exc:
            fail(str(exc))
        except ValueError as exc:  # pydantic settings errors
            fail(str(exc).replace("\n", " "))
        return None


def gdal_log(var_dir: Path) -> None:
    """Send GDAL's own error lines to ``var/log/gdal.log``; builds read them back per part."""
    if "CPL_LOG" in os.environ:
        return
    folder = var_dir / "log"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return
    os.environ["CPL_LOG"] = str(folder / "gdal.log")


def log_level(verbose: int, quiet: bool) -> int:
    """WARNING by default, INFO with -v, DEBUG with -vv, ERROR with -q."""
    if quiet:
        return logging.ERROR
    return (logging.WARNING, logging.INFO, logging.DEBUG)[min(verbose, 2)]


@click.group(cls=Group)
@click.option("-v", "--verbose", count=True, help="More log output (-v info, -vv debug).")
@click.option("-q", "--quiet", is_flag=True, help="Only errors.")
@click.version_option(package_name="geopublish")
@click.pass_context
def cli(ctx: click.Context, verbose: int, quiet: bool) -> None:
    """Publish geographic reference data as living OGC APIs."""
    logging.basicConfig(
        level=log_level(verbose, quiet), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # Library warnings (pyogrio's RuntimeWarnings...) are log lines, not raw stderr text.
    logging.captureWarnings(True)
    settings = get_settings()
    gdal_log(settings.var_dir)
    ctx.obj = Context(settings)


for command in (
    build.build,
    build.publish,
    check.check,
    check.schema,
    refresh.refresh,
    refresh.history,
    refresh.rollback,
    refresh.schedule,
    serve.serve,
    serve.up,
):
    cli.add_command(command)


def main() -> None:
    """Entry point."""
    cli()
