"""Declared queryables: the fields a collection lets clients filter on.

A spec's ``publish.queryables`` reaches the provider block as ``QUERYABLES_KEY``. When it is set,
property filters (``?name=value``) and CQL2 filters may name only those fields (and the
geometry); anything else is a 400 that lists the queryables, on the direct path, through
pygeoapi and in both providers alike, and ``/collections/<id>/queryables`` lists only them.
Without it every stored field is queryable. Sorting and ``properties=`` selection are not
filters and stay open to every field.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from flask import Flask, has_request_context, request
from pygeoapi.api import itemtypes
from pygeofilter import ast

from geopublish.model import QUERYABLES_KEY
from geopublish.serve.rewrite import install_json_hook

GEOMETRY = {"geometry", "geom"}
PATH = re.compile(r"^/collections/([^/]+)/queryables/?$")


class NotQueryable(ValueError):
    """A filter names a field the collection does not declare queryable."""


def declared(provider: dict[str, Any]) -> list[str] | None:
    """The provider's declared queryables, or None when every field is queryable."""
    names = provider.get(QUERYABLES_KEY)
    return list(names) if names is not None else None


def attributes(node: Any) -> Iterator[str]:
    """Every attribute (property) name a parsed CQL2 expression refers to."""
    if isinstance(node, ast.Attribute):
        yield node.name
    elif dataclasses.is_dataclass(node) and not isinstance(node, type):
        for field in dataclasses.fields(node):
            yield from attributes(getattr(node, field.name))
    elif isinstance(node, (list, tuple)):
        for item in node:
            yield from attributes(item)


def check(
    collection: str, queryables: list[str] | None, names: Iterable[str], cql: Any = None
) -> None:
    """Raise :class:`NotQueryable` when a filter uses a field outside ``queryables``."""
    if queryables is None:
        return
    allowed = set(queryables) | GEOMETRY
    used = list(names) + (list(attributes(cql)) if cql is not None else [])
    refused = sorted({n for n in used if n not in allowed})
    if refused:
        raise NotQueryable(
            f"collection {collection!r}: {', '.join(map(repr, refused))} "
            f"{'is' if len(refused) == 1 else 'are'} not queryable; "
            f"queryables: {sorted(queryables)}"
        )


def install(app: Flask, config: dict[str, Any]) -> None:
    """List only declared queryables: JSON through an after-request hook, HTML at rendering."""

    def change_for(cid: str) -> Callable[[dict[str, Any]], None] | None:
        resource = config.get("resources", {}).get(cid, {})
        providers = [p for p in resource.get("providers", []) if p.get("type") == "feature"]
        queryables = declared(providers[0]) if providers else None
        if queryables is None:
            return None
        keep = set(queryables) | GEOMETRY

        def trim(body: dict[str, Any]) -> None:
            body["properties"] = {k: v for k, v in body.get("properties", {}).items() if k in keep}

        return trim

    install_json_hook(app, PATH, change_for)
    render = itemtypes.render_j2_template

    def render_trimmed(*args: Any, **kwargs: Any) -> Any:
        # pygeoapi renders the HTML queryables page from the same dict: trim it first.
        match = PATH.match(request.path) if has_request_context() else None
        change = change_for(match.group(1)) if match else None
        data = kwargs.get("data", args[3] if len(args) > 3 else None)
        if change is not None and isinstance(data, dict) and "properties" in data:
            change(data)
        return render(*args, **kwargs)

    itemtypes.render_j2_template = render_trimmed
