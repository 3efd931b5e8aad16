"""HTTP behaviour around pygeoapi for every collection geopublish serves, whatever the store.

Flask hooks installed on pygeoapi's app: each items / feature request is parsed once into the
request model (:mod:`geopublish.serve.request`) against the served version's record, for the
GeoPackage and the PostGIS store alike; a parameter the collection cannot honour is a 400 (an
OGC exception document) instead of being ignored or reaching SQL; items and features are
``application/geo+json``; ``ETag``/``Last-Modified`` come from the published version (build
id, build time), so a conditional request is answered with a 304 before any query runs;
``Cache-Control`` comes from the settings. ``/conformance`` declares only the classes the
conformance suite checks. Gzip, CORS and the media types apply to error bodies too.
"""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import json
import logging
import re
from typing import Any

from flask import Flask, Response, g, request
from pygeoapi.api import itemtypes

from geopublish.model import GPKG_PROVIDER, POSTGIS_PROVIDER, PublishedLayer
from geopublish.serve.fast import store_provider, try_serve
from geopublish.serve.postgis_provider import StaleVersion
from geopublish.serve.published import recent_layer, served_layer
from geopublish.serve.request import (
    RequestError,
    parse_feature,
    parse_filter,
    parse_items,
    parse_other,
)
from geopublish.serve.sql import QueryError

LOGGER = logging.getLogger(__name__)
PROVIDERS = {GPKG_PROVIDER, POSTGIS_PROVIDER}
ROUTE = re.compile(
    r"^/collections/(?P<cid>[^/]+)(?P<rest>/items(?:/(?P<fid>[^/]+))?|/queryables)?/?$"
)
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
CQL_JSON_MEDIA = ("application/query-cql-json", "application/json", "application/cql2+json")
GZIP_MAGIC = b"\x1f\x8b"

CACHE_CONTROL = [""]
# id(provider block) -> (the block, its JSON): part of every ETag, written once per worker.
_PROVIDER_TEXT: dict[int, tuple[dict[str, Any], str]] = {}
# What a request keeps on ``g``; cleared when it starts again on a fresh record.
REQUEST_STATE = (
    "geopublish_request",
    "geopublish_body_filter",
    "geopublish_layer",
    "geopublish_unconfirmed",
    "geopublish_store",
    "geopublish_row",
    "geopublish_validators",
)


def _parse_filter_text(text: str) -> Any:
    """The filter the request model already parsed, else ``text`` parsed (CQL2 precedence)."""
    found = g.get("geopublish_request")
    if found is not None and found.filter is not None:
        return found.filter
    lang = request.args.get("filter-lang", "cql2-text")
    return parse_filter(text, "cql2-json" if lang == "cql2-json" else "cql2-text")


def _parse_filter_json(text: str | bytes) -> Any:
    found = g.get("geopublish_body_filter")
    return found if found is not None else parse_filter(text, "cql2-json")


def _provider(resource: dict[str, Any] | None) -> dict[str, Any] | None:
    if not resource or resource.get("type") != "collection":
        return None
    for provider in resource.get("providers", []):
        if provider.get("type") == "feature" and provider.get("name") in PROVIDERS:
            return provider
    return None


def _exception(status: int, code: str, description: str) -> Response:
    body = json.dumps({"code": code, "type": code, "description": description})
    return Response(body, status=status, mimetype="application/json")


def _validators(layer: PublishedLayer, provider: dict[str, Any]) -> tuple[str, dt.datetime]:
    """The ETag of this representation and the version's Last-Modified."""
    known = _PROVIDER_TEXT.get(id(provider))
    if known is None or known[0] is not provider:
        known = _PROVIDER_TEXT[id(provider)] = (
            provider,
            json.dumps(provider, sort_keys=True, default=str),
        )
    key = "\n".join(
        [
            known[1],
            str(layer.version),
            request.path,
            request.query_string.decode("latin-1"),
            request.headers.get("Accept", ""),
            request.headers.get("Accept-Encoding", ""),
            request.headers.get("Accept-Language", ""),
        ]
    )
    digest = hashlib.sha1(key.encode(), usedforsecurity=False).hexdigest()[:16]
    built = dt.datetime.fromisoformat(str(layer.built_at).replace("Z", "+00:00"))
    if built.tzinfo is None:
        built = built.replace(tzinfo=dt.UTC)
    return f"{layer.build_id}-{digest}", built


def _not_modified(etag: str, built: dt.datetime) -> bool:
    if request.if_none_match:
        return request.if_none_match.contains_weak(etag) or request.if_none_match.star_tag
    since = request.if_modified_since
    return since is not None and built.replace(microsecond=0) <= since


def _check(cid: str, rest: str, fid: str | None, layer: PublishedLayer, provider: dict) -> None:
    """Parse the request once into the request model (kept on ``g``); RequestError if bad."""
    from pygeoapi.flask_app import api_

    if rest == "/items" and fid is None:
        resource = api_.config["resources"][cid]
        limits = {**api_.config["server"].get("limits", {}), **resource.get("limits", {})}
        g.geopublish_request = parse_items(cid, request.args, layer, provider, limits)
        if request.method == "POST":
            kind = request.headers.get("Content-Type", "").split(";")[0].strip().lower()
            if kind not in CQL_JSON_MEDIA:
                raise RequestError(
                    f"collection {cid!r}: POST to items takes a CQL2 JSON filter "
                    f"(Content-Type application/query-cql-json), got {kind or 'none'!r}",
                    status=415 if kind else 400,
                )
            body = request.get_data(cache=True)
            if not body.strip():
                raise RequestError(f"collection {cid!r}: POST to items needs a CQL2 JSON body")
            g.geopublish_body_filter = parse_filter(body, "cql2-json")
    elif fid is not None:
        parse_feature(cid, request.args, provider)
    else:
        parse_other(cid, request.args)


def before() -> Response | None:
    """Check the request against the layer and answer conditional requests before pygeoapi."""
    match = ROUTE.match(request.path)
    if not match or request.method not in ("GET", "HEAD", "POST"):
        return None
    from pygeoapi.flask_app import api_

    resource = api_.config["resources"].get(match["cid"])
    provider = _provider(resource)
    if provider is None:
        return None
    recent = recent_layer(provider) if _checked_by_statement(match) else None
    if recent is not None:
        try:
            return _answer(match, provider, recent, confirmed=False)
        except StaleVersion:
            for key in REQUEST_STATE:  # start again on the current record
                g.pop(key, None)
    layer = served_layer(resource)
    if layer is None:
        return _exception(503, "ServiceUnavailable", f"collection {match['cid']!r} is not served")
    return _answer(match, provider, layer, confirmed=True)


def _checked_by_statement(match: re.Match) -> bool:
    """Whether the request's first data statement runs before any answer depends on the record.

    Feature requests read their row first; a GET of items that is not conditional reads its
    page before answering. Those may start from the worker's last PostGIS record, which that
    statement checks (:class:`~geopublish.serve.postgis_provider.PostGISProvider`).
    """
    if match["rest"] is None or not match["rest"].startswith("/items"):
        return False
    if match["fid"] is not None:
        return request.method in ("GET", "HEAD")
    conditional = request.if_none_match or request.if_modified_since is not None
    return request.method == "GET" and not conditional


def _answer(
    match: re.Match, provider: dict[str, Any], layer: PublishedLayer, confirmed: bool
) -> Response | None:
    """The response of ``before`` on ``layer``; StaleVersion when an unconfirmed record decides.

    ``confirmed`` is False for the worker's last PostGIS record: every answer then comes from a
    data statement that checked it, or the request starts again on the record read now.
    """
    g.geopublish_layer = layer
    g.geopublish_unconfirmed = not confirmed
    rest = match["rest"] or ""
    try:
        _check(match["cid"], rest, match["fid"], layer, provider)
    except RequestError as exc:
        if not confirmed:
            raise StaleVersion(match["cid"]) from exc
        return _exception(exc.status, exc.code, str(exc))
    if request.method == "POST":
        return None
    fid = match["fid"]
    if fid is not None and "\x00" not in fid:
        # The direct path reuses the row; reading it confirms the record (or StaleVersion).
        g.geopublish_row = store_provider(provider).row(fid)
        confirmed = True
    if fid is not None and g.get("geopublish_row") is None:
        if not confirmed:
            raise StaleVersion(match["cid"])
        # Answered here for every format: an unknown id is a client's 404, not a logged error.
        return _exception(
            404, "NotFound", f"no feature {match['fid'][:80]!r} in collection {match['cid']!r}"
        )
    etag, built = _validators(layer, provider)
    g.geopublish_validators = (etag, built, rest.startswith("/items"))
    if _not_modified(etag, built):
        response = Response(status=304)
        _decorate(response, etag, built)
        return response
    answered = None
    if rest.startswith("/items") and request.method == "GET":
        try:
            answered = try_serve(match["cid"], match["fid"], g.get("geopublish_request"), provider)
        except (QueryError, RequestError) as exc:  # what a store's query cannot translate
            if not confirmed:
                raise StaleVersion(match["cid"]) from exc
            return _exception(400, "InvalidParameterValue", f"collection {match['cid']!r}: {exc}")
    if answered is None and not confirmed:
        raise StaleVersion(match["cid"])  # pygeoapi answers on the record read now
    return answered


def _decorate(response: Response, etag: str, built: dt.datetime) -> None:
    response.set_etag(etag)
    response.last_modified = built
    if CACHE_CONTROL[0]:
        response.headers["Cache-Control"] = CACHE_CONTROL[0]
    response.vary.update(("Accept", "Accept-Encoding", "Accept-Language"))


def after(response: Response) -> Response:
    """Validators, caching and media type on collection responses; a gzip label only on gzip."""
    if response.headers.get("Content-Encoding") == "gzip" and not response.direct_passthrough:
        if not response.get_data().startswith(GZIP_MAGIC):
            response.set_data(gzip.compress(response.get_data()))
    if response.status_code == 501 and request.method in ("GET", "HEAD"):
        # What pygeoapi answers 501 (AsyncAPI, STAC API...) is not configured here: absent.
        response = _exception(404, "NotFound", f"{request.path} is not served here")
    found = g.pop("geopublish_validators", None)
    if found is None or response.status_code != 200:
        return response
    etag, built, features = found
    _decorate(response, etag, built)
    kind = response.headers.get("Content-Type", "")
    if features and kind.startswith("application/json"):
        response.headers["Content-Type"] = "application/geo+json" + kind[len("application/json") :]
    return response


class AcceptFilter:
    """WSGI middleware: drop ``Accept`` entries with ``q=0`` ("not acceptable").

    pygeoapi divides by q while negotiating and fails with a ZeroDivisionError on them.
    """

    def __init__(self, app: Any) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        """Filter the header, then run the application."""
        accept = environ.get("HTTP_ACCEPT")
        if accept and "q=" in accept:
            kept = [p for p in accept.split(",") if not _zero_q(p)]
            environ["HTTP_ACCEPT"] = ",".join(kept) or "*/*"
        return self.app(environ, start_response)


def _zero_q(part: str) -> bool:
    for param in part.split(";")[1:]:
        name, _, value = param.strip().partition("=")
        if name.strip().lower() == "q":
            try:
                return float(value) <= 0
            except ValueError:
                return True
    return False


def json_as_stored(dict_: dict, pretty: bool = False) -> str:
    """Pygeoapi's ``to_json`` without its HTML escaping: JSON values come back as stored.

    pygeoapi writes ``<`` and ``>`` as ``&lt;``/``&gt;`` in every JSON document; a JSON client
    then reads other values than the stored ones. HTML pages escape at rendering instead
    (templates use :func:`pygeoapi.util.to_json`, left as it is).
    """
    from pygeoapi.util import json_serial

    return json.dumps(
        dict_, default=json_serial, indent=4 if pretty else None, separators=(",", ":")
    )


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
    import pygeoapi.api as core
    from pygeoapi.api import coverages as coverage_api

    for module in (core, itemtypes, coverage_api):
        module.to_json = json_as_stored  # type: ignore[attr-defined]
    itemtypes.parse_cql2_text = _parse_filter_text
    itemtypes.parse_cql2_json = _parse_filter_json
    classes = itemtypes.CONFORMANCE_CLASSES_FEATURES
    classes[:] = [c for c in classes if c not in UNSERVED] + [c for c in SERVED if c not in classes]
    app.before_request(before)
    app.after_request(after)
    app.wsgi_app = AcceptFilter(app.wsgi_app)  # type: ignore[method-assign]
