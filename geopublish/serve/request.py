"""One typed request per items / feature call, parsed once and checked against the layer.

Every geopublish collection, whatever its store, goes through :func:`parse_items` (or
:func:`parse_feature`) once, before pygeoapi runs: each parameter is read, bounded and checked
against the layer's published contract (:class:`~geopublish.model.PublishedLayer`: fields and
their types, time field, queryables), CQL2 is parsed once. Anything malformed raises
:class:`RequestError`, answered as an OGC exception document with its status; nothing
malformed reaches SQL or GEOS. The direct path and both providers then apply the same
:class:`ItemsRequest` (:func:`apply`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import re
from typing import Any

from pygeofilter import ast

from geopublish.model import HASH_COLUMN, PublishedLayer
from geopublish.serve import queryables
from geopublish.serve.cql import CqlError, parse_cql2_json, parse_cql2_text

CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
COMMON = frozenset({"f", "lang"})
ITEMS = COMMON | {
    "bbox", "bbox-crs", "crs", "limit", "offset", "resulttype", "datetime", "sortby",
    "properties", "skipGeometry", "filter", "filter-lang", "filter-crs",
}  # fmt: skip
ITEM = COMMON | {"crs"}
LANGS = {"cql2-text": "CQL2 text", "cql2-json": "CQL2 JSON"}
BOOLEANS = {"true": True, "false": False, "1": True, "0": False, "yes": True, "no": False}
# Offsets and integer values bound by SQLite's and PostgreSQL's 64-bit integers.
INT64 = 2**63 - 1
MAX_VALUE_CHARS = 65_536
INSTANT = re.compile(r"^\d{4}-\d{2}-\d{2}([Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})?)?$")


class RequestError(ValueError):
    """A request the collection cannot answer: status, OGC exception code and reason."""

    def __init__(self, reason: str, status: int = 400, code: str = "InvalidParameterValue"):
        super().__init__(reason)
        self.status = status
        self.code = code


@dataclasses.dataclass(frozen=True)
class ItemsRequest:
    """An items request, every parameter typed and checked."""

    collection: str
    limit: int
    offset: int = 0
    bbox: tuple[float, ...] | None = None
    bbox_crs: str | None = None
    crs: str | None = None
    datetime: tuple[str | None, str | None] | str | None = None
    equals: tuple[tuple[str, str], ...] = ()
    sortby: tuple[tuple[str, bool], ...] = ()
    select: tuple[str, ...] | None = None
    skip_geometry: bool = False
    hits: bool = False
    filter: Any = None
    filter_lang: str = "cql2-text"
    filter_crs: str | None = None
    f: str | None = None

    @property
    def crs84_only(self) -> bool:
        """No CRS other than CRS84 anywhere in the request."""
        return all(c in (None, CRS84) for c in (self.bbox_crs, self.crs, self.filter_crs))


def fields_of(layer: PublishedLayer) -> dict[str, str]:
    """The layer's declared fields and their types, without geopublish's own columns."""
    return {n: t for n, t in layer.fields.items() if n != HASH_COLUMN}


def _value(name: str, text: str) -> str:
    if "\x00" in text:
        raise RequestError(f"parameter {name!r}: NUL byte in value {text[:40]!r}")
    if len(text) > MAX_VALUE_CHARS:
        raise RequestError(f"parameter {name!r}: value longer than {MAX_VALUE_CHARS} characters")
    return text


def _integer(name: str, text: str, low: int, high: int) -> int:
    if not re.fullmatch(r"\s*[+-]?\d{1,20}\s*", text):
        raise RequestError(f"{name} {text[:40]!r}: expected an integer")
    number = int(text)
    if not low <= number <= high:
        raise RequestError(f"{name} {number}: expected an integer from {low} to {high}")
    return number


def parse_bbox(text: str, name: str = "bbox") -> tuple[float, ...]:
    """Four or six finite numbers, lower corner first; a 400 otherwise."""
    parts = text.split(",")
    try:
        numbers = tuple(float(p) for p in parts)
    except ValueError as exc:
        reason = f"{name} {text[:80]!r}: expected 4 or 6 comma-separated numbers"
        raise RequestError(reason) from exc
    if len(numbers) not in (4, 6) or not all(math.isfinite(n) for n in numbers):
        raise RequestError(f"{name} {text[:80]!r}: expected 4 or 6 finite numbers")
    half = len(numbers) // 2
    if any(numbers[i] > numbers[i + half] for i in range(1, half)):
        raise RequestError(f"{name} {text[:80]!r}: a lower corner above the upper corner")
    return numbers


def _instant(text: str) -> str:
    text = text.strip()
    if not INSTANT.match(text):
        raise ValueError(text)
    if len(text) == 10:
        dt.date.fromisoformat(text)
    else:
        dt.datetime.fromisoformat(text.replace("z", "Z").replace("Z", "+00:00"))
    return text


def parse_datetime(text: str) -> tuple[str | None, str | None] | str:
    """An RFC 3339 instant, or an interval with ``..`` or empty for an open end."""
    try:
        if "/" in text:
            start, end = text.split("/", 1)
            low = None if start in ("", "..") else _instant(start)
            high = None if end in ("", "..") else _instant(end)
            if low and high and low > high and len(low) == len(high):
                raise ValueError(text)
            return (low, high)
        return _instant(text)
    except ValueError as exc:
        raise RequestError(
            f"datetime {text[:80]!r} is not an RFC 3339 date, date-time or interval"
        ) from exc


def _crs(name: str, text: str, offered: list[str]) -> str:
    if text not in offered:
        raise RequestError(f"{name} {text[:120]!r}: not offered; offered CRS: {offered}")
    return text


def parse_filter(text: str | bytes, lang: str) -> Any:
    """A CQL2 filter parsed once (text or JSON), bounded in size and depth; a 400 otherwise."""
    try:
        return parse_cql2_json(text) if lang == "cql2-json" else parse_cql2_text(str(text))
    except CqlError as exc:
        raise RequestError(f"filter is not valid {LANGS[lang]}: {exc}") from exc


def parse_items(
    cid: str,
    args: Any,
    layer: PublishedLayer,
    provider: dict[str, Any],
    limits: dict[str, Any],
) -> ItemsRequest:
    """The items request of ``args`` (a multidict) against ``layer``'s contract.

    Parameters
    ----------
    cid
        Collection id.
    args
        The query parameters.
    layer
        The served version's record.
    provider
        The collection's pygeoapi provider block (time field, queryables, offered CRS).
    limits
        ``default_items`` and ``max_items`` of the collection (server's as fallback).
    """
    fields = fields_of(layer)
    values: dict[str, str] = {}
    for name in args:
        every = args.getlist(name) if hasattr(args, "getlist") else [args[name]]
        if len(every) > 1:
            raise RequestError(f"collection {cid!r}: parameter {name!r} given {len(every)} times")
        values[name] = _value(name, every[0])
        if name == "q":
            raise RequestError(f"collection {cid!r}: free-text search 'q' is not supported")
        if name not in ITEMS and name not in fields:
            raise RequestError(
                f"collection {cid!r}: unknown query parameter {name!r}; accepted: "
                f"{sorted(ITEMS)} and the fields {sorted(fields)}"
            )
    offered = list(provider.get("crs") or [CRS84])
    default = int(limits.get("default_items", 10))
    most = int(limits.get("max_items", 10))
    limit = _integer("limit", values["limit"], 1, INT64) if "limit" in values else default
    offset = _integer("offset", values["offset"], 0, INT64) if "offset" in values else 0
    if limit > most and limits.get("on_exceed", "throttle") == "error":
        raise RequestError(f"limit {limit}: at most {most}")
    limit = min(limit, most)
    equals = tuple((n, values[n]) for n in values if n in fields)
    for name, text in equals:
        _typed(cid, name, fields[name], text)
    sortby = []
    for key in filter(None, values.get("sortby", "").split(",")):
        name = key[1:] if key[0] in "+-" else key
        if name not in fields:
            raise RequestError(
                f"collection {cid!r}: cannot sort by {name!r}; sortable: {sorted(fields)}"
            )
        sortby.append((name, key.startswith("-")))
    select = None
    if "properties" in values:
        select = tuple(filter(None, values["properties"].split(",")))
        unknown = sorted(set(select) - set(fields))
        if unknown:
            raise RequestError(
                f"collection {cid!r}: unknown properties {unknown}; fields: {sorted(fields)}"
            )
    resulttype = values.get("resulttype", "results")
    if resulttype not in ("results", "hits"):
        raise RequestError(f"resulttype {resulttype[:40]!r}: expected 'results' or 'hits'")
    skip = values.get("skipGeometry", "false").lower()
    if skip not in BOOLEANS:
        raise RequestError(f"skipGeometry {skip[:40]!r}: expected true or false")
    lang = values.get("filter-lang", "cql2-text")
    if lang not in LANGS:
        raise RequestError(f"filter-lang {lang[:40]!r}: expected 'cql2-text' or 'cql2-json'")
    parsed = parse_filter(values["filter"], lang) if "filter" in values else None
    if parsed is not None:
        check_filter(cid, parsed, fields)
    try:
        queryables.check(cid, queryables.declared(provider), [n for n, _ in equals], parsed)
    except queryables.NotQueryable as exc:
        raise RequestError(str(exc)) from exc
    return ItemsRequest(
        collection=cid,
        limit=limit,
        offset=offset,
        bbox=parse_bbox(values["bbox"]) if "bbox" in values else None,
        bbox_crs=_crs("bbox-crs", values["bbox-crs"], offered) if "bbox-crs" in values else None,
        crs=_crs("crs", values["crs"], offered) if "crs" in values else None,
        datetime=parse_datetime(values["datetime"]) if "datetime" in values else None,
        equals=equals,
        sortby=tuple(sortby),
        select=select,
        skip_geometry=BOOLEANS[skip],
        hits=resulttype == "hits",
        filter=parsed,
        filter_lang=lang,
        filter_crs=(
            _crs("filter-crs", values["filter-crs"], offered) if "filter-crs" in values else None
        ),
        f=values.get("f"),
    )


def parse_feature(cid: str, args: Any, provider: dict[str, Any]) -> None:
    """Check a single-feature request's parameters (``f``, ``lang``, ``crs``)."""
    for name in args:
        _value(name, args[name])
        if name not in ITEM:
            raise RequestError(
                f"collection {cid!r}: unknown query parameter {name!r}; "
                f"accepted here: {sorted(ITEM)}"
            )
    if "crs" in args:
        _crs("crs", args["crs"], list(provider.get("crs") or [CRS84]))


def parse_other(cid: str, args: Any, allowed: frozenset[str] = COMMON) -> None:
    """Check the parameters of a collection's other documents (description, queryables)."""
    for name in args:
        _value(name, args[name])
        if name not in allowed:
            raise RequestError(
                f"collection {cid!r}: unknown query parameter {name!r}; "
                f"accepted here: {sorted(allowed)}"
            )


def _typed(cid: str, name: str, kind: str, value: Any) -> None:
    from geopublish.serve.sql import QueryError, typed_value

    try:
        typed_value(kind, name, value)
    except QueryError as exc:
        raise RequestError(f"collection {cid!r}: {exc}") from exc


def check_filter(cid: str, node: Any, fields: dict[str, str]) -> None:
    """Every property the filter names exists and every literal fits its type and 64 bits."""
    for name in queryables.attributes(node):
        if name not in fields and name not in queryables.GEOMETRY:
            raise RequestError(
                f"collection {cid!r}: filter names unknown property {name!r}; "
                f"queryable properties are {sorted(fields)}"
            )
    for spatial in _nodes(node, ast.SpatialComparisonPredicate):
        sides = [spatial.lhs, spatial.rhs]
        names = [s.name for s in sides if isinstance(s, ast.Attribute)]
        if names not in (["geometry"], ["geom"]):
            raise RequestError(
                f"collection {cid!r}: spatial predicates compare 'geometry' with a literal, "
                f"got {spatial.lhs!r} and {spatial.rhs!r}"[:300]
            )
    for value in _literals(node):
        if isinstance(value, bool):
            continue
        if isinstance(value, int) and abs(value) > INT64:
            raise RequestError(f"filter: integer {str(value)[:30]} does not fit in 64 bits")
        if isinstance(value, float) and not math.isfinite(value):
            raise RequestError(f"filter: number {value!r} is not finite")
        if isinstance(value, str) and "\x00" in value:
            raise RequestError("filter: NUL byte in a string literal")


def _nodes(node: Any, kind: type) -> Any:
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, kind):
            yield item
        if isinstance(item, ast.Node) and dataclasses.is_dataclass(item):
            stack += [getattr(item, f.name) for f in dataclasses.fields(item)]
        elif isinstance(item, (list, tuple)):
            stack += list(item)


def _literals(node: Any) -> Any:
    if isinstance(node, (ast.Node,)) and dataclasses.is_dataclass(node):
        for field in dataclasses.fields(node):
            yield from _literals(getattr(node, field.name))
    elif isinstance(node, (list, tuple)):
        for item in node:
            yield from _literals(item)
    elif isinstance(node, (int, float, str)):
        yield node


def apply(query: Any, req: ItemsRequest, time_field: str | None, bbox: Any = None) -> None:
    """Put ``req``'s conditions on a store's query (SQLite ``Query`` or PostGIS ``PgQuery``).

    ``bbox`` overrides ``req.bbox`` when pygeoapi has already moved it into the storage CRS.
    """
    box = bbox if bbox is not None else req.bbox
    if box:
        query.bbox(list(box))
    if req.datetime is not None:
        query.datetime(time_field, req.datetime)
    for name, value in req.equals:
        query.equals(name, value)
    if req.filter is not None:
        query.cql(req.filter)
    for name, descending in req.sortby:
        query.order(name, descending)


def time_conditions(value: Any, kind: str) -> list[tuple[str, str, bool]]:
    """``datetime`` as conditions on a time field of type ``kind`` (date or datetime).

    Each condition is (operator, value as the stores keep it, compare the date part only).
    ``value`` is a parsed :func:`parse_datetime` result or its text.
    """
    if isinstance(value, str):
        value = parse_datetime(value)
    date_only = kind == "date"

    def norm(text: str) -> str:
        if date_only:
            return text[:10]
        parsed = dt.datetime.fromisoformat(text.replace("z", "Z").replace("Z", "+00:00"))
        parsed = parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)
        return parsed.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    if isinstance(value, tuple):
        low, high = value
        out = [(">=", norm(low), False)] if low else []
        return out + ([("<=", norm(high), False)] if high else [])
    if date_only or len(value) > 10:
        return [("=", norm(value), False)]
    return [("=", value[:10], True)]
