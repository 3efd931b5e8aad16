"""The stage rule of DESIGN.md holds: no geopublish module imports a package it may not."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from gpsupport import REPO

PACKAGE = REPO / "geopublish"


def rule() -> tuple[set[str], dict[str, set[str]]]:
    """(shared modules, allowed imports per package) from DESIGN.md's ```text block."""
    text = (REPO / "DESIGN.md").read_text(encoding="utf-8")
    block = re.search(r"```text\n(shared:.*?)```", text, re.S)
    assert block, "DESIGN.md lost its import rule block"
    lines = dict(line.split(":", 1) for line in block.group(1).strip().splitlines())
    shared = set(lines.pop("shared").split())
    allowed = {
        unit.strip(): {name for name in names.split() if name != "shared"}
        for unit, names in lines.items()
    }
    return shared, allowed


def unit_of(module: str, shared: set[str]) -> str:
    """The rule's unit of ``geopublish.x.y``: a shared module, or its top-level package."""
    rest = module.removeprefix("geopublish.")
    for name in shared:
        if rest == name or rest.startswith(name + "."):
            return "shared"
    top = rest.split(".")[0]
    return "cli" if top == "__main__" else top


def imported(path: Path) -> list[tuple[int, str]]:
    """Every geopublish module ``path`` imports (module level and inside functions)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.startswith("geopublish")]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "geopublish":
                found += [(node.lineno, f"geopublish.{a.name}") for a in node.names]
            elif node.module.startswith("geopublish."):
                found.append((node.lineno, node.module))
    return found


def test_no_module_imports_a_package_the_design_forbids():
    shared, allowed = rule()
    broken = []
    for path in sorted(PACKAGE.rglob("*.py")):
        module = ".".join(path.relative_to(REPO).with_suffix("").parts).removesuffix(".__init__")
        source = unit_of(module, shared)
        if module == "geopublish":
            continue
        for line, target in imported(path):
            unit = unit_of(target, shared)
            if unit in ("shared", source):
                continue
            if source == "shared" or unit not in allowed.get(source, set()):
                broken.append(f"{path.relative_to(REPO)}:{line}: {source} imports {target}")
    assert broken == []


def test_the_rule_names_every_package():
    shared, allowed = rule()
    packages = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file()}
    assert packages <= set(allowed), sorted(packages - set(allowed))
    assert unit_of("geopublish.catalog.models", shared) == "shared"
    assert unit_of("geopublish.catalog.loader", shared) == "catalog"
