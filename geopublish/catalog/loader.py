"""Read ``collections/<theme>/<id>.yml`` into specs and check the catalogue as a whole."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from geopublish.catalog.models import SNAKE, CollectionSpec
from geopublish.catalog.privacy import privacy_problems
from geopublish.errors import CatalogError

# Table names GeoPackage and SQLite keep for themselves: a layer named so cannot be stored.
RESERVED = ("gpkg", "sqlite_", "rtree_")


@dataclass
class Catalog:
    """Every valid spec by id, and every problem found, one line each."""

    specs: dict[str, CollectionSpec] = field(default_factory=dict)
    files: dict[str, Path] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    # Ids (file stems) whose spec has a problem: not built, their served version kept as is.
    invalid: set[str] = field(default_factory=set)

    def buildable(self) -> Catalog:
        """The catalogue without invalid specs nor the layers derived from one."""
        bad = set(self.invalid)
        for cid in self.order():
            derived = self.specs[cid].source.derived
            parents = {derived.from_collection, derived.reference} - {None} if derived else set()
            if parents & bad or any(p not in self.specs for p in parents):
                bad.add(cid)
        kept = {c: s for c, s in self.specs.items() if c not in bad}
        return Catalog(
            kept, {c: self.files[c] for c in kept}, list(self.problems), bad | self.invalid
        )

    def select(self, ids: list[str] | tuple[str, ...] = ()) -> list[CollectionSpec]:
        """Specs named by ``ids`` (all when empty), in dependency order."""
        unknown = [i for i in ids if i not in self.specs]
        if unknown:
            raise CatalogError(f"unknown collection(s) {unknown}; known: {sorted(self.specs)}")
        wanted = set(ids or self.specs)
        for cid in list(wanted):
            wanted |= set(self.dependencies(cid))
        return [self.specs[c] for c in self.order() if c in wanted]

    def dependencies(self, cid: str) -> list[str]:
        """Collections ``cid`` is derived from, transitively."""
        out: list[str] = []
        derived = self.specs[cid].source.derived
        while derived is not None and derived.from_collection in self.specs:
            parent = derived.from_collection
            if parent in out:
                break
            out.append(parent)
            if derived.reference and derived.reference in self.specs:
                out.append(derived.reference)
            derived = self.specs[parent].source.derived
        return out

    def order(self) -> list[str]:
        """Ids with every derived layer after what it derives from."""
        return sorted(self.specs, key=lambda c: (len(self.dependencies(c)), c))


# A spec is a page of YAML: these bounds only stop hostile files (alias bombs, huge files).
MAX_SPEC_BYTES = 1024 * 1024
MAX_NODES = 100_000
ECHO = 100


def short(value: object, limit: int = ECHO) -> str:
    """``repr(value)`` cut to ``limit`` characters: echoed values stay one short line."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def where(loc: tuple[Any, ...] | list[Any]) -> str:
    """A field path written one way everywhere: ``conform.fields[1].type``."""
    out = ""
    for key in loc:
        out += f"[{key}]" if isinstance(key, int) else (f".{key}" if out else str(key))
    return out or "(top level)"


def _describe(error: Mapping[str, Any]) -> str:
    at = where(error["loc"])
    if error["type"] == "extra_forbidden":
        return f"{at}: unknown key (typo?)"
    got = error.get("input")
    shown = "" if isinstance(got, dict) else f" (got {short(got)})"
    msg = error["msg"]
    msg = msg if len(msg) <= 300 else msg[:297] + "..."
    return f"{at}: {msg}{shown}"


def _expanded_size(node: yaml.Node, memo: dict[int, int], path: set[int]) -> int:
    """Nodes the document holds once every alias is expanded (aliases share nodes)."""
    key = id(node)
    if key in memo:
        return memo[key]
    if key in path:  # a recursive alias: refuse it like a bomb
        return MAX_NODES + 1
    path.add(key)
    size = 1
    if isinstance(node, yaml.SequenceNode):
        for child in node.value:
            size += _expanded_size(child, memo, path)
            if size > MAX_NODES:
                break
    elif isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            size += _expanded_size(k, memo, path) + _expanded_size(v, memo, path)
            if size > MAX_NODES:
                break
    path.discard(key)
    memo[key] = size
    return size


def _read_yaml(path: Path) -> object:
    if path.stat().st_size > MAX_SPEC_BYTES:
        raise CatalogError(f"{path}: spec larger than {MAX_SPEC_BYTES} bytes; refused")
    text = path.read_text(encoding="utf-8")
    node = yaml.compose(text, Loader=yaml.SafeLoader)
    if node is not None and _expanded_size(node, {}, set()) > MAX_NODES:
        raise CatalogError(
            f"{path}: YAML expands to more than {MAX_NODES} values once its aliases (&/*) "
            "are expanded; refused (write the values out, or use fewer nested aliases)"
        )
    return yaml.safe_load(text)


def load_spec(path: Path) -> CollectionSpec:
    """Load one spec file; raise CatalogError listing every problem in it."""
    try:
        raw = _read_yaml(path)
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        detail = str(exc).replace("\n", " ")
        raise CatalogError(f"{path}: cannot read YAML: {detail[:300]}") from exc
    if not isinstance(raw, dict):
        raise CatalogError(f"{path}: expected a mapping of keys, got {type(raw).__name__}")
    try:
        spec = CollectionSpec.model_validate(raw)
    except ValidationError as exc:
        lines = [f"{path}: {_describe(e)}" for e in exc.errors()]
        raise CatalogError("\n".join(lines)) from exc
    stem = path.stem
    if spec.id is not None and spec.id != stem:
        raise CatalogError(f"{path}: id: {short(spec.id)} differs from the file name stem {stem!r}")
    if not SNAKE.match(stem):
        raise CatalogError(f"{path}: file name {short(stem)} is not a snake_case collection id")
    if stem.startswith(RESERVED):
        raise CatalogError(
            f"{path}: id {stem!r} starts with a prefix GeoPackage and SQLite reserve "
            f"{list(RESERVED)}; rename the file"
        )
    spec.id = stem
    spec.theme = path.parent.name
    return spec


def load_catalog(collections_dir: Path) -> Catalog:
    """Load every spec under ``collections_dir``, collecting all problems."""
    catalog = Catalog()
    if not collections_dir.is_dir():
        catalog.problems.append(f"{collections_dir}: collections folder not found")
        return catalog
    for path in sorted(collections_dir.glob("*/*.yml")) + sorted(collections_dir.glob("*.yml")):
        try:
            spec = load_spec(path)
        except CatalogError as exc:
            catalog.problems.extend(str(exc).splitlines())
            catalog.invalid.add(path.stem)
            continue
        if spec.cid in catalog.specs:
            catalog.problems.append(
                f"{path}: id {spec.cid!r} is already used by {catalog.files[spec.cid]}"
            )
            continue
        catalog.specs[spec.cid] = spec
        catalog.files[spec.cid] = path
    for cid, spec in catalog.specs.items():
        problems = _cross_checks(spec, catalog, catalog.files[cid])
        catalog.problems.extend(problems)
        if problems:
            catalog.invalid.add(cid)
    return catalog


def _cross_checks(spec: CollectionSpec, catalog: Catalog, path: Path) -> list[str]:
    problems = []
    derived = spec.source.derived
    if derived is not None:
        for key in ("from_collection", "reference"):
            other = getattr(derived, key)
            if other is not None and other not in catalog.specs:
                problems.append(f"{path}: source.derived.{key}: unknown collection {other!r}")
        if derived.from_collection == spec.cid:
            problems.append(f"{path}: source.derived.from_collection: a layer cannot derive itself")
    names = [f.name for f in spec.conform.fields] if spec.conform else None
    if names is not None:
        for key, values in (
            ("feature_id.fields", spec.feature_id.fields),
            ("dedupe.fields", spec.dedupe.fields if spec.dedupe else []),
            ("publish.queryables", spec.publish.queryables or []),
            ("publish.title_field", [spec.publish.title_field] if spec.publish.title_field else []),
            ("publish.time_field", [spec.publish.time_field] if spec.publish.time_field else []),
        ):
            missing = [v for v in values if v not in names]
            if missing:
                problems.append(f"{path}: {key}: {missing} not among conform.fields {names}")
    if spec.privacy is not None:
        fields = [(f.name, f.type) for f in spec.conform.fields] if spec.conform else None
        problems.extend(f"{path}: {line}" for line in privacy_problems(spec.privacy, fields))
    if spec.publish.default_limit > spec.publish.max_limit:
        problems.append(f"{path}: publish.default_limit exceeds publish.max_limit")
    return problems


def json_schema() -> str:
    """JSON Schema of a spec, for editors (YAML language server)."""
    schema = CollectionSpec.model_json_schema()
    schema["properties"].pop("theme", None)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "geopublish collection spec"
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"
