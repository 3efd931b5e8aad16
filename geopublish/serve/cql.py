"""CQL2 text parsing: pygeofilter's grammar and transformer with CQL2's boolean precedence.

pygeofilter 0.4 gives AND and OR the same precedence (``a OR b AND c`` reads as
``(a OR b) AND c``) and accepts NOT only before a single predicate, so ``NOT (a OR b)`` fails.
CQL2 (OGC 21-065, BNF ``booleanExpression``) binds NOT, then AND, then OR. Only those rules are
replaced here; predicates, literals and the AST come from pygeofilter unchanged.

Bounding boxes in spatial predicates become polygon literals, so pygeoapi reprojects them from
``filter-crs`` like any geometry (it only reprojects geometries), and CQL2 JSON ``{"bbox": [...]}``
is read in its documented order (pygeofilter 0.4 swaps the axes into ``Envelope``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pygeofilter.parsers.cql2_text.parser as text_parser
import shapely
from lark import Lark
from pygeofilter import ast, values
from pygeofilter.parsers.cql2_json import parse as _parse_json

BOOLEAN_RULES = """
?condition: boolean_term
          | condition "OR"i boolean_term                                  -> or_

?boolean_term: boolean_factor
             | boolean_term "AND"i boolean_factor                         -> and_

?boolean_factor: boolean_primary
               | "NOT"i boolean_primary                                   -> not_

?boolean_primary: predicate
                | "(" condition ")"
"""


def _grammar() -> str:
    source = (Path(text_parser.__file__).parent / "grammar.lark").read_text(encoding="utf-8")
    start = source.index("?condition:")
    end = source.index("?predicate:")
    return source[:start] + BOOLEAN_RULES + "\n" + source[end:]


_PARSER = Lark(
    _grammar(),
    parser="lalr",
    maybe_placeholders=False,
    transformer=text_parser.CQLTransformer(),
    import_paths=[str(Path(text_parser.__file__).parent.parent)],
)


# Bounds on a filter: nesting of boolean operators (a chain of one operator is one level) and
# the number of nodes. Deeper filters overflow SQLite's parser stack; none is a real query.
MAX_DEPTH = 24
MAX_NODES = 500
MAX_CHARS = 65_536


class CqlError(ValueError):
    """A filter that does not parse, or that is too deep or too large to run."""


def parse_cql2_text(text: str) -> Any:
    """The pygeofilter AST of a CQL2 text filter.

    Parameters
    ----------
    text
        The ``filter`` query parameter.

    Returns
    -------
    Any
        A :mod:`pygeofilter.ast` node.
    """
    if len(text) > MAX_CHARS:
        raise CqlError(f"longer than {MAX_CHARS} characters")
    return _checked(lambda: _PARSER.parse(text.strip()), json_order=False)


def parse_cql2_json(text: str | bytes) -> Any:
    """The pygeofilter AST of a CQL2 JSON filter, bounding boxes read as the standard says."""
    if len(text) > MAX_CHARS:
        raise CqlError(f"longer than {MAX_CHARS} characters")
    return _checked(
        lambda: _parse_json(text.decode("utf-8") if isinstance(text, bytes) else text),
        json_order=True,
    )


def _checked(parse: Any, json_order: bool) -> Any:
    try:
        node = parse()
    except CqlError:
        raise
    except RecursionError as exc:
        raise CqlError(f"nested deeper than {MAX_DEPTH} levels") from exc
    except Exception as exc:  # lark, json and pygeofilter raise many unrelated types
        text = str(exc).strip()
        raise CqlError(text.splitlines()[0][:300] if text else type(exc).__name__) from exc
    depth, nodes = _size(node)
    if depth > MAX_DEPTH:
        raise CqlError(f"boolean operators nested {depth} levels deep; at most {MAX_DEPTH}")
    if nodes > MAX_NODES:
        raise CqlError(f"{nodes} expressions; at most {MAX_NODES}")
    try:
        return _boxes(node, json_order)
    except CqlError:
        raise
    except Exception as exc:  # shapely and GEOS on a malformed geometry literal
        reason = str(exc)[:200] or type(exc).__name__
        raise CqlError(f"malformed geometry literal: {reason}") from exc


def _size(node: Any) -> tuple[int, int]:
    """(nesting depth of boolean operators, number of nodes), without recursion."""
    deepest, count = 0, 0
    stack: list[tuple[Any, int, type | None]] = [(node, 0, None)]
    while stack:
        item, depth, parent = stack.pop()
        count += 1
        if count > MAX_NODES:
            return deepest, count
        if isinstance(item, (ast.And, ast.Or)):
            level = depth if parent is type(item) else depth + 1
            deepest = max(deepest, level)
            stack += [(item.lhs, level, type(item)), (item.rhs, level, type(item))]
        elif isinstance(item, ast.Not):
            deepest = max(deepest, depth + 1)
            stack.append((item.sub_node, depth + 1, ast.Not))
    return deepest, count


def chain(node: Any) -> list[Any]:
    """The operands of a chain of one boolean operator (``a AND b AND c`` -> [a, b, c])."""
    kind, out, stack = type(node), [], [node]
    while stack:
        item = stack.pop()
        if type(item) is kind:
            stack += [item.rhs, item.lhs]
        else:
            out.append(item)
    return out


def _boxes(node: Any, json_order: bool) -> Any:
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, (ast.And, ast.Or)):
            stack += [item.lhs, item.rhs]
        elif isinstance(item, ast.Not):
            stack.append(item.sub_node)
        elif isinstance(item, ast.SpatialComparisonPredicate):
            item.lhs = _polygon(item.lhs, json_order)
            item.rhs = _polygon(item.rhs, json_order)
            for side in (item.lhs, item.rhs):
                if isinstance(side, values.Geometry):
                    _valid_geometry(side.geometry)
    return node


def _valid_geometry(geometry: Any) -> None:
    """Refuse a geometry literal shapely cannot build or whose coordinates are not finite."""
    if not isinstance(geometry, dict) or "type" not in geometry:
        raise CqlError(f"malformed geometry literal {str(geometry)[:80]!r}")
    shape = shapely.geometry.shape(geometry)
    coords = shapely.get_coordinates(shape)
    if shape.is_empty or not bool(np.isfinite(coords).all()):
        raise CqlError(f"geometry literal {str(geometry)[:80]!r} is empty or not finite")


def _polygon(value: Any, json_order: bool) -> Any:
    if isinstance(value, values.Envelope):
        corners = (value.x1, value.x2, value.y1, value.y2)
        if not json_order:
            corners = (value.x1, value.y1, value.x2, value.y2)
        return values.Geometry(shapely.geometry.mapping(shapely.box(*corners)))
    if isinstance(value, ast.Function) and value.name.lower() == "bbox":
        numbers = value.arguments
        if len(numbers) == 6:
            numbers = [numbers[0], numbers[1], numbers[3], numbers[4]]
        return values.Geometry(shapely.geometry.mapping(shapely.box(*numbers)))
    return value
