"""``geopublish build`` and ``geopublish publish``."""

from __future__ import annotations

import click

from geopublish.cli.common import Context, finish, run_build
from geopublish.cli.options import force_option, ids_argument
from geopublish.pipeline.batch import publish_api


@click.command()
@ids_argument
@force_option
@click.pass_obj
def build(obj: Context, ids: tuple[str, ...], force: bool) -> None:
    """Build the given collections (all when none), publish them, update the API."""
    finish(obj, run_build(obj, ids, force, "manual"))


@click.command()
@ids_argument
@force_option
@click.pass_obj
def publish(obj: Context, ids: tuple[str, ...], force: bool) -> None:
    """Regenerate pygeoapi-config.yml and OpenAPI; with --force, rebuild IDs past the gates."""
    if force and ids:
        finish(obj, run_build(obj, ids, True, "forced"))
        return
    count = publish_api(obj.catalog, obj.settings, obj.stores)
    click.echo(f"published {count} collection(s) to {obj.settings.pygeoapi_config}")
