"""``geopublish check`` and ``geopublish schema``."""

from __future__ import annotations

from pathlib import Path

import click

from geopublish.catalog.loader import json_schema
from geopublish.cli.common import Context, fail


@click.command()
@click.pass_obj
def check(obj: Context) -> None:
    """Validate every spec; list all problems with file and field (exit 1 if any)."""
    catalog = obj.catalog
    if catalog.problems:
        fail("\n".join(catalog.problems))
    click.echo(f"{len(catalog.specs)} collection spec(s) valid in {obj.settings.collections_dir}")


@click.command()
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path),
    default=None,
    help="Write here instead of config/collection.schema.json ('-' for stdout).",
)
@click.pass_obj
def schema(obj: Context, output: Path | None) -> None:
    """Emit the JSON Schema of a collection spec, for editors."""
    text = json_schema()
    if str(output) == "-":
        click.echo(text, nl=False)
        return
    path = output or obj.settings.config_dir / "collection.schema.json"
    path.write_text(text, encoding="utf-8")
    click.echo(f"wrote {path}")
