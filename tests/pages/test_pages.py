"""The HTML pages in headless Chromium, offline: nothing but the server is reached, no console
error, maps show the features, and hostile ids and values never run as script. Both stores."""

from __future__ import annotations

import html
import json
import os
from pathlib import Path
from urllib.parse import quote

import pytest
import requests
import yaml
from gpsupport import REPO, Server, cli_env, run_cli
from pagesupport import Browser
from pgsupport import drop_schema, postgis_dsn  # noqa: F401

from geopublish.normalise.ids import safe_id

# Values a producer could write: each would run, or add an element, if a page let it through.
HOSTILE = [
    {"ref": "x\";document.title='X';//", "nom": "</script><script>document.title='X'</script>"},
    {"ref": "<script>document.title='X'</script>", "nom": "<img id=injected src=x>"},
    {"ref": "a';document.title='X';'", "nom": '"><b id="injected">gras</b>'},
    {"ref": '"><img id=injected src=y>', "nom": "javascript:document.title='X'"},
]
POINTS = [(3.87, 43.61), (3.88, 43.60), (3.86, 43.62), (3.89, 43.615)]
FEATURE_RGB = (0xC2, 0x18, 0x5B)  # pages.js draws features in this colour


def hostile_spec(source: Path) -> dict:
    return {
        "schema_version": 1,
        "title": "Couche piégée <script>document.title='X'</script>",
        "description": "Identifiants et valeurs hostiles \" ' </script>",
        "keywords": ["test", "<b id=injected>"],
        "licence": {"name": "Licence Ouverte 2.0", "url": "javascript:document.title='X'"},
        "attribution": "tests",
        "source": {"parts": [{"path": str(source)}]},
        "conform": {
            "fields": [
                {"name": "ref", "type": "string"},
                {"name": "nom", "type": "string"},
                {"name": "note", "type": "string"},
            ]
        },
        "feature_id": {"fields": ["ref"]},
        "geometry": {"type": "Point"},
        "publish": {"title_field": "nom"},
    }


def make_site(root: Path, data: Path, store: str, dsn: str | None) -> dict:
    features = [
        {
            "type": "Feature",
            "properties": {**values, "note": "</script><b id=injected>'\";"},
            "geometry": {"type": "Point", "coordinates": list(point)},
        }
        for values, point in zip(HOSTILE, POINTS, strict=True)
    ]
    source = root / "src" / "hostile.geojson"
    source.parent.mkdir(parents=True)
    source.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    specs = root / "collections"
    (specs / "admin").mkdir(parents=True)
    (specs / "test").mkdir()
    (specs / "backgrounds").mkdir()
    copied = ["admin/departements"]
    if store == "gpkg":  # rasters are COG files on every store: their relief is tested once
        copied += ["backgrounds/dem_cevennes", "backgrounds/hillshade_cevennes"]
    for spec in copied:
        (specs / f"{spec}.yml").write_text((REPO / f"collections/{spec}.yml").read_text())
    (specs / "test/hostile.yml").write_text(yaml.safe_dump(hostile_spec(source)))
    extra = {"GEOPUBLISH_COLLECTIONS_DIR": str(specs), "GEOPUBLISH_STORE": store}
    schema = None
    if store == "postgis":
        schema = f"gp_pages_{os.getpid()}_{root.name[-6:]}".replace("-", "_").lower()
        extra.update(GEOPUBLISH_POSTGIS_DSN=dsn, GEOPUBLISH_POSTGIS_SCHEMA=schema)
    env = cli_env(root / "var", data, **extra)
    result = run_cli(env, "build")
    assert result.returncode == 0, result.stderr
    return {"env": env, "schema": schema}


@pytest.fixture(scope="module", params=["gpkg", "postgis"])
def site(request, shared_data, tmp_path_factory):
    """Départements + the hostile layer on one store, served, and a browser that can reach
    nothing but this server."""
    dsn = request.getfixturevalue("postgis_dsn") if request.param == "postgis" else None
    built = make_site(
        tmp_path_factory.mktemp(f"pages-{request.param}"), shared_data, request.param, dsn
    )
    server = Server(built["env"])
    browser = Browser(server.url)
    yield {"url": server.url, "browser": browser, "env": built["env"], "store": request.param}
    browser.quit()
    server.stop()
    if built["schema"]:
        drop_schema(dsn, built["schema"])


def item_path(cid: str, fid: str) -> str:
    # The producer's id as published (ingestion percent-encodes '"', '<', '>', '%', '\\' and
    # control characters; "'" and ";" stay), then quoted as one path segment.
    return f"/collections/{cid}/items/{quote(safe_id(fid), safe='')}?f=html"


PAGES = [
    ("/?f=html", None),
    ("/collections?f=html", None),
    ("/collections/departements?f=html", "#gp-map[data-state=ready]"),
    ("/collections/departements/items?f=html&limit=5", "#gp-map[data-state=ready]"),
    ("/collections/departements/items/34?f=html", "#gp-map[data-state=ready]"),
    ("/collections/hostile?f=html", "#gp-map[data-state=ready]"),
    ("/collections/hillshade_cevennes?f=html", "#gp-map[data-state=ready]"),
    ("/collections/hostile/items?f=html", "#gp-map[data-state=ready]"),
    ("/collections/departements/queryables?f=html", None),
    ("/collections/departements/schema?f=html", None),
    ("/conformance?f=html", None),
    ("/openapi?f=html", "#gp-openapi[data-state=ready]"),
    ("/collections/nope?f=html", None),
    ("/TileMatrixSets?f=html", None),
    ("/TileMatrixSets/WebMercatorQuad?f=html", None),
    ("/processes?f=html", None),
    ("/jobs?f=html", None),
] + [(item_path("hostile", h["ref"]), "#gp-map[data-state=ready]") for h in HOSTILE]


def served_title(url: str) -> str:
    """The page's <title> as the server wrote it, unescaped (what document.title must stay)."""
    import re

    response = requests.get(url, timeout=30)
    assert response.status_code == (404 if "/nope" in url else 200)
    text = response.text
    # No inline script: every script is a file of this service (the CSP allows nothing else).
    assert re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", text) == []
    assert all(
        src.startswith("/assets/") for src in re.findall(r'<script[^>]*\bsrc="([^"]*)"', text)
    )
    return html.unescape(re.search(r"<title>(.*?)</title>", text, re.S).group(1)).strip()


@pytest.mark.parametrize("path, ready", PAGES, ids=[p for p, _ in PAGES])
def test_page_works_offline_and_nothing_hostile_runs(site, path, ready):
    if "hillshade" in path and site["store"] != "gpkg":
        pytest.skip("rasters are files on every store: their pages are tested on the gpkg site")
    browser = site["browser"]
    visit = browser.visit(site["url"] + path, wait_for=ready)
    outside = [
        u
        for u in visit.requests
        if not u.startswith(site["url"] + "/") and not u.startswith("data:")
    ]
    assert outside == []
    assert visit.failed == []
    page = site["url"] + path
    # A 404 page logs its own status; any other console error fails (its status is checked below).
    errors = [
        m
        for m in visit.console
        if m["level"] == "SEVERE" and not m["message"].startswith(page + " ")
    ]
    assert errors == []
    assert browser.script("return document.documentElement.lang") == "fr"
    assert browser.script("return document.title") == served_title(site["url"] + path)
    assert (
        browser.script(
            "return document.querySelectorAll('#injected, img[src=x], img[src=y]').length"
        )
        == 0
    )
    schemes = browser.script(
        "return [...document.querySelectorAll('[href],[src]')].map(e => (e.href || e.src).split(':')[0])"
    )
    assert set(schemes) <= {"http", "https", "mailto", "data"}  # never javascript:


def colour_pixels(pixels, rgb, tolerance: int = 40) -> int:
    import numpy as np

    return int((np.abs(pixels.astype(int) - np.array(rgb)).sum(axis=2) < tolerance).sum())


@pytest.mark.parametrize(
    "path",
    [
        "/collections/hostile/items?f=html",
        "/collections/departements/items?f=html&limit=3",
        "/collections/departements/items/34?f=html",
        item_path("hostile", HOSTILE[0]["ref"]),
    ],
)
def test_map_draws_the_features_over_the_served_boundaries(site, path):
    browser = site["browser"]
    browser.visit(site["url"] + path, wait_for="#gp-map[data-state=ready]")
    pixels = browser.element_pixels("#gp-map")
    total = pixels.shape[0] * pixels.shape[1]
    empty = colour_pixels(pixels, (0xF4, 0xF6, 0xF8), tolerance=6)  # the map's bare background
    features = colour_pixels(pixels, FEATURE_RGB)
    boundaries = colour_pixels(pixels, (0xDD, 0xE3, 0xE8), tolerance=6)
    assert features >= 60, (features, total)
    assert boundaries >= 0.05 * total or path.startswith("/collections/departements/items/")
    assert empty < 0.9 * total


def test_items_page_speaks_french_and_pages_with_suivant_precedent(site):
    first = requests.get(
        f"{site['url']}/collections/departements/items?f=html&limit=5", timeout=30
    ).text
    assert "suivant »" in first and "« précédent" not in first
    second = requests.get(
        f"{site['url']}/collections/departements/items?f=html&limit=5&offset=5", timeout=30
    ).text
    assert "suivant »" in second and "« précédent" in second
    assert '<html lang="fr">' in first and "Entités par page" in first


def test_popups_show_hostile_titles_as_text(site):
    import time

    browser = site["browser"]
    url = f"{site['url']}/collections/hostile/items?f=html"
    browser.visit(url, wait_for="#gp-map[data-state=ready]")
    close = "const b = document.querySelector('.leaflet-popup-close-button'); if (b) b.click();"
    read = """
        const link = document.querySelector('.leaflet-popup-content a');
        return link && [link.textContent, link.getAttribute('href')];
    """
    click = """
        const marker = document.querySelectorAll('#gp-map path.leaflet-interactive')[arguments[0]];
        const box = marker.getBoundingClientRect();
        const at = {bubbles: true, clientX: box.x + box.width / 2, clientY: box.y + box.height / 2};
        marker.dispatchEvent(new MouseEvent('click', at));
    """
    texts = []
    for index in range(len(HOSTILE)):
        browser.script(close)
        time.sleep(0.3)  # the previous popup's pan must end: Leaflet ignores clicks while moving
        browser.driver.execute_script(click, index)
        deadline = time.monotonic() + 5
        while not (text := browser.script(read)) and time.monotonic() < deadline:
            time.sleep(0.05)
        texts.append(text)
    # Compared unescaped: the provider currently returns "<" as "&lt;" (issue #13, serve side);
    # textContent is text either way, and no element was created (checked below).
    assert sorted(html.unescape(t) for t, _ in texts) == sorted(h["nom"] for h in HOSTILE)
    assert all(href.startswith("/collections/hostile/items/") for _, href in texts)
    assert browser.script("return document.querySelectorAll('#injected').length") == 0
    assert browser.script("return document.title") == served_title(url)


def test_config_names_the_templates_relative_to_the_project(site):
    generated = yaml.safe_load(Path(site["env"]["GEOPUBLISH_PYGEOAPI_CONFIG"]).read_text())
    committed = yaml.safe_load((REPO / "pygeoapi-config.yml").read_text())
    for config in (generated, committed):
        path = config["server"]["templates"]["path"]
        assert path == "geopublish/serve/templates"
        assert (REPO / path / "_base.html").is_file()
        assert "openstreetmap" not in json.dumps(config["server"]["map"])


def test_relief_is_drawn_from_the_served_hillshade(site):
    import numpy as np

    if site["store"] != "gpkg":
        pytest.skip("rasters are files on every store: the relief is tested on the gpkg site")
    info = requests.get(f"{site['url']}/backgrounds/hillshade_cevennes", timeout=30).json()
    west, south, east, north = info["bbox"]
    assert 3.0 < west < east < 4.5 and 43.5 < south < north < 45.0  # the Cévennes, in lon/lat
    png = requests.get(f"{site['url']}/backgrounds/hillshade_cevennes.png", timeout=60)
    assert png.status_code == 200 and png.headers["Content-Type"] == "image/png"
    assert png.content[:8] == b"\x89PNG\r\n\x1a\n"
    assert requests.get(f"{site['url']}/backgrounds/departements", timeout=30).status_code == 404
    browser = site["browser"]
    browser.visit(
        f"{site['url']}/collections/hillshade_cevennes?f=html", wait_for="#gp-map[data-state=ready]"
    )
    pixels = browser.element_pixels("#gp-map").astype(int)
    grey = (np.abs(pixels[..., 0] - pixels[..., 1]) < 10) & (
        np.abs(pixels[..., 1] - pixels[..., 2]) < 10
    )
    plain = np.zeros(grey.shape, bool)
    for rgb in ((0xF4, 0xF6, 0xF8), (0xDD, 0xE3, 0xE8)):  # bare map, boundary fill
        plain |= np.abs(pixels - np.array(rgb)).sum(axis=2) < 8
    shaded = grey & ~plain
    assert shaded.sum() > 0.2 * grey.size, shaded.sum() / grey.size
    assert len(np.unique(pixels[shaded], axis=0)) > 50  # relief, not one flat colour
