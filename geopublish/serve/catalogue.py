"""``/catalogue``: the DCAT-AP catalogue in JSON-LD, Turtle or RDF/XML, paged with Hydra.

publish/ writes each page as Turtle in ``var/catalogue/`` whenever the API is republished;
this module picks the format from the extension (``/catalogue.jsonld``, ``.ttl``, ``.rdf``)
or the ``Accept`` header, and serialises the page with rdflib (parsed pages are cached by
file modification time).
"""

from __future__ import annotations

from pathlib import Path

from flask import Flask, Response, request
from rdflib import Graph

from geopublish.settings import Settings

FORMATS = {
    "jsonld": ("json-ld", "application/ld+json"),
    "ttl": ("turtle", "text/turtle"),
    "rdf": ("xml", "application/rdf+xml"),
}
BY_TYPE = {media: ext for ext, (_, media) in FORMATS.items()}


class CatalogueRoutes:
    """The catalogue routes over ``var/catalogue``."""

    def __init__(self, settings: Settings) -> None:
        self.folder = settings.var_dir / "catalogue"
        self.cache: dict[Path, tuple[int, Graph]] = {}

    def _page(self, number: int) -> Graph | None:
        path = self.folder / f"page-{number:06d}.ttl"
        try:
            mtime = path.stat().st_mtime_ns
        except OSError:
            return None
        cached = self.cache.get(path)
        if cached is None or cached[0] != mtime:
            graph = Graph()
            graph.parse(path, format="turtle")
            self.cache[path] = cached = (mtime, graph)
        return cached[1]

    def serve(self, ext: str | None = None) -> Response:
        """One page of the catalogue, in the asked serialisation."""
        if ext is None:
            best = request.accept_mimetypes.best_match(list(BY_TYPE), default="application/ld+json")
            ext = BY_TYPE.get(best or "", "jsonld")
        raw = request.args.get("page", "1")
        if ext not in FORMATS or not raw.isdigit() or not 1 <= int(raw) <= 10**6:
            return Response("unknown catalogue format or page\n", 404, mimetype="text/plain")
        graph = self._page(int(raw))
        if graph is None:
            return Response(f"no catalogue page {raw}\n", 404, mimetype="text/plain")
        fmt, media = FORMATS[ext]
        body = graph.serialize(format=fmt)
        response = Response(body, mimetype=media)
        response.headers["Vary"] = "Accept"
        return response


def install(app: Flask, settings: Settings) -> CatalogueRoutes:
    """Register ``/catalogue`` and ``/catalogue.<jsonld|ttl|rdf>``."""
    routes = CatalogueRoutes(settings)
    app.add_url_rule("/catalogue", "geopublish_catalogue", routes.serve)
    app.add_url_rule("/catalogue.<ext>", "geopublish_catalogue_as", routes.serve)
    return routes
