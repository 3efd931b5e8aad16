"""The DCAT-AP 3 catalogue of the published layers, built with rdflib, paged with Hydra.

One ``dcat:Dataset`` per served layer (identifier, title, description, keywords, licence,
publisher, contact point, spatial extent as WKT and GeoJSON literals, temporal coverage, the
accrual periodicity of its declared refresh, modification time of the served version), one
``dcat:Distribution`` per download format (media type, size, SHA-256) and one
``dcat:DataService`` for the OGC API. Service metadata comes from ``config/service.yml``.
:func:`write_catalogue` writes one Turtle file per page (``var/catalogue/page-000001.ttl``)
whenever the API is republished; serve/ turns a page into JSON-LD, Turtle or RDF/XML.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

from rdflib import BNode, Graph, Literal, Namespace, URIRef
from rdflib.namespace import DCAT, DCTERMS, FOAF, RDF, SKOS, XSD

from geopublish.catalog.models import CollectionSpec
from geopublish.model import PublishedLayer
from geopublish.procs import other_alive
from geopublish.publish.downloads import FORMATS, Downloads
from geopublish.settings import Settings

HYDRA = Namespace("http://www.w3.org/ns/hydra/core#")
LOCN = Namespace("http://www.w3.org/ns/locn#")
GSP = Namespace("http://www.opengis.net/ont/geosparql#")
SPDX = Namespace("http://spdx.org/rdf/terms#")
VCARD = Namespace("http://www.w3.org/2006/vcard/ns#")
EU = "http://publications.europa.eu/resource/authority/"
FREQ = Namespace(EU + "frequency/")
FILE_TYPE = Namespace(EU + "file-type/")
IANA = "https://www.iana.org/assignments/media-types/"
OGC_FEATURES = URIRef("http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core")
REGIONAL = URIRef("http://purl.org/adms/publishertype/RegionalAuthority")
FILE_TYPES = {
    "gpkg": "GPKG",
    "geojson": "GEOJSON",
    "csv": "CSV",
    "fgb": "BIN",  # the EU file-type list has no FlatGeobuf entry
    "parquet": "PARQUET",
}
PAGE_SIZE = 50
PAGE_FILE = re.compile(r"^page-(\d{6})\.ttl$")


def frequency(spec: CollectionSpec) -> URIRef | None:
    """EU frequency of a declared refresh (interval, or the fields of a cron expression)."""
    refresh = spec.refresh
    if refresh is None:
        return None
    if refresh.interval:
        unit = {"s": 1, "m": 60, "h": 3600, "d": 86400}[refresh.interval[-1]]
        seconds = int(refresh.interval[:-1]) * unit
        for most, code in ((3600, "HOURLY"), (86400, "DAILY"), (7 * 86400, "WEEKLY")):
            if seconds <= most:
                return FREQ[code]
        return FREQ["MONTHLY"] if seconds <= 31 * 86400 else FREQ["ANNUAL"]
    if refresh.cron:
        minute, hour, day, month, weekday = (refresh.cron.split() + ["*"] * 5)[:5]
        if hour == "*" or "/" in hour:
            return FREQ["HOURLY"]
        if day == month == weekday == "*":
            return FREQ["DAILY"]
        if weekday != "*" and day == month == "*":
            return FREQ["WEEKLY"]
        if month == "*":
            return FREQ["MONTHLY"]
        return FREQ["ANNUAL"]
    return None


def _bbox_geometries(bbox: list[float]) -> tuple[str, str]:
    minx, miny, maxx, maxy = bbox
    ring = [[minx, miny], [maxx, miny], [maxx, maxy], [minx, maxy], [minx, miny]]
    wkt = "POLYGON((" + ", ".join(f"{x} {y}" for x, y in ring) + "))"
    return wkt, json.dumps({"type": "Polygon", "coordinates": [ring]})


class CatalogueBuilder:
    """Builds the catalogue graph of the served layers."""

    def __init__(self, settings: Settings, service: dict[str, Any]) -> None:
        self.settings = settings
        self.base = settings.public_url
        self.meta = service.get("metadata", {})
        self.downloads = Downloads(settings.downloads_dir)

    def _graph(self) -> Graph:
        graph = Graph()
        for prefix, ns in (
            ("dcat", DCAT), ("dct", DCTERMS), ("foaf", FOAF), ("hydra", HYDRA),
            ("locn", LOCN), ("gsp", GSP), ("spdx", SPDX), ("vcard", VCARD),
        ):  # fmt: skip
            graph.bind(prefix, ns)
        return graph

    def _agent(self, graph: Graph, name: str, url: str | None) -> URIRef | BNode:
        agent = URIRef(url) if url else BNode()
        graph.add((agent, RDF.type, FOAF.Agent))
        graph.add((agent, FOAF.name, Literal(name)))
        graph.add((agent, DCTERMS.type, REGIONAL))
        graph.add((REGIONAL, RDF.type, SKOS.Concept))
        graph.add((REGIONAL, SKOS.prefLabel, Literal("Regional authority", lang="en")))
        return agent

    def _licence(self, graph: Graph, url: str | None, name: str | None) -> URIRef | None:
        if not url:
            return None
        licence = URIRef(url)
        graph.add((licence, RDF.type, DCTERMS.LicenseDocument))
        if name:
            graph.add((licence, DCTERMS.title, Literal(name)))
        return licence

    def _contact(self, graph: Graph) -> BNode:
        contact = self.meta.get("contact", {})
        node = BNode()
        graph.add((node, RDF.type, VCARD.Kind))
        graph.add((node, VCARD.fn, Literal(contact.get("name", "Contact"))))
        if contact.get("email"):
            graph.add((node, VCARD.hasEmail, URIRef(f"mailto:{contact['email']}")))
        if contact.get("url"):
            graph.add((node, VCARD.hasURL, URIRef(contact["url"])))
        return node

    def catalogue_node(self, graph: Graph) -> URIRef:
        """The ``dcat:Catalog`` and the ``dcat:DataService`` of the OGC API."""
        ident = self.meta.get("identification", {})
        licence = self.meta.get("license", {})
        catalog = URIRef(f"{self.base}/catalogue")
        graph.add((catalog, RDF.type, DCAT.Catalog))
        graph.add((catalog, DCTERMS.title, Literal(ident.get("title", "geopublish"), lang="fr")))
        graph.add((catalog, DCTERMS.description, Literal(ident.get("description", ""), lang="fr")))
        graph.add((catalog, DCTERMS.publisher, self._publisher(graph)))
        graph.add((catalog, FOAF.homepage, URIRef(f"{self.base}/")))
        graph.add((URIRef(f"{self.base}/"), RDF.type, FOAF.Document))
        graph.add((catalog, DCTERMS.language, URIRef(EU + "language/FRA")))
        graph.add((URIRef(EU + "language/FRA"), RDF.type, DCTERMS.LinguisticSystem))
        lic = self._licence(graph, licence.get("url"), licence.get("name"))
        if lic is not None:
            graph.add((catalog, DCTERMS.license, lic))
        service = URIRef(f"{self.base}/")
        graph.add((service, RDF.type, DCAT.DataService))
        graph.add((service, DCTERMS.title, Literal(ident.get("title", "OGC API"), lang="fr")))
        graph.add((service, DCAT.endpointURL, URIRef(f"{self.base}/")))
        graph.add((service, DCAT.endpointDescription, URIRef(f"{self.base}/openapi?f=json")))
        graph.add((service, DCTERMS.conformsTo, OGC_FEATURES))
        graph.add((OGC_FEATURES, RDF.type, DCTERMS.Standard))
        graph.add((service, DCAT.contactPoint, self._contact(graph)))
        graph.add((service, DCTERMS.publisher, self._publisher(graph)))
        if lic is not None:
            graph.add((service, DCTERMS.license, lic))
        graph.add((catalog, DCAT.service, service))
        return catalog

    def _publisher(self, graph: Graph, name: str | None = None) -> URIRef | BNode:
        provider = self.meta.get("provider", {})
        if name and name != provider.get("name"):
            return self._agent(graph, name, None)
        return self._agent(graph, provider.get("name", "geopublish"), provider.get("url"))

    def dataset(
        self, graph: Graph, catalog: URIRef, spec: CollectionSpec, layer: PublishedLayer
    ) -> URIRef:
        """One layer as a ``dcat:Dataset`` with its distributions."""
        href = f"{self.base}/collections/{spec.cid}"
        node = URIRef(href)
        graph.add((catalog, DCAT.dataset, node))
        graph.add((URIRef(f"{self.base}/"), DCAT.servesDataset, node))
        graph.add((node, RDF.type, DCAT.Dataset))
        graph.add((node, DCTERMS.identifier, Literal(href)))
        graph.add((node, DCTERMS.title, Literal(spec.title, lang="fr")))
        graph.add((node, DCTERMS.description, Literal(spec.description, lang="fr")))
        for word in spec.keywords:
            graph.add((node, DCAT.keyword, Literal(word, lang="fr")))
        graph.add((node, DCTERMS.publisher, self._publisher(graph, spec.publisher)))
        graph.add((node, DCAT.contactPoint, self._contact(graph)))
        graph.add((node, DCAT.landingPage, URIRef(f"{href}?f=html")))
        graph.add((URIRef(f"{href}?f=html"), RDF.type, FOAF.Document))
        graph.add((node, DCTERMS.modified, Literal(layer.built_at, datatype=XSD.dateTime)))
        period = BNode()
        graph.add((period, RDF.type, DCTERMS.PeriodOfTime))
        graph.add((period, DCAT.startDate, Literal(layer.built_at, datatype=XSD.dateTime)))
        graph.add((node, DCTERMS.temporal, period))
        freq = frequency(spec)
        if freq is not None:
            graph.add((freq, RDF.type, DCTERMS.Frequency))
            graph.add((node, DCTERMS.accrualPeriodicity, freq))
        if layer.bbox_crs84:
            self._spatial(graph, node, layer.bbox_crs84)
        licence = self._licence(graph, spec.licence.url, spec.licence.name)
        self._api_distribution(graph, node, spec, licence)
        manifest = self.downloads.manifest(spec.cid, layer.build_id) or {}
        for fmt in FORMATS:
            entry = manifest.get("files", {}).get(fmt.suffix)
            if entry is not None:
                self._distribution(graph, node, spec, fmt.suffix, entry, licence)
        return node

    def _spatial(self, graph: Graph, dataset: URIRef, bbox: list[float]) -> None:
        """The extent as a WKT and a GeoJSON literal (``dcat:bbox``) and as a geometry."""
        wkt, geojson = _bbox_geometries(bbox)
        place = BNode()
        graph.add((place, RDF.type, DCTERMS.Location))
        graph.add((place, DCAT.bbox, Literal(wkt, datatype=GSP.wktLiteral)))
        geometry = BNode()
        graph.add((geometry, RDF.type, LOCN.Geometry))
        graph.add((geometry, GSP.asWKT, Literal(wkt, datatype=GSP.wktLiteral)))
        graph.add((geometry, GSP.asGeoJSON, Literal(geojson, datatype=GSP.geoJSONLiteral)))
        graph.add((place, LOCN.geometry, geometry))
        graph.add((dataset, DCTERMS.spatial, place))
        as_geojson = BNode()  # a second view of the same extent, for GeoJSON-only harvesters
        graph.add((as_geojson, RDF.type, DCTERMS.Location))
        graph.add((as_geojson, DCAT.bbox, Literal(geojson, datatype=GSP.geoJSONLiteral)))
        graph.add((dataset, DCTERMS.spatial, as_geojson))

    def _api_distribution(
        self, graph: Graph, dataset: URIRef, spec: CollectionSpec, licence: URIRef | None
    ) -> None:
        """The layer through the OGC API (items, or the coverage of a raster)."""
        path = "coverage" if spec.is_raster else "items"
        url = URIRef(f"{self.base}/collections/{spec.cid}/{path}")
        media = "image/tiff" if spec.is_raster else "application/geo+json"
        graph.add((dataset, DCAT.distribution, url))
        graph.add((url, RDF.type, DCAT.Distribution))
        graph.add((url, DCTERMS.title, Literal(f"{spec.title} (OGC API)", lang="fr")))
        graph.add((url, DCAT.accessURL, url))
        graph.add((url, DCAT.accessService, URIRef(f"{self.base}/")))
        graph.add((URIRef(IANA + media), RDF.type, DCTERMS.MediaType))
        graph.add((url, DCAT.mediaType, URIRef(IANA + media)))
        if licence is not None:
            graph.add((url, DCTERMS.license, licence))

    def _distribution(
        self,
        graph: Graph,
        dataset: URIRef,
        spec: CollectionSpec,
        suffix: str,
        entry: dict[str, Any],
        licence: URIRef | None,
    ) -> None:
        url = URIRef(f"{self.base}/downloads/{spec.cid}.{suffix}")
        graph.add((dataset, DCAT.distribution, url))
        graph.add((url, RDF.type, DCAT.Distribution))
        graph.add((url, DCTERMS.title, Literal(f"{spec.title} ({entry['title']})", lang="fr")))
        graph.add((url, DCAT.accessURL, url))
        graph.add((url, DCAT.downloadURL, url))
        media = URIRef(IANA + entry["media_type"].split(";")[0])
        graph.add((media, RDF.type, DCTERMS.MediaType))
        graph.add((url, DCAT.mediaType, media))
        file_type = FILE_TYPE[FILE_TYPES[suffix]]
        graph.add((file_type, RDF.type, DCTERMS.MediaTypeOrExtent))
        graph.add((url, DCTERMS.format, file_type))
        graph.add((url, DCAT.byteSize, Literal(entry["size"], datatype=XSD.nonNegativeInteger)))
        checksum = BNode()
        graph.add((checksum, RDF.type, SPDX.Checksum))
        graph.add((checksum, SPDX.algorithm, SPDX.checksumAlgorithm_sha256))
        graph.add((SPDX.checksumAlgorithm_sha256, RDF.type, SPDX.ChecksumAlgorithm))
        graph.add((checksum, SPDX.checksumValue, Literal(entry["sha256"], datatype=XSD.hexBinary)))
        graph.add((url, SPDX.checksum, checksum))
        graph.add((url, DCAT.accessService, URIRef(f"{self.base}/")))
        if licence is not None:
            graph.add((url, DCTERMS.license, licence))

    def pages(
        self, specs: list[CollectionSpec], layers: dict[str, PublishedLayer], size: int
    ) -> list[Graph]:
        """The catalogue in pages of ``size`` datasets, each with its Hydra view."""
        served = [s for s in specs if s.cid in layers]
        count = max(1, -(-len(served) // size))
        out = []
        for number in range(1, count + 1):
            graph = self._graph()
            catalog = self.catalogue_node(graph)
            for spec in served[(number - 1) * size : number * size]:
                self.dataset(graph, catalog, spec, layers[spec.cid])
            self._hydra(graph, number, count, len(served), size)
            out.append(graph)
        return out

    def _hydra(self, graph: Graph, number: int, count: int, total: int, size: int) -> None:
        def page(n: int) -> URIRef:
            return URIRef(f"{self.base}/catalogue?page={n}")

        view = page(number)
        graph.add((view, RDF.type, HYDRA.PartialCollectionView))
        graph.add((view, HYDRA.first, page(1)))
        graph.add((view, HYDRA.last, page(count)))
        if number > 1:
            graph.add((view, HYDRA.previous, page(number - 1)))
        if number < count:
            graph.add((view, HYDRA.next, page(number + 1)))
        graph.add((view, HYDRA.totalItems, Literal(total)))
        graph.add((view, HYDRA.itemsPerPage, Literal(size)))


def write_catalogue(
    specs: list[CollectionSpec],
    layers: dict[str, PublishedLayer],
    settings: Settings,
    service: dict[str, Any],
    size: int = PAGE_SIZE,
) -> int:
    """Write every page of the catalogue as Turtle (atomic renames); return the page count."""
    folder = settings.var_dir / "catalogue"
    folder.mkdir(parents=True, exist_ok=True)
    pages = CatalogueBuilder(settings, service).pages(specs, layers, size)
    for number, graph in enumerate(pages, 1):
        final = folder / f"page-{number:06d}.ttl"
        text = graph.serialize(format="turtle")
        if final.is_file() and final.read_text(encoding="utf-8") == text:
            continue
        tmp = folder / f".{final.name}.{os.getpid()}.tmp"
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, final)
    for path in folder.iterdir():
        match = PAGE_FILE.match(path.name)
        if match and int(match.group(1)) > len(pages):
            path.unlink(missing_ok=True)
        elif path.name.endswith(".tmp") and not _alive(path):
            path.unlink(missing_ok=True)
    return len(pages)


def _alive(path: Path) -> bool:
    pid = path.name.rsplit(".", 2)[-2]
    return pid.isdigit() and other_alive(int(pid))
