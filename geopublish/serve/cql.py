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
    return _boxes(_PARSER.parse(text.strip()), json_order=False)


def parse_cql2_json(text: str | bytes) -> Any:
    """The pygeofilter AST of a CQL2 JSON filter, bounding boxes read as the standard says."""
    return _boxes(_parse_json(text), json_order=True)


def _boxes(node: Any, json_order: bool) -> Any:
    if isinstance(node, (ast.And, ast.Or)):
        _boxes(node.lhs, json_order)
        _boxes(node.rhs, json_order)
    elif isinstance(node, ast.Not):
        _boxes(node.sub_node, json_order)
    elif isinstance(node, ast.SpatialComparisonPredicate):
        node.lhs = _polygon(node.lhs, json_order)
        node.rhs = _polygon(node.rhs, json_order)
    return node


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
