"""Request parameters -> one parameterised PostGIS query over a published version table.

Values always travel as bound parameters, names as quoted identifiers. Spatial predicates are
PostGIS functions on the GiST-indexed ``geom`` column; literals arrive in the storage CRS
(pygeoapi transforms ``bbox-crs`` and ``filter-crs``). Anything this module cannot translate
raises :class:`PgQueryError`, which the provider turns into a 400.
"""

from __future__ import annotations

import json
from typing import Any

import shapely
from psycopg import sql
from pygeofilter import ast, values

from geopublish.serve.cql import chain
from geopublish.serve.request import time_conditions
from geopublish.serve.sql import COMPARE, QueryError, attribute_name, typed_value

SPATIAL = {
    ast.GeometryIntersects: "ST_Intersects",
    ast.GeometryDisjoint: "ST_Disjoint",
    ast.GeometryContains: "ST_Contains",
    ast.GeometryWithin: "ST_Within",
    ast.GeometryTouches: "ST_Touches",
    ast.GeometryCrosses: "ST_Crosses",
    ast.GeometryOverlaps: "ST_Overlaps",
    ast.GeometryEquals: "ST_Equals",
}


# One error and one operator table for both SQL dialects.
PgQueryError = QueryError


class PgQuery:
    """WHERE conditions, parameters and ORDER BY for one request on one version table."""

    def __init__(self, types: dict[str, str], srid: int) -> None:
        self.types = types
        self.srid = srid
        self.where: list[sql.Composable] = []
        self.params: list[Any] = []
        self.orders: list[sql.Composable] = []

    @property
    def unfiltered(self) -> bool:
        """No condition at all: the stored count answers numberMatched."""
        return not self.where

    def column(self, name: str) -> sql.Composable:
        """A declared column, or a 400 listing the queryable ones."""
        if name not in self.types:
            raise PgQueryError(
                f"unknown property {name!r}; queryable properties are {list(self.types)}"
            )
        return sql.Identifier(name)

    def value(self, name: str, value: Any) -> Any:
        """``value`` converted to the column's type, or a 400."""
        return typed_value(self.types[name], name, value)

    def _param(self, value: Any) -> sql.Composable:
        self.params.append(value)
        return sql.Placeholder()

    def equals(self, name: str, value: str) -> None:
        """``name=value`` query parameter."""
        column = self.column(name)
        self.where.append(sql.SQL("{} = {}").format(column, self._param(self.value(name, value))))

    def order(self, name: str, descending: bool) -> None:
        """One ``sortby`` key; ties end in load order, so pages stay stable."""
        direction = sql.SQL("DESC NULLS LAST" if descending else "ASC NULLS FIRST")
        # Nulls lowest and byte order, as SQLite sorts: the same whatever the server's locale.
        collate = sql.SQL(
            ' COLLATE "C"' if self.types[name] in ("string", "date", "datetime") else ""
        )
        self.orders.append(sql.SQL("{}{} {}").format(self.column(name), collate, direction))

    def datetime(self, field: str | None, value: Any) -> None:
        """``datetime=`` instant or interval on the declared time field; none without one."""
        conditions = time_conditions(value, self.types.get(field or "", "datetime"))
        if not field:
            self.where.append(sql.SQL("false"))
            return
        column = self.column(field)
        for op, text, day in conditions:
            left = sql.SQL("left({}, 10)").format(column) if day else column
            self.where.append(sql.SQL("{} {} {}").format(left, sql.SQL(op), self._param(text)))
        self.where.append(sql.SQL("{} IS NOT NULL").format(column))

    def envelope(self, minx: float, miny: float, maxx: float, maxy: float) -> sql.Composable:
        """A box literal in the storage SRID."""
        args = [self._param(float(v)) for v in (minx, miny, maxx, maxy)]
        return sql.SQL("ST_MakeEnvelope({}, {}, {}, {}, {})").format(*args, sql.Literal(self.srid))

    def bbox(self, box: list[float]) -> None:
        """Features intersecting ``box`` (already in the storage CRS)."""
        if len(box) == 6:
            box = [box[0], box[1], box[3], box[4]]
        minx, miny, maxx, maxy = box
        if minx <= maxx:
            self.where.append(sql.SQL("ST_Intersects(geom, {})").format(self.envelope(*box)))
            return
        # minx > maxx crosses the antimeridian (OGC API Features bbox), as the SQLite query.
        if self.srid != 4326:
            raise PgQueryError(f"bbox {box}: minx > maxx in a projected CRS")
        east = self.envelope(minx, miny, 180, maxy)
        west = self.envelope(-180, miny, maxx, maxy)
        self.where.append(
            sql.SQL("(ST_Intersects(geom, {}) OR ST_Intersects(geom, {}))").format(east, west)
        )

    def cql(self, node: Any) -> None:
        """A parsed CQL2 filter (text or JSON)."""
        self.where.append(self._cql(node))

    def _operand(self, node: Any, name: str | None) -> sql.Composable:
        if isinstance(node, ast.Attribute):
            return self.column(node.name)
        if isinstance(node, ast.Function) and node.name.lower() in ("lower", "casei", "upper"):
            return sql.SQL("lower({})").format(self._operand(node.arguments[0], name))
        if isinstance(node, (ast.Node, values.Geometry, values.Envelope)):
            raise PgQueryError(f"unsupported expression in filter: {node!r}")
        return self._param(self.value(name, node) if name else node)

    def _cql(self, node: Any) -> sql.Composable:
        if isinstance(node, (ast.And, ast.Or)):
            op = sql.SQL(" AND " if isinstance(node, ast.And) else " OR ")
            return sql.SQL("({})").format(op.join([self._cql(n) for n in chain(node)]))
        if isinstance(node, ast.Not):
            return sql.SQL("(NOT {})").format(self._cql(node.sub_node))
        if isinstance(node, ast.Include):
            return sql.SQL("false" if node.not_ else "true")
        name = attribute_name(getattr(node, "lhs", None))
        if type(node) in COMPARE:
            left = self._operand(node.lhs, None)
            right = self._operand(node.rhs, name)
            return sql.SQL("({} {} {})").format(left, sql.SQL(COMPARE[type(node)]), right)
        if isinstance(node, ast.Like):
            left = self._operand(node.lhs, None)
            pattern = str(node.pattern)
            if node.wildcard != "%":
                pattern = pattern.replace(node.wildcard, "%")
            if node.singlechar != "_":
                pattern = pattern.replace(node.singlechar, "_")
            like = ("NOT " if node.not_ else "") + ("ILIKE" if node.nocase else "LIKE")
            return sql.SQL("({} {} {} ESCAPE '\\')").format(
                left, sql.SQL(like), self._param(pattern)
            )
        if isinstance(node, ast.Between):
            left = self._operand(node.lhs, None)
            low, high = self._operand(node.low, name), self._operand(node.high, name)
            op = sql.SQL("NOT BETWEEN" if node.not_ else "BETWEEN")
            return sql.SQL("({} {} {} AND {})").format(left, op, low, high)
        if isinstance(node, ast.In):
            left = self._operand(node.lhs, None)
            items = sql.SQL(", ").join(self._operand(v, name) for v in node.sub_nodes)
            op = sql.SQL("NOT IN" if node.not_ else "IN")
            return sql.SQL("({} {} ({}))").format(left, op, items)
        if isinstance(node, ast.IsNull):
            op = sql.SQL("IS NOT NULL" if node.not_ else "IS NULL")
            return sql.SQL("({} {})").format(self._operand(node.lhs, None), op)
        if isinstance(node, ast.BBox):
            box = self.envelope(node.minx, node.miny, node.maxx, node.maxy)
            return sql.SQL("ST_Intersects(geom, {})").format(box)
        if type(node) in SPATIAL:
            lhs, rhs = node.lhs, node.rhs
            if not isinstance(lhs, ast.Attribute):
                lhs, rhs = rhs, lhs
            literal = sql.SQL("ST_SetSRID(ST_GeomFromGeoJSON({}), {})").format(
                self._param(json.dumps(_geometry(rhs))), sql.Literal(self.srid)
            )
            return sql.SQL("{}(geom, {})").format(sql.SQL(SPATIAL[type(node)]), literal)
        raise PgQueryError(f"unsupported filter construct {type(node).__name__}")

    def statement(
        self, select: sql.Composable, table: sql.Composable, guard: sql.Composable | None = None
    ) -> sql.Composed:
        """``SELECT select FROM table WHERE ...`` (no ORDER BY), ``guard`` one more condition."""
        conditions = [*self.where, guard] if guard is not None else self.where
        where = (
            sql.SQL(" WHERE {}").format(sql.SQL(" AND ").join(conditions))
            if conditions
            else sql.SQL("")
        )
        return sql.SQL("SELECT {} FROM {}{}").format(select, table, where)

    def order_by(self) -> sql.Composable:
        """ORDER BY the sort keys, then load order."""
        return sql.SQL(" ORDER BY {}").format(sql.SQL(", ").join([*self.orders, sql.SQL("fid")]))


def _geometry(value: Any) -> dict[str, Any]:
    if isinstance(value, values.Geometry):
        return dict(value.geometry)
    if isinstance(value, values.Envelope):
        return shapely.geometry.mapping(shapely.box(value.x1, value.y1, value.x2, value.y2))
    raise PgQueryError(f"spatial predicate needs a geometry literal, got {value!r}")
