"""OGC API Tiles, TileJSON 3 and MapLibre styles over the tile set of each served version.

The served version's record (per worker, :class:`~geopublish.serve.served_cache.ServedCache`)
has the build id that names its tile set (``var/tiles/<id>/<build_id>.mbtiles``, built before
the swap): a publication or a rollback shows at the next request. Tiles themselves are
answered in WSGI by :mod:`geopublish.serve.tile_path` (as stored, gzip-compressed; 204 for a
tile without features, 404 outside the zoom range or the matrix); this module answers the
documents, the styles and ``/carte`` through Flask.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from flask import Flask, Response, request

from geopublish.model import PublishedLayer
from geopublish.serve import carte
from geopublish.serve.raster_tiles import Coverage
from geopublish.serve.tile_path import MVT, TileRequests, TileSet
from geopublish.settings import Settings

TMS = "WebMercatorQuad"
TMS_URI = "http://www.opengis.net/def/tilematrixset/OGC/1.0/WebMercatorQuad"
CRS_3857 = "http://www.opengis.net/def/crs/EPSG/0/3857"
ROUTE = re.compile(
    r"^/collections/(?P<cid>[a-z][a-z0-9_]*)/(?:"
    r"(?P<list>tiles)|(?P<meta>tiles/WebMercatorQuad)"
    r"|(?P<tilejson>tiles\.json)|(?P<style>style\.json))/?$"
)
CATALOGUE = {"/tiles.json": "tilejson", "/styles/catalogue.json": "style"}
# Collections drawn as boundaries under every other layer.
BOUNDARIES = ("region",)
COLOURS = ["#1b6ca8", "#d1495b", "#2e933c", "#edae49", "#6a4c93", "#00798c", "#8d6a9f"]


def matrix_limits(bbox: list[float] | None, z: int) -> dict[str, Any]:
    """The tile rows and columns of zoom ``z`` covering a lon/lat bbox (WebMercatorQuad)."""
    n = 1 << z
    if not bbox:
        return {"tileMatrix": str(z), "minTileRow": 0, "maxTileRow": n - 1,
                "minTileCol": 0, "maxTileCol": n - 1}  # fmt: skip

    def col(lon: float) -> int:
        return min(n - 1, max(0, int((lon + 180.0) / 360.0 * n)))

    def row(lat: float) -> int:
        lat = max(-85.0511287798, min(85.0511287798, lat))
        rad = math.radians(lat)
        return min(n - 1, max(0, int((1 - math.asinh(math.tan(rad)) / math.pi) / 2 * n)))

    return {"tileMatrix": str(z), "minTileRow": row(bbox[3]), "maxTileRow": row(bbox[1]),
            "minTileCol": col(bbox[0]), "maxTileCol": col(bbox[2])}  # fmt: skip


class Tiles:
    """The tile routes of one application."""

    def __init__(self, settings: Settings, config: dict[str, Any], path: TileRequests) -> None:
        self.settings = settings
        self.config = config
        self.path = path

    @property
    def base(self) -> str:
        """The public URL of the service."""
        return str(self.config.get("server", {}).get("url") or self.settings.public_url).rstrip("/")

    def served(self, cid: str) -> tuple[PublishedLayer, TileSet] | None:
        """The served version of a collection and its tile set, or None."""
        resource = self.config.get("resources", {}).get(cid)
        if not isinstance(resource, dict):
            return None
        return self.path.vector_tiles(cid, resource)

    def layers(self) -> list[tuple[str, dict[str, Any], PublishedLayer, TileSet]]:
        """Every collection with a served tile set."""
        found = []
        for cid, resource in self.config.get("resources", {}).items():
            served = self.served(cid)
            if served is not None:
                found.append((cid, resource, *served))
        return found

    def rasters(self) -> list[tuple[str, dict[str, Any], PublishedLayer, Coverage]]:
        """Every coverage served as map tiles (PNG rendered from its COG)."""
        found = []
        for cid, resource in self.config.get("resources", {}).items():
            if isinstance(resource, dict) and resource.get("type") == "collection":
                if any(p.get("type") == "coverage" for p in resource.get("providers", [])):
                    served = self.path.raster_coverage(cid, resource)
                    if served is not None:
                        found.append((cid, resource, *served))
        return found

    # Responses -----------------------------------------------------------------------------

    def _json(self, document: dict[str, Any], etag: str) -> Response:
        response = Response(json.dumps(document, ensure_ascii=False), mimetype="application/json")
        return self._cache(response, etag)

    def _cache(self, response: Response, etag: str) -> Response:
        response.set_etag(etag)
        if self.settings.cache_control:
            response.headers["Cache-Control"] = self.settings.cache_control
        response.vary.add("Accept-Encoding")
        if request.if_none_match.contains(etag) and response.status_code in (200, 204):
            response.status_code = 304
            response.set_data(b"")
            response.headers.pop("Content-Encoding", None)
        return response

    def _not_found(self, text: str) -> Response:
        body = {"code": "NotFound", "description": text}
        return Response(json.dumps(body), status=404, mimetype="application/json")

    def dispatch(self) -> Response | None:
        """Answer a tile, TileJSON or style path; None lets pygeoapi answer."""
        if request.method not in ("GET", "HEAD"):
            return None
        if request.path.rstrip("/") == "/carte":
            return self.carte()
        which = CATALOGUE.get(request.path.rstrip("/") or "/")
        if which is not None:
            return self.catalogue(which)
        match = ROUTE.match(request.path)
        if match is None:
            return None
        cid = match["cid"]
        served = self.served(cid)
        if served is None:
            if cid in self.config.get("resources", {}):
                return self._not_found(f"collection {cid!r} has no vector tiles")
            return None  # pygeoapi's own 404
        layer, tileset = served
        tag = f"{cid}-v{layer.version}-{layer.build_id}"
        if match["list"]:
            return self._json(self.tilesets(cid, layer, tileset), tag)
        if match["meta"]:
            return self._json(self.tileset(cid, layer, tileset), tag)
        if match["tilejson"]:
            return self._json(self.tilejson(cid, layer, tileset), tag)
        if match["style"]:
            return self._json(
                self.style([(cid, self.config["resources"][cid], layer, tileset)]), tag
            )
        return None

    # Documents -----------------------------------------------------------------------------

    def _template(self, cid: str) -> str:
        return f"{self.base}/collections/{cid}/tiles/{TMS}/{{z}}/{{y}}/{{x}}"

    def tilesets(self, cid: str, layer: PublishedLayer, tileset: TileSet) -> dict[str, Any]:
        """The OGC API Tiles list of tilesets of a collection."""
        url = f"{self.base}/collections/{cid}/tiles"
        return {
            "links": [{"rel": "self", "href": url, "type": "application/json"}],
            "tilesets": [
                {
                    "title": cid,
                    "dataType": "vector",
                    "crs": CRS_3857,
                    "tileMatrixSetURI": TMS_URI,
                    "links": [
                        {"rel": "self", "href": f"{url}/{TMS}", "type": "application/json"},
                        {
                            "rel": "http://www.opengis.net/def/rel/ogc/1.0/tiling-scheme",
                            "href": TMS_URI,
                            "type": "application/json",
                        },
                    ],  # fmt: skip
                }
            ],
        }

    def tileset(self, cid: str, layer: PublishedLayer, tileset: TileSet) -> dict[str, Any]:
        """The OGC API Tiles tileset metadata (WebMercatorQuad)."""
        url = f"{self.base}/collections/{cid}/tiles/{TMS}"
        return {
            "title": cid,
            "dataType": "vector",
            "crs": CRS_3857,
            "tileMatrixSetURI": TMS_URI,
            "tileMatrixSetLimits": [
                matrix_limits(layer.bbox_crs84, z)
                for z in range(tileset.minzoom, tileset.maxzoom + 1)
            ],
            "layers": [
                {
                    "id": cid,
                    "dataType": "vector",
                    "geometryType": layer.geometry_type,
                    "minTileMatrix": str(tileset.minzoom),
                    "maxTileMatrix": str(tileset.maxzoom),
                    "propertiesSchema": {
                        "type": "object",
                        "properties": {n: {"type": t} for n, t in self._fields(tileset).items()},
                    },
                }
            ],
            "links": [
                {"rel": "self", "href": url, "type": "application/json"},
                {
                    "rel": "item",
                    "href": f"{url}/{{tileMatrix}}/{{tileRow}}/{{tileCol}}",
                    "templated": True,
                    "type": MVT,
                },
                {
                    "rel": "describedby",
                    "href": f"{self.base}/collections/{cid}/tiles.json",
                    "type": "application/json",
                },
            ],  # fmt: skip
        }

    def _fields(self, tileset: TileSet) -> dict[str, str]:
        for vector in tileset.vector_layers:
            return {n: str(t).lower() for n, t in vector.get("fields", {}).items()}
        return {}

    def _vector_layer(self, cid: str, layer: PublishedLayer, tileset: TileSet) -> dict[str, Any]:
        return {
            "id": cid,
            "fields": {n: t for n, t in self._fields(tileset).items()},
            "minzoom": tileset.minzoom,
            "maxzoom": tileset.maxzoom,
            "description": layer.geometry_type or "",
        }

    def tilejson(self, cid: str, layer: PublishedLayer, tileset: TileSet) -> dict[str, Any]:
        """The TileJSON 3.0 document of a collection."""
        resource = self.config["resources"][cid]
        bbox = layer.bbox_crs84 or [-180.0, -85.0511, 180.0, 85.0511]
        return {
            "tilejson": "3.0.0",
            "name": _text(resource.get("title", cid)),
            "description": _text(resource.get("description", "")),
            "version": f"{layer.version}.0.0",
            "attribution": _attribution(resource),
            "scheme": "xyz",
            "tiles": [self._template(cid)],
            "minzoom": tileset.minzoom,
            "maxzoom": tileset.maxzoom,
            "bounds": bbox,
            "center": [(bbox[0] + bbox[2]) / 2, (bbox[1] + bbox[3]) / 2, tileset.minzoom],
            "vector_layers": [self._vector_layer(cid, layer, tileset)],
        }

    def style(
        self,
        entries: list[tuple[str, dict, PublishedLayer, TileSet]],
        rasters: list[tuple[str, dict, PublishedLayer, Coverage]] = (),  # type: ignore[assignment]
    ) -> dict[str, Any]:
        """A MapLibre style drawing the given layers, over the given raster backgrounds."""
        sources: dict[str, Any] = {}
        layers: list[dict[str, Any]] = [
            {"id": "fond", "type": "background", "paint": {"background-color": "#f4f1ea"}}
        ]
        for cid, resource, layer, coverage in rasters:
            sources[cid] = {
                "type": "raster",
                "tiles": [self._template(cid)],
                "tileSize": 256,
                "minzoom": coverage.minzoom,
                "maxzoom": coverage.maxzoom,
                "attribution": _attribution(resource),
            }
            if layer.bbox_crs84:
                sources[cid]["bounds"] = layer.bbox_crs84
            layers.append({"id": f"{cid}-raster", "type": "raster", "source": cid,
                           "metadata": {"geopublish:collection": cid},
                           "paint": {"raster-opacity": 0.45}})  # fmt: skip
        # The region's boundaries under everything, then polygons under lines under points,
        # so nothing hides a smaller feature.
        order = {"Polygon": 1, "LineString": 2, "Point": 3}

        def rank(entry: tuple[int, tuple]) -> tuple[int, int]:
            cid, layer = entry[1][0], entry[1][2]
            if cid in BOUNDARIES:
                return (0, entry[0])
            return (order.get((layer.geometry_type or "").removeprefix("Multi"), 1), entry[0])

        ranked = sorted(enumerate(entries), key=rank)
        for index, (cid, _resource, layer, _tileset) in ranked:
            colour = COLOURS[index % len(COLOURS)]
            sources[cid] = {"type": "vector", "url": f"{self.base}/collections/{cid}/tiles.json"}
            common = {
                "source": cid,
                "source-layer": cid,
                "metadata": {"geopublish:collection": cid},
            }
            common["metadata"]["geopublish:id"] = layer.id_column
            family = (layer.geometry_type or "").removeprefix("Multi")
            if cid in BOUNDARIES:
                layers.append({"id": f"{cid}-boundary", "type": "line", **common,
                               "paint": {"line-color": "#555555", "line-width": 2,
                                         "line-dasharray": [3, 2]}})  # fmt: skip
            elif family == "Polygon":
                layers.append(
                    {
                        "id": f"{cid}-fill",
                        "type": "fill",
                        **common,
                        "paint": {"fill-color": colour, "fill-opacity": 0.25},
                    }
                )
                layers.append({"id": f"{cid}-outline", "type": "line", **common,
                               "paint": {"line-color": colour, "line-width": 1}})  # fmt: skip
            elif family == "LineString":
                layers.append({"id": f"{cid}-line", "type": "line", **common,
                               "paint": {"line-color": colour, "line-width": 2}})  # fmt: skip
            else:
                layers.append({"id": f"{cid}-circle", "type": "circle", **common,
                               "paint": {"circle-color": colour, "circle-radius": 4,
                                         "circle-stroke-color": "#ffffff",
                                         "circle-stroke-width": 1}})  # fmt: skip
        return {"version": 8, "name": "geopublish", "sources": sources, "layers": layers}

    def carte(self) -> Response:
        """The offline map page of every layer with tiles."""
        entries = self.layers()
        rasters = self.rasters()
        boxes = [lay.bbox_crs84 for _, _, lay, _ in entries if lay.bbox_crs84]
        bounds = _union(boxes) if boxes else [-5.5, 41.0, 10.0, 51.5]
        title = _text(self.config.get("metadata", {}).get("identification", {}).get("title", ""))
        listed = [
            {"id": c, "title": _text(r.get("title", c)), "id_field": lay.id_column or "id"}
            for c, r, lay, _ in [*rasters, *entries]
        ]
        tag = "carte-" + "-".join(
            f"{c}.{lay.version}.{lay.build_id}" for c, _, lay, _ in [*rasters, *entries]
        )
        response = Response(carte.page(title, listed, bounds), mimetype="text/html")
        return self._cache(response, tag)

    def catalogue(self, which: str) -> Response:
        """The TileJSON or the MapLibre style of every layer with tiles."""
        entries = self.layers()
        rasters = self.rasters() if which == "style" else []
        tag = "catalogue-" + "-".join(
            f"{c}.{lay.version}.{lay.build_id}" for c, _, lay, _ in [*rasters, *entries]
        )
        if which == "style":
            return self._json(self.style(entries, rasters), tag)
        vector_layers = [self._vector_layer(c, lay, t) for c, _, lay, t in entries]
        boxes = [lay.bbox_crs84 for _, _, lay, _ in entries if lay.bbox_crs84]
        bounds = _union(boxes) if boxes else [-180.0, -85.0511, 180.0, 85.0511]
        document = {
            "tilejson": "3.0.0",
            "name": _text(
                self.config.get("metadata", {}).get("identification", {}).get("title", "")
            ),
            "scheme": "xyz",
            "tiles": [self._template(c) for c, *_ in entries],
            "minzoom": min((t.minzoom for *_, t in entries), default=0),
            "maxzoom": max((t.maxzoom for *_, t in entries), default=14),
            "bounds": bounds,
            "vector_layers": vector_layers,
            "attribution": "; ".join(sorted({_attribution(r) for _, r, _, _ in entries} - {""})),
        }
        return self._json(document, tag)


def _union(boxes: list[list[float]]) -> list[float]:
    return [
        min(b[0] for b in boxes),
        min(b[1] for b in boxes),
        max(b[2] for b in boxes),
        max(b[3] for b in boxes),
    ]


def _text(value: Any) -> str:
    """A pygeoapi text: a string, or a {language: text} mapping (French first)."""
    if isinstance(value, dict):
        return str(value.get("fr") or value.get("en") or next(iter(value.values()), ""))
    return str(value)


def _attribution(resource: dict[str, Any]) -> str:
    for link in resource.get("links", []):
        if link.get("rel") == "license":
            return str(link.get("title", ""))
    return ""


def install(app: Flask, settings: Settings, config: dict[str, Any]) -> None:
    """Answer the tile, TileJSON and style paths before pygeoapi's own routes."""
    path = TileRequests(app.wsgi_app, settings, config)
    app.wsgi_app = path  # type: ignore[method-assign]
    routes = Tiles(settings, config, path)
    app.before_request(routes.dispatch)
