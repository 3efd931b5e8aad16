"""The DCAT-AP catalogue: valid against the official SHACL shapes, three serialisations, paged."""

from __future__ import annotations

import pytest
import requests
from rdflib import Graph, URIRef
from rdflib.namespace import DCAT, DCTERMS, RDF, SH

SUFFIXES = {"gpkg", "geojson", "csv", "fgb", "parquet"}
SERIALISATIONS = {"jsonld": "json-ld", "ttl": "turtle", "rdf": "xml"}
HYDRA = "http://www.w3.org/ns/hydra/core#"


@pytest.fixture(scope="module")
def shapes(shared_data):
    """The official DCAT-AP 3.0.1 shapes, read in place.

    The published file names two DataService property shapes it never defines (pyshacl
    refuses such a graph): those two references, and only those, are left out.
    """
    path = shared_data.parent / "standards" / "dcat-ap" / "dcat-ap-SHACL.ttl"
    if not path.is_file():
        pytest.skip(f"DCAT-AP shapes not found at {path}")
    graph = Graph().parse(path, format="turtle")
    dangling = [
        (s, o)
        for s, o in graph.subject_objects(SH.property)
        if next(graph.predicate_objects(o), None) is None
    ]
    assert len(dangling) == 2 and all(
        str(s).endswith("#dcat:DataServiceShape") for s, _ in dangling
    )
    for s, o in dangling:
        graph.remove((s, SH.property, o))
    return graph


@pytest.fixture(scope="module", params=["gpkg", "postgis"])
def base(request):
    if request.param == "gpkg":
        return request.getfixturevalue("api")
    return request.getfixturevalue("pg_site")["url"]


def fetch(base: str, ext: str) -> Graph:
    response = requests.get(f"{base}/catalogue.{ext}", timeout=60)
    assert response.status_code == 200, response.text[:200]
    return Graph().parse(data=response.text, format=SERIALISATIONS[ext])


def test_catalogue_has_no_shacl_violation(base, shapes):
    import pyshacl

    graph = fetch(base, "ttl")
    _, report, text = pyshacl.validate(graph, shacl_graph=shapes, inference="none")
    violations = list(report.subjects(SH.resultSeverity, SH.Violation))
    assert violations == [], text[:3000]


def test_three_serialisations_hold_the_same_graph(base):
    graphs = {ext: fetch(base, ext) for ext in SERIALISATIONS}
    sizes = {ext: len(g) for ext, g in graphs.items()}
    assert len(set(sizes.values())) == 1 and sizes["ttl"] > 50, sizes
    datasets = {ext: set(g.subjects(RDF.type, DCAT.Dataset)) for ext, g in graphs.items()}
    assert datasets["jsonld"] == datasets["ttl"] == datasets["rdf"]
    negotiated = requests.get(f"{base}/catalogue", headers={"Accept": "text/turtle"}, timeout=60)
    assert negotiated.headers["Content-Type"].startswith("text/turtle")


def test_every_dataset_has_an_identifier_and_one_distribution_per_download(base):
    graph = fetch(base, "jsonld")
    collections = requests.get(f"{base}/collections?f=json", timeout=60).json()["collections"]
    datasets = set(graph.subjects(RDF.type, DCAT.Dataset))
    assert {str(d).rsplit("/", 1)[1] for d in datasets} == {c["id"] for c in collections}
    for dataset in datasets:
        cid = str(dataset).rsplit("/", 1)[1]
        assert str(graph.value(dataset, DCTERMS.identifier)) == str(dataset)
        assert graph.value(dataset, DCTERMS.modified) is not None
        assert graph.value(dataset, DCTERMS.spatial) is not None
        raster = graph.value(dataset, DCAT.distribution) and any(
            str(d).endswith("/coverage") for d in graph.objects(dataset, DCAT.distribution)
        )
        downloads = [
            str(graph.value(d, DCAT.downloadURL)).rsplit(".", 1)[1]
            for d in graph.objects(dataset, DCAT.distribution)
            if graph.value(d, DCAT.downloadURL) is not None
        ]
        assert sorted(downloads) == ([] if raster else sorted(SUFFIXES)), cid
    service = URIRef(f"{base}/")
    assert (service, RDF.type, DCAT.DataService) in graph
    assert set(graph.objects(service, DCAT.servesDataset)) == datasets


def test_daily_refresh_is_the_accrual_periodicity(api):
    graph = fetch(api, "ttl")
    parks = URIRef(f"{api}/collections/parks_montpellier")
    freq = "http://publications.europa.eu/resource/authority/frequency/"
    assert str(graph.value(parks, DCTERMS.accrualPeriodicity)) == freq + "DAILY"
    communes = URIRef(f"{api}/collections/communes")  # cron "0 3 * * 1"
    assert str(graph.value(communes, DCTERMS.accrualPeriodicity)) == freq + "WEEKLY"


def test_pages_link_with_hydra(built):
    from geopublish.catalog import load_catalog
    from geopublish.publish.catalogue import CatalogueBuilder
    from geopublish.settings import get_settings
    from geopublish.store import open_stores

    env = built["env"]
    settings = get_settings(
        var_dir=env["GEOPUBLISH_VAR_DIR"], source_root=env["GEOPUBLISH_SOURCE_ROOT"]
    )
    specs = load_catalog(settings.collections_dir).select()
    stores = open_stores(settings)
    layers = {s.cid: layer for s in specs if (layer := stores.current(s)) is not None}
    pages = CatalogueBuilder(settings, {"metadata": {}}).pages(specs, layers, 5)
    assert len(pages) == -(-len(layers) // 5)
    seen = set()
    for number, graph in enumerate(pages, 1):
        view = URIRef(f"{settings.public_url}/catalogue?page={number}")
        nxt = graph.value(view, URIRef(HYDRA + "next"))
        assert (nxt is None) == (number == len(pages))
        assert int(graph.value(view, URIRef(HYDRA + "totalItems"))) == len(layers)
        seen |= set(graph.subjects(RDF.type, DCAT.Dataset))
    assert len(seen) == len(layers)
