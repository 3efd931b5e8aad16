"""A small, safe, vectorised expression language for ``conform`` and ``where``.

Names are source columns (pandas Series); literals, ``+ - * /``, comparisons, ``and``/``or``/
``not``, ``in [...]`` and a fixed set of functions. Nothing else parses, so a spec cannot run
arbitrary code.
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable
from typing import Any

import pandas as pd

from geopublish.errors import NormaliseError


def _text(value: Any) -> Any:
    return value.astype("string") if isinstance(value, pd.Series) else str(value)


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "upper": lambda s: _text(s).str.upper(),
    "lower": lambda s: _text(s).str.lower(),
    "strip": lambda s: _text(s).str.strip(),
    "title": lambda s: _text(s).str.title(),
    "left": lambda s, n: _text(s).str.slice(0, int(n)),
    "right": lambda s, n: _text(s).str.slice(-int(n)),
    "substr": lambda s, start, length: _text(s).str.slice(int(start), int(start) + int(length)),
    "zfill": lambda s, n: _text(s).str.zfill(int(n)),
    "replace": lambda s, old, new: _text(s).str.replace(str(old), str(new), regex=False),
    "concat": lambda *parts: _concat(parts),
    "coalesce": lambda *parts: _coalesce(parts),
    "number": lambda s: pd.to_numeric(_text(s).str.replace(",", ".", regex=False), errors="coerce"),
    "round": lambda s, n=0: s.round(int(n)),
}

BINARY = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.Mod: operator.mod,
}
COMPARE = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
}


def _concat(parts: tuple[Any, ...]) -> Any:
    out: Any = ""
    for part in parts:
        out = out + (_text(part).fillna("") if isinstance(part, pd.Series) else str(part))
    return out


def _coalesce(parts: tuple[Any, ...]) -> Any:
    out = parts[0]
    for part in parts[1:]:
        out = out.where(out.notna(), part) if isinstance(out, pd.Series) else out
    return out


def parse(text: str, *, collection: str, where: str) -> ast.Expression:
    """Parse and vet ``text``; raise NormaliseError naming the construct refused."""
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as exc:
        raise NormaliseError(
            f"collection {collection!r}: {where}: cannot parse expression {text!r}: {exc.msg}"
        ) from exc
    allowed = (
        ast.Expression,
        ast.Name,
        ast.Load,
        ast.Constant,
        ast.BinOp,
        ast.UnaryOp,
        ast.Not,
        ast.USub,
        ast.Compare,
        ast.BoolOp,
        ast.And,
        ast.Or,
        ast.Call,
        ast.List,
        ast.Tuple,
        ast.In,
        ast.NotIn,
        *BINARY,
        *COMPARE,
    )
    for node in ast.walk(tree):
        if not isinstance(node, allowed):
            raise NormaliseError(
                f"collection {collection!r}: {where}: {type(node).__name__} is not allowed in "
                f"expression {text!r}; use column names, literals, operators and "
                f"{sorted(FUNCTIONS)}"
            )
        if isinstance(node, ast.Call) and not (
            isinstance(node.func, ast.Name) and node.func.id in FUNCTIONS
        ):
            name = getattr(node.func, "id", ast.unparse(node.func))
            raise NormaliseError(
                f"collection {collection!r}: {where}: unknown function {name!r} in {text!r}; "
                f"known: {sorted(FUNCTIONS)}"
            )
    return tree


def names(tree: ast.Expression) -> set[str]:
    """Column names an expression reads."""
    funcs = {n.func.id for n in ast.walk(tree) if isinstance(n, ast.Call)}  # type: ignore[attr-defined]
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)} - funcs


def evaluate(tree: ast.Expression, frame: pd.DataFrame) -> Any:
    """Evaluate a vetted expression over the columns of ``frame``."""
    return _eval(tree.body, frame)


def _eval(node: ast.AST, frame: pd.DataFrame) -> Any:
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Name):
        return frame[node.id]
    if isinstance(node, (ast.List, ast.Tuple)):
        return [_eval(e, frame) for e in node.elts]
    if isinstance(node, ast.BinOp):
        return BINARY[type(node.op)](_eval(node.left, frame), _eval(node.right, frame))
    if isinstance(node, ast.UnaryOp):
        value = _eval(node.operand, frame)
        return ~value if isinstance(node.op, ast.Not) else -value
    if isinstance(node, ast.BoolOp):
        values = [_eval(v, frame) for v in node.values]
        out = values[0]
        for value in values[1:]:
            out = (out & value) if isinstance(node.op, ast.And) else (out | value)
        return out
    if isinstance(node, ast.Compare):
        left = _eval(node.left, frame)
        result: Any = None
        for op, comparator in zip(node.ops, node.comparators, strict=True):
            right = _eval(comparator, frame)
            if isinstance(op, (ast.In, ast.NotIn)):
                step = _text(left).isin([str(v) for v in right])
                step = ~step if isinstance(op, ast.NotIn) else step
            else:
                step = COMPARE[type(op)](left, right)
            result = step if result is None else (result & step)
            left = right
        return result
    if isinstance(node, ast.Call):
        assert isinstance(node.func, ast.Name)
        return FUNCTIONS[node.func.id](*[_eval(a, frame) for a in node.args])
    raise AssertionError(f"unvetted node {node!r}")
