"""Publishers of a federated layer: one ``<publishers folder>/<slug>.yml`` each.

A publisher says who it is (name, SIREN, territory), where its file is (the usual parts) and
how its columns map onto the layer's national schema. Adding a publisher is adding a file.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from pydantic import ValidationError

from geopublish.catalog.models import SNAKE, CollectionSpec, Publisher
from geopublish.errors import CatalogError


@dataclass
class Publishers:
    """Every valid publisher of one layer, and every problem, one line each."""

    folder: Path
    items: dict[str, Publisher] = field(default_factory=dict)
    files: dict[str, Path] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


def _describe(path: Path, error: dict) -> str:
    where = ".".join(str(p) for p in error["loc"]) or "(top level)"
    if error["type"] == "extra_forbidden":
        return f"{path}: {where}: unknown key (typo?)"
    got = error.get("input")
    shown = "" if isinstance(got, dict | list) else f" (got {got!r})"
    return f"{path}: {where}: {error['msg']}{shown}"


def load_publisher(path: Path) -> Publisher:
    """One publisher file; CatalogError lists every problem in it (file and field)."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise CatalogError(f"{path}: cannot read YAML: {exc}".replace("\n", " ")) from exc
    if not isinstance(raw, dict):
        raise CatalogError(f"{path}: expected a mapping of keys, got {type(raw).__name__}")
    try:
        publisher = Publisher.model_validate(raw)
    except ValidationError as exc:
        raise CatalogError("\n".join(_describe(path, dict(e)) for e in exc.errors())) from exc
    if not SNAKE.match(path.stem):
        raise CatalogError(f"{path}: file name {path.stem!r} is not a snake_case slug")
    if publisher.slug is not None and publisher.slug != path.stem:
        raise CatalogError(f"{path}: slug: {publisher.slug!r} differs from the file name")
    publisher.slug = path.stem
    return publisher


def load_publishers(spec: CollectionSpec, collections_dir: Path) -> Publishers:
    """Every publisher of federated layer ``spec``, with cross-checks against its schema."""
    assert spec.federation is not None
    folder = collections_dir / spec.federation.publishers
    found = Publishers(folder)
    if not folder.is_dir():
        found.problems.append(
            f"collection {spec.cid!r}: federation.publishers: folder {str(folder)!r} not found"
        )
        return found
    for path in sorted(folder.glob("*.yml")):
        try:
            publisher = load_publisher(path)
        except CatalogError as exc:
            found.problems.extend(str(exc).splitlines())
            continue
        found.items[publisher.key] = publisher
        found.files[publisher.key] = path
    unknown = [p for p in spec.federation.priorities if p not in found.items]
    if unknown:
        found.problems.append(
            f"collection {spec.cid!r}: federation.priorities: unknown publisher(s) {unknown}; "
            f"known: {sorted(found.items)}"
        )
    return found


def check_publishers(spec: CollectionSpec, collections_dir: Path, schema: dict | None) -> list[str]:
    """Problems of the publishers of ``spec``; with the schema, mappings naming other fields."""
    found = load_publishers(spec, collections_dir)
    problems = list(found.problems)
    if schema is None:
        return problems
    names = {f["name"] for f in schema.get("fields", [])}
    for key, publisher in found.items.items():
        mapping = publisher.mapping
        for section in ("columns", "values", "units", "replace", "constants"):
            for name in getattr(mapping, section):
                if name not in names:
                    problems.append(
                        f"{found.files[key]}: mapping.{section}.{name}: not a field of the "
                        f"schema; expected one of {sorted(names)}"
                    )
    return problems


def read_schema(path: Path, collection: str) -> dict:
    """The Table Schema descriptor at ``path``, or a CatalogError naming it."""
    try:
        schema = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise CatalogError(
            f"collection {collection!r}: federation.schema_file {str(path)!r}: {exc}"
        ) from exc
    if not isinstance(schema, dict) or not isinstance(schema.get("fields"), list):
        raise CatalogError(
            f"collection {collection!r}: federation.schema_file {str(path)!r} is not a Table "
            "Schema (no `fields` list)"
        )
    return schema


def territory_problems(
    spec: CollectionSpec, collections_dir: Path, communes: list[dict], epci: list[dict]
) -> list[str]:
    """Territory codes of the publishers of ``spec`` that the COG tables do not know."""
    found = load_publishers(spec, collections_dir)
    codes = {c["code"] for c in communes if c.get("type") != "commune-deleguee"}
    deps = {c.get("departement") for c in communes}
    sirens = {e["code"] for e in epci}
    problems = []
    for key, publisher in found.items.items():
        t = publisher.territory
        for section, values, known in (
            ("communes", t.communes, codes), ("departements", t.departements, deps),
            ("epci", t.epci, sirens),
        ):  # fmt: skip
            unknown = [v for v in values if v not in known]
            if unknown:
                problems.append(
                    f"{found.files[key]}: territory.{section}: {unknown} not in the COG "
                    f"({spec.federation.communes if spec.federation else ''})"
                )
    return problems
