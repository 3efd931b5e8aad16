"""The ``geopublish`` command group: one context object, one module per command."""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass, field
from functools import cached_property

import click

from geopublish.catalog import Catalog, load_catalog
from geopublish.errors import GeopublishError
from geopublish.settings import Settings, get_settings
from geopublish.store import Store, open_store


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
    def store(self) -> Store:
        """The configured store."""
        return open_store(self.settings)


def fail(message: str, code: int = 1) -> None:
    """Print one line per problem on stderr and exit."""
    for line in message.splitlines() or [""]:
        click.echo(f"error: {line}", err=True)
    sys.exit(code)


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


@click.group(cls=Group)
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
@click.option("-q", "--quiet", is_flag=True, help="Only errors.")
@click.version_option(package_name="geopublish")
@click.pass_context
def cli(ctx: click.Context, verbose: int, quiet: bool) -> None:
    """Publish geographic reference data as living OGC APIs."""
    level = (
        logging.ERROR
        if quiet
        else (logging.INFO, logging.DEBUG)[min(verbose, 1)]
        if verbose
        else logging.WARNING
    )
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    ctx.obj = Context(get_settings())


def main() -> None:
    """Entry point."""
    cli()


from geopublish.cli import build, check, refresh, serve  # noqa: E402,F401  (registers commands)
