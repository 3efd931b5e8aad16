"""``geopublish check`` and ``geopublish schema``."""

from __future__ import annotations

import json
from pathlib import Path

import click

from geopublish.catalog.loader import json_schema
from geopublish.catalog.models import CollectionSpec
from geopublish.catalog.publishers import check_publishers, read_schema, territory_problems
from geopublish.cli.common import Context, fail
from geopublish.errors import CatalogError
from geopublish.settings import Settings


def federation_problems(spec: CollectionSpec, settings: Settings) -> list[str]:
    """Problems of a federated layer's schema file and publisher files."""
    assert spec.federation is not None
    path = settings.source_root / spec.federation.schema_file
    schema = None
    if path.exists():  # data may be absent where specs are checked: publishers still are
        try:
            schema = read_schema(path, spec.cid)
        except CatalogError as exc:
            return [str(exc)]
    problems = check_publishers(spec, settings.collections_dir, schema)
    communes = settings.source_root / spec.federation.communes
    epci = settings.source_root / spec.federation.epci
    if communes.is_file() and epci.is_file():
        try:
            tables = [json.loads(p.read_text(encoding="utf-8")) for p in (communes, epci)]
        except (OSError, ValueError) as exc:
            return [*problems, f"collection {spec.cid!r}: federation COG tables: {exc}"]
        problems += territory_problems(spec, settings.collections_dir, *tables)
    return problems


@click.command()
@click.pass_obj
def check(obj: Context) -> None:
    """Validate every spec; list all problems with file and field (exit 1 if any)."""
    catalog = obj.catalog
    problems = list(catalog.problems)
    for spec in catalog.specs.values():
        if spec.federation is not None:
            problems.extend(federation_problems(spec, obj.settings))
    if problems:
        fail("\n".join(problems))
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
