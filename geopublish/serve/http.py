"""HTTP behaviour around pygeoapi for collections served by geopublish's provider.

Flask hooks installed on pygeoapi's app: parameters a collection cannot honour become a 400
with an OGC exception instead of being ignored; items and features are ``application/geo+json``;
``ETag``/``Last-Modified`` come from the published version (build id, build time), so a
conditional request is answered with a 304 before any query runs; ``Cache-Control`` comes from
the settings. ``/conformance`` declares only the classes the conformance suite checks.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
from typing import Any

from flask import Flask, Response, g, request
from pygeoapi.api import itemtypes

from geopublish.serve import queryables
from geopublish.serve.cql import parse_cql2_json, parse_cql2_text
from geopublish.serve.fast import try_serve
from geopublish.serve.layer import Layer, open_layer
from geopublish.serve.provider import GeoPackageProvider

PROVIDER = f"{GeoPackageProvider.__module__}.{GeoPackageProvider.__name__}"
ROUTE = re.compile(
    r"^/collections/(?P<cid>[^/]+)(?P<rest>/items(?:/(?P<fid>[^/]+))?|/queryables)?/?$"
)
COMMON = {"f", "lang"}
ITEMS = COMMON | {
    "bbox", "bbox-crs", "crs", "limit", "offset", "resulttype", "datetime", "sortby",
    "properties", "skipGeometry", "filter", "filter-lang", "filter-crs",
}  # fmt: skip
ITEM = COMMON | {"crs"}
LANGS = {"cql2-text": "CQL2 text", "cql2-json": "CQL2 JSON"}
BOOLEANS = {"true", "false", "1", "0", "yes", "no"}
CONF = "http://www.opengis.net/spec"
UNSERVED = {
    f"{CONF}/ogcapi-features-4/1.0/conf/create-replace-delete",
    f"{CONF}/ogcapi-common-3/1.0/conf/schemas",
    f"{CONF}/ogcapi-common-3/1.0/conf/advanced-property-roles",
}
SERVED = [
    f"{CONF}/ogcapi-features-3/1.0/conf/filter",
    f"{CONF}/ogcapi-features-3/1.0/conf/features-filter",
    f"{CONF}/cql2/1.0/conf/cql2-json",
    f"{CONF}/cql2/1.0/conf/advanced-comparison-operators",
    f"{CONF}/cql2/1.0/conf/basic-spatial-functions",
    f"{CONF}/cql2/1.0/conf/basic-spatial-functions-plus",
    f"{CONF}/cql2/1.0/conf/spatial-functions",
    f"{CONF}/cql2/1.0/conf/property-property",
]


CACHE_CONTROL = [""]


class BadParameter(ValueError):
    """A query parameter the collection cannot honour."""


def _parse_filter_text(text: str) -> Any:
    """``filter`` as CQL2 text with CQL2 precedence, or JSON when ``filter-lang=cql2-json``."""
    if request.args.get("filter-lang") == "cql2-json":
        return parse_cql2_json(text)
    return parse_cql2_text(text)


def _layer(cid: str) -> tuple[Layer, dict[str, Any]] | None:
    from pygeoapi.flask_app import api_

    resource = api_.config["resources"].get(cid)
    if not resource or resource.get("type") != "collection":
        return None
    for provider in resource.get("providers", []):
        if provider.get("type") == "feature" and provider.get("name") == PROVIDER:
            table = provider.get("table") or cid
            return open_layer(os.path.realpath(provider["data"]), table), provider
    return None


def check_items(cid: str, args: Any, layer: Layer, provider: dict[str, Any]) -> None:
    """Refuse what /items of this collection would otherwise ignore or misread."""
    fields = set(layer.field_names)
    for name in args:
        if name == "q":
            raise BadParameter(f"collection {cid!r}: free-text search 'q' is not supported")
        if name not in ITEMS and name not in fields:
            raise BadParameter(
                f"collection {cid!r}: unknown query parameter {name!r}; accepted: "
                f"{sorted(ITEMS)} and the fields {sorted(fields)}"
            )
    if "datetime" in args and not provider.get("time_field"):
        raise BadParameter(f"collection {cid!r}: 'datetime' is not supported: no time field")
    for key in filter(None, args.get("sortby", "").split(",")):
        name = key[1:] if key[0] in "+-" else key
        if name not in fields:
            raise BadParameter(
                f"collection {cid!r}: cannot sort by {name!r}; sortable: {sorted(fields)}"
            )
    if args.get("resulttype", "results") not in ("results", "hits"):
        raise BadParameter(f"resulttype {args['resulttype']!r}: expected 'results' or 'hits'")
    if args.get("skipGeometry", "false").lower() not in BOOLEANS:
        raise BadParameter(f"skipGeometry {args['skipGeometry']!r}: expected true or false")
    lang = args.get("filter-lang", "cql2-text")
    if lang not in LANGS:
        raise BadParameter(f"filter-lang {lang!r}: expected 'cql2-text' or 'cql2-json'")
    parsed = None
    if "filter" in args:
        parse = parse_cql2_json if lang == "cql2-json" else parse_cql2_text
        try:
            parsed = parse(args["filter"])
        except Exception as exc:  # lark and json raise several unrelated types
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise BadParameter(
                f"collection {cid!r}: filter is not valid {LANGS[lang]}: {reason}"
            ) from exc
    try:
        queryables.check(
            cid, queryables.declared(provider), [n for n in args if n in fields], parsed
        )
    except queryables.NotQueryable as exc:
        raise BadParameter(str(exc)) from exc


def _exception(status: int, code: str, description: str) -> Response:
    body = json.dumps({"code": code, "type": code, "description": description})
    return Response(body, status=status, mimetype="application/json")


def _validators(layer: Layer, provider: dict[str, Any]) -> tuple[str, dt.datetime]:
    """The ETag of this representation and the version's Last-Modified."""
    key = "\n".join(
        [
            json.dumps(provider, sort_keys=True, default=str),
            request.path,
            request.query_string.decode("latin-1"),
            request.headers.get("Accept", ""),
            request.headers.get("Accept-Encoding", ""),
            request.headers.get("Accept-Language", ""),
        ]
    )
    digest = hashlib.sha1(key.encode(), usedforsecurity=False).hexdigest()[:16]
    built = dt.datetime.fromisoformat(str(layer.meta["built_at"]).replace("Z", "+00:00"))
    return f"{layer.meta['build_id']}-{digest}", built


def _not_modified(etag: str, built: dt.datetime) -> bool:
    if request.if_none_match:
        return request.if_none_match.contains_weak(etag) or request.if_none_match.star_tag
    since = request.if_modified_since
    return since is not None and built.replace(microsecond=0) <= since


def before() -> Response | None:
    """Validate parameters and answer conditional requests before pygeoapi runs."""
    match = ROUTE.match(request.path)
    if not match or request.method not in ("GET", "HEAD", "POST"):
        return None
    found = _layer(match["cid"])
    if found is None:
        return None
    layer, provider = found
    rest = match["rest"] or ""
    try:
        if rest == "/items":
            check_items(match["cid"], request.args, layer, provider)
        else:
            allowed = ITEM if match["fid"] else COMMON
            for name in sorted(set(request.args) - allowed):
                raise BadParameter(
                    f"collection {match['cid']!r}: unknown query parameter {name!r}; "
                    f"accepted here: {sorted(allowed)}"
                )
    except BadParameter as exc:
        return _exception(400, "InvalidParameterValue", str(exc))
    if request.method == "POST":
        return None
    etag, built = _validators(layer, provider)
    g.geopublish_validators = (etag, built, rest.startswith("/items"))
    if _not_modified(etag, built):
        response = Response(status=304)
        _decorate(response, etag, built)
        return response
    if rest.startswith("/items"):
        return try_serve(match["cid"], match["fid"], layer, provider)
    return None


def _decorate(response: Response, etag: str, built: dt.datetime) -> None:
    response.set_etag(etag)
    response.last_modified = built
    if CACHE_CONTROL[0]:
        response.headers["Cache-Control"] = CACHE_CONTROL[0]
    response.vary.update(("Accept", "Accept-Encoding", "Accept-Language"))


def after(response: Response) -> Response:
    """Validators, caching and GeoJSON media type on successful collection responses."""
    found = g.pop("geopublish_validators", None)
    if found is None or response.status_code != 200:
        return response
    etag, built, features = found
    _decorate(response, etag, built)
    kind = response.headers.get("Content-Type", "")
    if features and kind.startswith("application/json"):
        response.headers["Content-Type"] = "application/geo+json" + kind[len("application/json") :]
    return response


def install(app: Flask, cache_control: str) -> None:
    """Register the hooks on pygeoapi's Flask app and declare only what is served.

    Parameters
    ----------
    app
        pygeoapi's Flask application.
    cache_control
        ``Cache-Control`` value for collection responses; empty sends none.
    """
    CACHE_CONTROL[0] = cache_control
    itemtypes.parse_cql2_text = _parse_filter_text
    itemtypes.parse_cql2_json = parse_cql2_json
    classes = itemtypes.CONFORMANCE_CLASSES_FEATURES
    classes[:] = [c for c in classes if c not in UNSERVED] + [c for c in SERVED if c not in classes]
    app.before_request(before)
    app.after_request(after)
