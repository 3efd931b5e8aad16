"""The direct path for the commonest JSON requests: pages and single features.

pygeoapi turns every coordinate into a Python float inside a dict and serialises the whole
document again with ``json.dumps``; for polygons that is most of a request's time. For a GET in
``f=json`` whose parameters are all ones handled here (``limit``, ``offset``, ``bbox`` in CRS84,
``properties``, ``skipGeometry``, ``sortby``, ``resulttype``, ``queryable=value``, ``filter``
in CRS84) on a layer stored in CRS84, the document is written directly: the members and links
pygeoapi writes, geometries as numpy coordinate arrays that orjson writes in one pass
(:mod:`geopublish.serve.geojson`). Anything else, and
anything that does not parse, falls through to pygeoapi, which answers it (or explains the
400) as before.
"""

from __future__ import annotations

import datetime as dt
import gzip
import threading
import urllib.parse
from typing import Any

import pygeoapi
from flask import Response, g, request
from pygeoapi import l10n
from pygeoapi.api.itemtypes import get_dataset_formatters

from geopublish.model import POSTGIS_PROVIDER
from geopublish.serve import geojson
from geopublish.serve.provider_base import FeatureProvider, Row, documents
from geopublish.serve.request import CRS84, ItemsRequest, apply

MEDIA = "application/geo+json"
_THREAD = threading.local()


def store_provider(provider: dict[str, Any]) -> FeatureProvider:
    """The store's provider for a provider block (GeoPackage or PostGIS), once per request.

    A PostGIS provider reuses the version record the request model used (``g``), so a request
    costs its data statements only; the worker's last record is checked by the first of them.
    Providers are kept per thread and version (:func:`_kept`).
    """
    found = g.get("geopublish_store")
    if found is not None:
        return found
    layer = g.get("geopublish_layer")
    if provider.get("name") == POSTGIS_PROVIDER:
        from geopublish.serve.postgis_provider import PostGISProvider

        confirmed = not g.get("geopublish_unconfirmed")
        if layer is None:
            made: FeatureProvider = PostGISProvider(provider)
        else:
            made = _kept(provider, layer, lambda: PostGISProvider(provider, layer, confirmed))
            made.confirmed = confirmed  # type: ignore[attr-defined]
    else:
        from geopublish.serve.layer import open_layer
        from geopublish.serve.provider import GeoPackageProvider

        path = layer.location if layer is not None else None
        if path is None:
            made = GeoPackageProvider(provider)
        else:
            # The thread's open file for this version: a provider over a closed one is not kept.
            opened = open_layer(path, provider.get("table") or provider["name"])
            made = _kept(provider, opened, lambda: GeoPackageProvider(provider, path))
    g.geopublish_store = made
    return made


def _kept(provider: dict[str, Any], version: Any, make: Any) -> FeatureProvider:
    """The calling thread's provider for one provider block and one version, made once.

    Building one per request costs more than a by-id query (pygeoapi's provider base makes a
    pyproj CRS each time); a version never changes, so one per thread and version serves every
    request on it. ``version`` is the object that names it: the thread's open GeoPackage file,
    or the PostGIS record in use (a provider that moved on to another record is not kept).
    """
    cache: dict[int, tuple[dict, Any, FeatureProvider]] = getattr(_THREAD, "providers", None) or {}
    _THREAD.providers = cache
    found = cache.get(id(provider))
    if found is not None and found[0] is provider and found[1] is version:
        made = found[2]
        if getattr(made, "layer", version) is version:
            return made
    made = make()
    cache[id(provider)] = (provider, version, made)
    return made


def features(
    store: FeatureProvider, rows: list[Row], select: tuple[str, ...] | None, skip: bool
) -> list[dict[str, Any]]:
    """GeoJSON feature of each row, its geometry from :mod:`geopublish.serve.geojson`."""
    geoms: list[Any] = [None] * len(rows)
    if rows and not skip:
        geoms = geojson.geometries(store.decode([r[-1] for r in rows]))
    names = store.names()
    return documents(
        rows, geoms, names, store.id_field, list(select) if select else None, store.present
    )


def _respond(api: Any, document: dict[str, Any]) -> Response:
    data = geojson.dumps(document)
    response = Response(data, mimetype=MEDIA)
    response.headers["X-Powered-By"] = f"pygeoapi {pygeoapi.__version__}"
    response.headers["Content-Language"] = l10n.locale2str(api.default_locale)
    response.headers["Content-Crs"] = f"<{CRS84}>"
    if api.config["server"].get("gzip") and "gzip" in request.headers.get("Accept-Encoding", ""):
        response.set_data(gzip.compress(data))
        response.headers["Content-Encoding"] = "gzip"
        response.headers["Content-Type"] = f"{MEDIA}; charset=utf-8"
    return response


def try_serve(
    cid: str, fid: str | None, req: ItemsRequest | None, provider: dict[str, Any]
) -> Response | None:
    """The response for a request this path handles, else None (pygeoapi takes it)."""
    from pygeoapi.flask_app import api_

    args = request.args
    if args.get("f") != "json" or provider.get("storage_crs") != CRS84:
        return None
    resource = api_.config["resources"][cid]
    base = f"{api_.get_collections_url()}/{cid}"
    if fid is not None:
        if set(args) != {"f"}:
            return None
        return _feature(api_, cid, fid, store_provider(provider), resource, base)
    if req is None or not req.crs84_only or "lang" in args:
        return None
    return _page(api_, req, store_provider(provider), resource, base)


def _feature(
    api: Any, cid: str, fid: str, store: FeatureProvider, resource: dict, base: str
) -> Response | None:
    row = g.get("geopublish_row") or store.row(fid)
    if row is None:
        return None
    root = api.base_url
    href = f"{base}/items/{urllib.parse.quote(fid, safe='')}"
    links = [
        {
            "type": "application/json",
            "rel": "root",
            "title": "The landing page of this server as JSON",
            "href": f"{root}?f=json",
        },
        {
            "type": "text/html",
            "rel": "root",
            "title": "The landing page of this server as HTML",
            "href": f"{root}?f=html",
        },
        {"rel": "self", "type": MEDIA, "title": "This document as JSON", "href": f"{href}?f=json"},
        {
            "rel": "alternate",
            "type": "application/ld+json",
            "title": "This document as RDF (JSON-LD)",
            "href": f"{href}?f=jsonld",
        },
        {
            "rel": "alternate",
            "type": "text/html",
            "title": "This document as HTML",
            "href": f"{href}?f=html",
        },
        {
            "rel": "collection",
            "type": "application/json",
            "title": l10n.translate(resource["title"], api.default_locale),
            "href": base,
        },
    ]
    (feature,) = features(store, [row], None, False)
    return _respond(api, {**feature, "links": links})


def _page(
    api: Any, req: ItemsRequest, store: FeatureProvider, resource: dict, base: str
) -> Response:
    args = request.args
    offset, limit = req.offset, req.limit
    query = store.new_query()
    apply(query, req, store.time_field)
    rows, matched = store.results(query, offset, limit, req.hits)
    found = features(store, rows, req.select, req.skip_geometry) if rows is not None else []
    uri = f"{base}/items"
    tail = "".join(
        f"&{urllib.parse.quote(k, safe='')}={urllib.parse.quote(str(v), safe=',')}"
        for k, v in args.items()
        if k not in ("f", "offset")
    )
    links = [
        {
            "type": MEDIA,
            "rel": "self",
            "title": "This document as GeoJSON",
            "href": f"{uri}?f=json{tail}",
        },
        {
            "rel": "alternate",
            "type": "application/ld+json",
            "title": "This document as RDF (JSON-LD)",
            "href": f"{uri}?f=jsonld{tail}",
        },
        {
            "type": "text/html",
            "rel": "alternate",
            "title": "This document as HTML",
            "href": f"{uri}?f=html{tail}",
        },
    ]
    for key, value in get_dataset_formatters(resource).items():
        links.append(
            {
                "type": value.mimetype,
                "rel": "alternate",
                "title": f"This document as {key}",
                "href": f"{uri}?f={value.name}{tail}",
            }
        )
    if offset > 0:
        links.append(
            {
                "type": MEDIA,
                "rel": "prev",
                "title": "Items (prev)",
                "href": f"{uri}?f=json&offset={max(0, offset - limit)}{tail}",
            }
        )
    if matched > limit + offset or len(found) == limit:
        links.append(
            {
                "type": MEDIA,
                "rel": "next",
                "title": "Items (next)",
                "href": f"{uri}?f=json&offset={offset + limit}{tail}",
            }
        )
    links.append(
        {
            "type": "application/json",
            "rel": "collection",
            "href": base,
            "title": l10n.translate(resource["title"], api.default_locale),
        }
    )
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return _respond(
        api,
        {
            "type": "FeatureCollection",
            "features": found,
            "numberMatched": matched,
            "numberReturned": len(found),
            "links": links,
            "timeStamp": stamp,
        },
    )
