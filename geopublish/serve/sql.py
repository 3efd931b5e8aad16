"""Request parameters -> one parameterised SQLite query over a published GeoPackage.

Values always travel as bound parameters. Spatial tests run in two steps: the R-tree picks
candidates, then shapely decides exactly, through a function registered for this query only.
Anything this module cannot translate raises QueryError, which the provider turns into a 400.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import shapely
from pygeofilter import ast, values
from shapely import prepared

from geopublish.serve.cql import chain
from geopublish.serve.layer import Layer
from geopublish.serve.request import time_conditions


class QueryError(ValueError):
    """A parameter the collection cannot honour; the message says why."""


COMPARE = {
    ast.Equal: "=",
    ast.NotEqual: "<>",
    ast.LessThan: "<",
    ast.LessEqual: "<=",
    ast.GreaterThan: ">",
    ast.GreaterEqual: ">=",
}
SPATIAL: dict[type, Callable[[Any, Any], bool]] = {
    ast.GeometryIntersects: lambda p, g: p.intersects(g),
    ast.GeometryDisjoint: lambda p, g: p.disjoint(g),
    ast.GeometryContains: lambda p, g: p.within(g),
    ast.GeometryWithin: lambda p, g: p.contains(g),
    ast.GeometryTouches: lambda p, g: p.touches(g),
    ast.GeometryCrosses: lambda p, g: p.crosses(g),
    ast.GeometryOverlaps: lambda p, g: p.overlaps(g),
    ast.GeometryEquals: lambda p, g: p.context.equals(g),
}
GEOGRAPHIC = {"OGC:CRS84", "CRS84", "EPSG:4326"}
MIRROR = {ast.GeometryContains: ast.GeometryWithin, ast.GeometryWithin: ast.GeometryContains}
# For these the feature must touch the literal's envelope, so the R-tree can prefilter.
NEEDS_OVERLAP = {
    ast.GeometryIntersects,
    ast.GeometryContains,
    ast.GeometryWithin,
    ast.GeometryTouches,
    ast.GeometryCrosses,
    ast.GeometryOverlaps,
    ast.GeometryEquals,
}


def typed_value(kind: str, name: str, value: Any) -> Any:
    """A request value converted to a field's declared type; QueryError (a 400) when it cannot be.

    Shared by the SQLite and PostGIS query builders. Dates and times are compared as the ISO
    strings both stores keep.
    """
    try:
        if kind == "integer":
            number = int(value)
            if abs(number) > 2**63 - 1:
                raise ValueError(value)
            return number
        if kind == "number":
            return float(value)
        if kind == "boolean":
            if isinstance(value, bool):
                return value
            lowered = str(value).lower()
            if lowered not in ("true", "false", "1", "0"):
                raise ValueError(value)
            return lowered in ("true", "1")
    except (TypeError, ValueError) as exc:
        raise QueryError(f"property {name!r} is {kind}; cannot compare with {value!r}") from exc
    if isinstance(value, dt.datetime):
        if value.tzinfo:
            return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


class Query:
    """WHERE clauses, parameters and ORDER BY for one request."""

    def __init__(self, layer: Layer) -> None:
        self.layer = layer
        self.where: list[str] = []
        self.params: list[Any] = []
        self.orders: list[str] = []
        self.tests: list[tuple[Any, Callable[[Any, Any], bool]]] = []

    @property
    def unfiltered(self) -> bool:
        """No condition at all: the stored total answers numberMatched."""
        return not self.where

    def _column(self, name: str) -> str:
        if name not in self.layer.types:
            raise QueryError(
                f"unknown property {name!r}; queryable properties are {self.layer.field_names}"
            )
        return f't."{name}"'

    def _value(self, name: str, value: Any) -> Any:
        return typed_value(self.layer.types[name], name, value)

    def equals(self, name: str, value: str) -> None:
        """``name=value`` query parameter."""
        self.where.append(f"{self._column(name)} = ?")
        self.params.append(self._value(name, value))

    def order(self, name: str, descending: bool) -> None:
        """One ``sortby`` key; ties end in storage order, so pages stay stable."""
        self.orders.append(f"{self._column(name)} {'DESC' if descending else 'ASC'}")

    def datetime(self, field: str | None, value: Any) -> None:
        """``datetime=`` instant or interval on the declared time field.

        A collection without a time field has no feature with a temporal geometry: none
        intersects the requested time (OGC API Features /req/core/fc-time-response).
        """
        conditions = time_conditions(value, self.layer.types.get(field or "", "datetime"))
        if not field:
            self.where.append("0")
            return
        column = self._column(field)
        for op, text, day in conditions:
            self.where.append(f"{f'substr({column}, 1, 10)' if day else column} {op} ?")
            self.params.append(text)
        self.where.append(f"{column} IS NOT NULL")

    def bbox(self, box: list[float]) -> None:
        """Features intersecting ``box`` (storage CRS); minx > maxx crosses the antimeridian."""
        if len(box) == 6:
            box = [box[0], box[1], box[3], box[4]]
        minx, miny, maxx, maxy = box
        if minx <= maxx:
            self.where.append(self._spatial(shapely.box(*box), ast.GeometryIntersects))
            return
        if str(self.layer.meta.get("storage_crs", "")).upper() not in GEOGRAPHIC:
            raise QueryError(f"bbox {box}: minx > maxx in a projected CRS")
        east = self._spatial(shapely.box(minx, miny, 180, maxy), ast.GeometryIntersects)
        west = self._spatial(shapely.box(-180, miny, maxx, maxy), ast.GeometryIntersects)
        self.where.append(f"({east} OR {west})")

    def _spatial(self, geom: Any, op: type) -> str:
        index = len(self.tests)
        self.tests.append((prepared.prep(geom), SPATIAL[op]))
        test = f"gp_test({index}, t.geom)"
        if op not in NEEDS_OVERLAP:
            return test
        minx, miny, maxx, maxy = geom.bounds
        self.params.extend([maxx, minx, maxy, miny])
        candidates = (
            f"t.fid IN (SELECT id FROM {self.layer.rtree} WHERE minx <= ? AND maxx >= ? "
            "AND miny <= ? AND maxy >= ?)"
        )
        if op is ast.GeometryIntersects and geom.equals(shapely.box(*geom.bounds)):
            self.params.extend([minx, maxx, miny, maxy])
            inside = (
                f"t.fid IN (SELECT id FROM {self.layer.rtree} WHERE minx >= ? AND maxx <= ? "
                "AND miny >= ? AND maxy <= ?)"
            )
            return f"({candidates} AND ({inside} OR {test}))"
        return f"({candidates} AND {test})"

    def cql(self, node: Any) -> None:
        """A parsed CQL2 filter (text or JSON)."""
        self.where.append(self._cql(node))

    def _operand(self, node: Any, name: str | None) -> str:
        if isinstance(node, ast.Attribute):
            return self._column(node.name)
        if isinstance(node, ast.Function) and node.name.lower() in ("lower", "casei", "upper"):
            return f"lower({self._operand(node.arguments[0], name)})"
        if isinstance(node, (ast.Node, values.Geometry, values.Envelope)):
            raise QueryError(f"unsupported expression in filter: {node!r}")
        self.params.append(self._value(name, node) if name else node)
        return "?"

    def _cql(self, node: Any) -> str:
        if isinstance(node, (ast.And, ast.Or)):
            # One level of parentheses per chain: long chains stay within SQLite's parser stack.
            op = " AND " if isinstance(node, ast.And) else " OR "
            return f"({op.join(self._cql(n) for n in chain(node))})"
        if isinstance(node, ast.Not):
            return f"(NOT {self._cql(node.sub_node)})"
        if isinstance(node, ast.Include):
            return "1" if not node.not_ else "0"
        name = attribute_name(getattr(node, "lhs", None))
        if type(node) in COMPARE:
            left = self._operand(node.lhs, None)
            return f"({left} {COMPARE[type(node)]} {self._operand(node.rhs, name)})"
        if isinstance(node, ast.Like):
            left = self._operand(node.lhs, None)
            if not isinstance(node.pattern, str):
                raise QueryError(f"LIKE needs a text pattern, got {node.pattern!r}")
            pattern = _glob(node.pattern)
            if node.nocase:
                left, pattern = f"lower({left})", pattern.lower()
            self.params.append(pattern)
            return f"({'NOT ' if node.not_ else ''}{left} GLOB ?)"
        if isinstance(node, ast.Between):
            left = self._operand(node.lhs, None)
            low, high = self._operand(node.low, name), self._operand(node.high, name)
            return f"({left} {'NOT ' if node.not_ else ''}BETWEEN {low} AND {high})"
        if isinstance(node, ast.In):
            left = self._operand(node.lhs, None)
            items = ", ".join(self._operand(v, name) for v in node.sub_nodes)
            return f"({left} {'NOT ' if node.not_ else ''}IN ({items}))"
        if isinstance(node, ast.IsNull):
            return f"({self._operand(node.lhs, None)} IS {'NOT ' if node.not_ else ''}NULL)"
        if isinstance(node, ast.BBox):
            return self._spatial(
                shapely.box(node.minx, node.miny, node.maxx, node.maxy), ast.GeometryIntersects
            )
        if type(node) in SPATIAL:
            lhs, rhs = node.lhs, node.rhs
            op = type(node)
            if not isinstance(lhs, ast.Attribute):
                lhs, rhs = rhs, lhs
                op = MIRROR.get(op, op)
            if not isinstance(lhs, ast.Attribute) or lhs.name not in ("geometry", "geom"):
                raise QueryError(
                    f"spatial predicates compare 'geometry' with a literal, got {lhs!r}"
                )
            return self._spatial(_geometry(rhs), op)
        raise QueryError(f"unsupported filter construct {type(node).__name__}")

    def _sql(self, select: str, tail: str = "") -> tuple[str, list[Any]]:
        where = f" WHERE {' AND '.join(self.where)}" if self.where else ""
        return f'SELECT {select} FROM "{self.layer.table}" t{where}{tail}', list(self.params)

    def _register(self) -> None:
        tests = self.tests
        decode = self.layer.wkb

        def gp_test(index: int, blob: bytes | None) -> int:
            if blob is None:
                return 0
            geom = shapely.from_wkb(decode(blob))
            prep, fn = tests[index]
            return int(fn(prep, geom))

        self.layer.con.create_function("gp_test", 2, gp_test, deterministic=True)

    def count(self) -> int:
        """NumberMatched for the conditions."""
        self._register()
        sql, params = self._sql("count(*)")
        return int(self.layer.con.execute(sql, params).fetchone()[0])

    def matched(self, offset: int, limit: int, rows: list | None) -> int:
        """NumberMatched, counting only when the page does not already tell.

        Parameters
        ----------
        offset, limit
            The page asked for.
        rows
            The page's rows, or None when only the number is wanted.
        """
        if self.unfiltered:
            return self.layer.count
        if rows is not None and len(rows) < limit and (rows or offset == 0):
            return offset + len(rows)
        return self.count()

    def page(self, offset: int, limit: int) -> list[tuple[Any, ...]]:
        """One page of rows, in sort order then storage order."""
        self._register()
        if self.unfiltered and not self.orders and self.layer.first_fid is not None:
            start = self.layer.first_fid + offset
            sql, params = self._sql(
                self.layer.select_columns(), " WHERE t.fid >= ? AND t.fid < ? ORDER BY t.fid"
            )
            return self.layer.con.execute(sql, [*params, start, start + limit]).fetchall()
        order = ", ".join([*self.orders, "t.fid"])
        sql, params = self._sql(self.layer.select_columns(), f" ORDER BY {order} LIMIT ? OFFSET ?")
        return self.layer.con.execute(sql, [*params, limit, offset]).fetchall()


def _glob(pattern: str) -> str:
    """A CQL2 LIKE pattern (percent, underscore, backslash escape) as a case-sensitive GLOB."""
    out, chars = [], iter(pattern)
    for char in chars:
        if char == "\\":
            char = next(chars, "\\")
            out.append(f"[{char}]" if char in "*?[" else char)
        elif char == "%":
            out.append("*")
        elif char == "_":
            out.append("?")
        else:
            out.append(f"[{char}]" if char in "*?[" else char)
    return "".join(out)


def attribute_name(node: Any) -> str | None:
    """The property a CQL2 node compares (through functions such as CASEI), if any."""
    if isinstance(node, ast.Attribute):
        return str(node.name)
    if isinstance(node, ast.Function) and node.arguments:
        return attribute_name(node.arguments[0])
    return None


def _geometry(value: Any) -> Any:
    if isinstance(value, values.Geometry):
        return shapely.geometry.shape(value.geometry)
    if isinstance(value, values.Envelope):
        return shapely.box(value.x1, value.y1, value.x2, value.y2)
    raise QueryError(f"spatial predicate needs a geometry literal, got {value!r}")
