"""Vector tiles built with each version, on both stores: decoded tiles match the items; a
refresh serves new tiles and a rollback the old ones; ETag/304, 204, 404, CORS; TileJSON and
styles; the hillshade's PNG tiles match its COG; the offline map draws it all."""

from __future__ import annotations

import math
import os

import mapbox_vector_tile
import pyproj
import pytest
import requests
import shapely
import yaml
from gpsupport import REPO, Server, cli_env, run_cli
from httpfiles import points, points_spec, write_points
from pgsupport import drop_schema, postgis_dsn  # noqa: F401

PARKS = "montpellier_opendata/VilleMTP_MTP_EspacesVertsSurface/VilleMTP_MTP_EspacesVertsSurface.zip"
MVT = "application/vnd.mapbox-vector-tile"


def tile_of(lon: float, lat: float, z: int) -> tuple[int, int]:
    n = 1 << z
    x = int((lon + 180) / 360 * n)
    y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
    return x, y


def lonlat(z: int, x: float, y: float) -> tuple[float, float]:
    """Tile-matrix coordinates (fractional x, y) to lon/lat."""
    n = 1 << z
    lon = x / n * 360 - 180
    lat = math.degrees(math.atan(math.sinh(math.pi * (1 - 2 * y / n))))
    return lon, lat


def tile_bounds(z: int, x: int, y: int) -> tuple[float, float, float, float]:
    west, north = lonlat(z, x, y)
    east, south = lonlat(z, x + 1, y + 1)
    return west, south, east, north


@pytest.fixture(scope="module", params=["gpkg", "postgis"])
def site(request, shared_data, tmp_path_factory):
    """A points layer (rewritten by the tests) and the Montpellier parks, on one store."""
    root = tmp_path_factory.mktemp(f"tiles-{request.param}")
    data = root / "data/points.geojson"
    write_points(data, points(200))
    (root / "collections/test").mkdir(parents=True)
    spec = points_spec({"path": str(data)}, tiles={"minzoom": 8, "maxzoom": 14})
    (root / "collections/test/pts.yml").write_text(yaml.safe_dump(spec))
    parks = yaml.safe_load((REPO / "collections/environment/parks_montpellier.yml").read_text())
    parks["source"]["parts"] = [{"path": str(shared_data / PARKS)}]
    (root / "collections/test/parks.yml").write_text(yaml.safe_dump(parks))
    region = (REPO / "collections/admin/region.yml").read_text()
    (root / "collections/test/region.yml").write_text(region)
    for cid in ("dem_cevennes", "hillshade_cevennes"):  # the hillshade is derived from the DEM
        text = (REPO / f"collections/backgrounds/{cid}.yml").read_text()
        (root / f"collections/test/{cid}.yml").write_text(text)
    extra = {
        "GEOPUBLISH_COLLECTIONS_DIR": str(root / "collections"),
        "GEOPUBLISH_STORE": request.param,
    }
    schema = dsn = None
    if request.param == "postgis":
        dsn = request.getfixturevalue("postgis_dsn")
        schema = f"gp_tiles_{os.getpid()}"
        extra.update(GEOPUBLISH_POSTGIS_DSN=dsn, GEOPUBLISH_POSTGIS_SCHEMA=schema)
    env = cli_env(root / "var", shared_data, **extra)
    result = run_cli(env, "build")
    assert result.returncode == 0, result.stderr
    server = Server(env, workers=1)
    yield {"url": server.url, "env": env, "data": data, "var": root / "var"}
    server.stop()
    if schema:
        drop_schema(dsn, schema)


def get_tile(site: dict, cid: str, z: int, x: int, y: int, **headers: str) -> requests.Response:
    url = f"{site['url']}/collections/{cid}/tiles/WebMercatorQuad/{z}/{y}/{x}"
    return requests.get(url, headers=headers, timeout=30)


def decoded(response: requests.Response, cid: str) -> list[dict]:
    layers = mapbox_vector_tile.decode(response.content, default_options={"y_coord_down": True})
    return layers[cid]["features"] if cid in layers else []


def items(site: dict, cid: str, bbox: tuple[float, ...]) -> dict[str, dict]:
    url = f"{site['url']}/collections/{cid}/items"
    params = {"bbox": ",".join(map(str, bbox)), "limit": 10000, "f": "json"}
    features = requests.get(url, params=params, timeout=30).json()["features"]
    return {str(f["id"]): f for f in features}


def to_lonlat(geometry: dict, z: int, x: int, y: int, extent: int = 4096):
    shape = shapely.geometry.shape(geometry)
    return shapely.transform(shape, lambda c: _back(c, z, x, y, extent))


def _back(coords, z, x, y, extent):
    import numpy as np

    out = np.empty_like(coords, dtype=float)
    for i, (px, py) in enumerate(coords):
        out[i] = lonlat(z, x + px / extent, y + py / extent)
    return out


@pytest.mark.parametrize("z", [10, 12, 14])
def test_point_tiles_match_the_items(site, z):
    x, y = tile_of(3.85, 43.553, z)
    response = get_tile(site, "pts", z, x, y)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == MVT
    features = decoded(response, "pts")
    inside = {}
    for feature in features:
        px, py = shapely.geometry.shape(feature["geometry"]).centroid.coords[0]
        if 0 <= px < 4096 and 0 <= py < 4096:  # the tile itself, not its buffer
            inside[feature["properties"]["code"]] = feature
    expected = items(site, "pts", tile_bounds(z, x, y))
    assert inside.keys() == expected.keys() and len(expected) >= 3
    pixel = 360 / (1 << z) / 256  # one 256-px pixel in degrees of longitude
    for code, feature in inside.items():
        item = expected[code]
        assert feature["properties"] == {k: item["properties"][k] for k in ("code", "nom", "gen")}
        point = to_lonlat(feature["geometry"], z, x, y)
        assert point.distance(shapely.geometry.shape(item["geometry"])) < pixel


@pytest.mark.parametrize("z", [11, 12])
def test_polygon_tiles_match_the_items(site, z):
    x, y = tile_of(3.876, 43.61, z)
    response = get_tile(site, "parks", z, x, y)
    assert response.status_code == 200
    features = decoded(response, "parks")
    square = shapely.box(0, 0, 4096, 4096)
    ids = {}
    for feature in features:
        shape = shapely.make_valid(shapely.geometry.shape(feature["geometry"]))
        if shape.intersects(square) and shape.intersection(square).area > 0:
            ids[str(feature["properties"]["parc_id"])] = feature
    bounds = tile_bounds(z, x, y)
    expected = items(site, "parks", bounds)
    box = shapely.box(*bounds)
    # Items whose polygon really enters the tile (the bbox filter keeps any bbox overlap).
    entering = {
        i for i, f in expected.items() if shapely.geometry.shape(f["geometry"]).intersects(box)
    }
    assert len(entering) >= 3
    parc = {i: str(expected[i]["properties"]["parc_id"]) for i in entering}
    assert set(ids) <= set(parc.values())  # nothing that is not in the tile
    # Per-zoom simplification drops polygons under a tile unit (4096 per tile) in area;
    # every polygon of at least 4 units² is there.
    unit = 2 * math.pi * 6378137 / (1 << z) / 4096
    mercator = pyproj.Transformer.from_crs("OGC:CRS84", "EPSG:3857", always_xy=True)
    for i, pid in parc.items():
        area = shapely.transform(
            shapely.geometry.shape(expected[i]["geometry"]), mercator.transform, interleaved=False
        ).area
        if area >= 4 * unit * unit:
            assert pid in ids, (pid, area / unit / unit)
    assert len(ids) >= 0.8 * len(parc)
    for pid, feature in ids.items():
        item = next(f for f in expected.values() if str(f["properties"]["parc_id"]) == pid)
        back = shapely.make_valid(to_lonlat(feature["geometry"], z, x, y)).intersection(box)
        truth = shapely.geometry.shape(item["geometry"]).intersection(box)
        tolerance = 2 * 360 / (1 << z) / 4096 * 16  # a few tile units
        assert back.symmetric_difference(truth).area <= truth.length * tolerance + 1e-12


def test_caching_empty_and_out_of_range(site):
    x, y = tile_of(3.85, 43.553, 12)
    first = get_tile(site, "pts", 12, x, y)
    etag = first.headers["ETag"]
    assert first.headers["Cache-Control"] == "public, max-age=60"
    assert first.headers["Access-Control-Allow-Origin"] == "*" or "Origin" in first.headers.get(
        "Vary", ""
    )
    again = get_tile(site, "pts", 12, x, y, **{"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    origin = get_tile(site, "pts", 12, x, y, Origin="https://carte.example")
    assert origin.headers["Access-Control-Allow-Origin"] == "https://carte.example"
    assert "Origin" in origin.headers["Vary"] and "Accept-Encoding" in origin.headers["Vary"]
    url = f"{site['url']}/collections/pts/tiles/WebMercatorQuad/12/{y}/{x}"
    head = requests.head(url, timeout=10)
    assert head.status_code == 200 and head.content == b"" and head.headers["ETag"] == etag
    plain = get_tile(site, "pts", 12, x, y, **{"Accept-Encoding": "identity"})
    assert plain.content == first.content and "Content-Encoding" not in plain.headers
    empty_x, empty_y = tile_of(1.44, 43.6, 12)  # Toulouse: no test point there
    empty = get_tile(site, "pts", 12, empty_x, empty_y)
    assert empty.status_code == 204 and empty.content == b""
    assert get_tile(site, "pts", 15, 0, 0).status_code == 404  # above maxzoom
    assert get_tile(site, "pts", 7, 0, 0).status_code == 404  # below minzoom
    assert get_tile(site, "pts", 12, 4096, 0).status_code == 404  # outside the matrix
    base = f"{site['url']}/collections/pts/tiles/WebMercatorQuad"
    for bad in ("a/1/1", "12/1.5/1", "12/-1/1", "99999999999/1/1"):
        assert requests.get(f"{base}/{bad}", timeout=10).status_code in (400, 404), bad
    assert requests.get(f"{site['url']}/collections/nope/tiles", timeout=10).status_code == 404


def test_documents(site):
    url = site["url"]
    listing = requests.get(f"{url}/collections/pts/tiles", timeout=10).json()
    assert listing["tilesets"][0]["dataType"] == "vector"
    meta = requests.get(f"{url}/collections/pts/tiles/WebMercatorQuad", timeout=10).json()
    assert [m["tileMatrix"] for m in meta["tileMatrixSetLimits"]] == [str(z) for z in range(8, 15)]
    template = next(link for link in meta["links"] if link["rel"] == "item")["href"]
    assert template.endswith(
        "/collections/pts/tiles/WebMercatorQuad/{tileMatrix}/{tileRow}/{tileCol}"
    )
    tilejson = requests.get(f"{url}/collections/pts/tiles.json", timeout=10).json()
    assert (
        tilejson["tilejson"] == "3.0.0" and tilejson["minzoom"] == 8 and tilejson["maxzoom"] == 14
    )
    assert tilejson["vector_layers"][0]["id"] == "pts"
    assert set(tilejson["vector_layers"][0]["fields"]) == {"code", "nom", "gen"}
    parks = requests.get(f"{url}/collections/parks/tiles.json", timeout=10).json()
    assert parks["maxzoom"] == 12 and parks["minzoom"] == 0  # polygon defaults
    catalogue = requests.get(f"{url}/tiles.json", timeout=10).json()
    assert {v["id"] for v in catalogue["vector_layers"]} == {"pts", "parks", "region"}
    style = requests.get(f"{url}/styles/catalogue.json", timeout=10).json()
    assert style["version"] == 8
    assert set(style["sources"]) == {"pts", "parks", "region", "hillshade_cevennes"}
    ids = [layer["id"] for layer in style["layers"]]
    assert ids == [
        "fond", "hillshade_cevennes-raster", "region-boundary", "parks-fill", "parks-outline",
        "pts-circle",
    ]  # fmt: skip
    raster = style["sources"]["hillshade_cevennes"]
    assert raster["type"] == "raster" and raster["tileSize"] == 256
    assert raster["tiles"][0].endswith(
        "/collections/hillshade_cevennes/tiles/WebMercatorQuad/{z}/{y}/{x}"
    )
    one = requests.get(f"{url}/collections/parks/style.json", timeout=10).json()
    assert set(one["sources"]) == {"parks"}


BACKGROUND = (244, 241, 234)


def browser():
    from selenium import webdriver

    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in (
        "--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1000,700",
        "--use-angle=swiftshader", "--enable-unsafe-swiftshader", "--ignore-gpu-blocklist",
        # Every name but the local server's address fails: nothing can be fetched outside.
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
        "--no-proxy-server", "--disable-background-networking", "--disable-component-update",
    ):  # fmt: skip
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
    service = webdriver.ChromeService(executable_path="/usr/bin/chromedriver")
    return webdriver.Chrome(options=options, service=service)


def network(driver) -> tuple[list[str], list[tuple[int, str]]]:
    """URLs requested and (status, URL) of failed ones, from the performance log."""
    import json

    urls, failed, pending = [], [], {}
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        params = message.get("params", {})
        if message["method"] == "Network.requestWillBeSent":
            pending[params["requestId"]] = params["request"]["url"]
            urls.append(params["request"]["url"])
        elif message["method"] == "Network.responseReceived":
            if params["response"]["status"] >= 400:
                failed.append((params["response"]["status"], params["response"]["url"]))
        elif message["method"] == "Network.loadingFailed" and not params.get("canceled"):
            failed.append((0, pending.get(params["requestId"], "?")))
    return urls, failed


def test_map_page_draws_every_layer_offline_and_opens_popups(site):
    import time

    import numpy as np
    from rasterio.io import MemoryFile
    from selenium.webdriver.common.by import By

    driver = browser()
    try:
        driver.get(f"{site['url']}/carte")
        assert driver.find_element(By.TAG_NAME, "html").get_attribute("lang") == "fr"
        labels = [e.text for e in driver.find_elements(By.CSS_SELECTOR, "#couches label")]
        assert len(labels) == 4 and "Région Occitanie" in labels
        assert "Ombrage du relief des Cévennes" in labels

        def wait_idle(timeout: float = 60) -> None:
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                if driver.execute_script("return document.body.dataset.idle === '1'"):
                    return
                time.sleep(0.2)
            errors = driver.execute_script("return window.erreurs")
            raise AssertionError(f"the map never became idle; map errors: {errors!r}")

        wait_idle()
        driver.execute_script(
            "document.body.dataset.idle = '';carte.jumpTo({center: [3.6, 44.2], zoom: 9});"
        )
        wait_idle()  # over the Cévennes: the hillshade's PNG tiles are drawn

        def screen():
            with MemoryFile(driver.get_screenshot_as_png()) as memory, memory.open() as image:
                return np.moveaxis(image.read()[:3], 0, -1).astype(int)

        shaded = screen()
        driver.execute_script("document.body.dataset.idle = '';")
        driver.find_element(By.CSS_SELECTOR, "#couches input[value='hillshade_cevennes']").click()
        wait_idle()
        plain = screen()
        relief = np.abs(shaded - plain).sum(axis=-1) > 30
        assert relief.mean() > 0.2, relief.mean()  # the relief covers most of the view
        driver.execute_script(
            "document.body.dataset.idle = '';carte.jumpTo({center: [3.86, 43.553], zoom: 14});"
        )
        wait_idle()
        png = driver.get_screenshot_as_png()
        with MemoryFile(png) as memory, memory.open() as image:
            pixels = np.moveaxis(image.read()[:3], 0, -1).reshape(-1, 3).astype(int)
        drawn = np.abs(pixels - np.array(BACKGROUND)).sum(axis=1) > 30
        assert drawn.mean() > 0.005, drawn.mean()  # points and parks drawn on the background
        colour = driver.execute_script(
            "return carte.getPaintProperty('pts-circle', 'circle-color')"
        )
        rgb = np.array([int(colour[i : i + 2], 16) for i in (1, 3, 5)])
        assert (np.abs(pixels - rgb).sum(axis=1) < 60).sum() > 50  # the points' circles
        point = driver.execute_script(
            "const f = carte.queryRenderedFeatures({layers: ['pts-circle']});"
            "if (!f.length) return null;"
            "const p = carte.project(f[0].geometry.type === 'Point' ? f[0].geometry.coordinates"
            " : f[0].geometry.coordinates[0]); return [p.x, p.y];"
        )
        assert point is not None
        canvas = driver.find_element(By.CSS_SELECTOR, "canvas.maplibregl-canvas")
        size = canvas.size
        from selenium.webdriver.common.action_chains import ActionChains

        ActionChains(driver).move_to_element_with_offset(
            canvas, int(point[0] - size["width"] / 2), int(point[1] - size["height"] / 2)
        ).click().perform()
        link = driver.find_element(By.CSS_SELECTOR, ".maplibregl-popup a.fiche")
        assert "/collections/pts/items/P" in link.get_attribute("href")
        assert link.text == "Voir la fiche de l'objet"
        box = driver.find_element(By.CSS_SELECTOR, "#couches input[value='pts']")
        box.click()
        hidden = driver.execute_script("return carte.getLayoutProperty('pts-circle', 'visibility')")
        assert hidden == "none"
        urls, failed = network(driver)
        assert failed == []
        assert all(u.startswith(site["url"]) or u.startswith(("data:", "blob:")) for u in urls)
        assert any(u.endswith("/styles/catalogue.json") for u in urls)
        # Tiles are fetched by MapLibre's workers (not in this log): the map reports their failures.
        assert driver.execute_script("return window.erreurs") == []
    finally:
        driver.quit()


def test_refresh_serves_new_tiles_and_rollback_the_old(site):
    x, y = tile_of(3.85, 43.553, 14)
    before = get_tile(site, "pts", 14, x, y)
    assert {f["properties"]["gen"] for f in decoded(before, "pts")} == {0}
    write_points(site["data"], points(200, gen=1), bump=5)
    result = run_cli(site["env"], "refresh", "pts")
    assert result.returncode == 0, result.stderr
    after = get_tile(site, "pts", 14, x, y, **{"If-None-Match": before.headers["ETag"]})
    assert after.status_code == 200 and after.headers["ETag"] != before.headers["ETag"]
    assert {f["properties"]["gen"] for f in decoded(after, "pts")} == {1}
    back = run_cli(site["env"], "rollback", "pts")
    assert back.returncode == 0, back.stderr
    again = get_tile(site, "pts", 14, x, y)
    assert again.headers["ETag"] == before.headers["ETag"]
    assert again.content == before.content
    kept = sorted(p.name for p in (site["var"] / "tiles/pts").iterdir())
    assert len(kept) == 2 and not any(n.startswith(".") for n in kept)


def png_bands(response: requests.Response):
    """The grey and alpha bands of a PNG tile, decoded by GDAL."""
    import warnings

    from rasterio.errors import NotGeoreferencedWarning
    from rasterio.io import MemoryFile

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)  # a tile has no transform
        with MemoryFile(response.content) as memory, memory.open() as image:
            assert image.driver == "PNG" and image.count == 2 and image.shape == (256, 256)
            return image.read(1), image.read(2)


def test_hillshade_png_tiles_have_pixels_where_the_cog_has_data(site):
    import numpy as np
    import rasterio
    from rasterio.warp import transform as warp

    cog = site["var"] / "store/hillshade_cevennes/current.tif"
    with rasterio.open(cog) as src:
        nodata = src.nodata if src.nodata is not None else 0
        (lon,), (lat,) = warp(src.crs, "EPSG:4326", [src.bounds.left], [
            (src.bounds.bottom + src.bounds.top) / 2
        ])  # fmt: skip
        # A tile with the COG's western edge across its middle half.
        z = next(z for z in range(8, 14) if 0.25 < ((lon + 180) / 360 * (1 << z)) % 1 < 0.75)
        x, y = tile_of(lon, lat, z)
        response = get_tile(site, "hillshade_cevennes", z, x, y)
        assert response.status_code == 200
        assert response.headers["Content-Type"] == "image/png"
        grey, alpha = png_bands(response)
        # Every 16th pixel centre of the tile, looked up in the COG itself.
        rows, cols = np.mgrid[8:256:16, 8:256:16]
        lonlats = [
            lonlat(z, x + c / 256, y + r / 256) for r, c in zip(rows.flat, cols.flat, strict=True)
        ]
        xs, ys = warp("EPSG:4326", src.crs, [p[0] for p in lonlats], [p[1] for p in lonlats])
        inside = [
            src.bounds.left < a < src.bounds.right and src.bounds.bottom < b < src.bounds.top
            for a, b in zip(xs, ys, strict=True)
        ]
        values = [
            v[0] if ok else nodata
            for v, ok in zip(src.sample(zip(xs, ys, strict=True)), inside, strict=True)
        ]
    has_data = np.array([v != nodata for v in values])
    drawn = alpha[rows, cols].ravel() > 0
    assert has_data.sum() > 20 and (~has_data).sum() > 20  # the edge is in this tile
    assert (has_data == drawn).mean() > 0.95
    assert grey[alpha > 0].std() > 5  # relief, not a flat fill


def test_hillshade_tiles_cache_empty_and_out_of_range(site):
    import rasterio
    from rasterio.warp import transform_bounds

    cog = site["var"] / "store/hillshade_cevennes/current.tif"
    with rasterio.open(cog) as src:
        west, south, east, north = transform_bounds(src.crs, "EPSG:4326", *src.bounds)
    style = requests.get(f"{site['url']}/styles/catalogue.json", timeout=10).json()
    source = style["sources"]["hillshade_cevennes"]
    low, high = source["minzoom"], source["maxzoom"]
    assert 11 <= high <= 13  # a 30 m grid: z12 is the first zoom as fine (≈ 27 m here)
    x, y = tile_of((west + east) / 2, (south + north) / 2, high)
    first = get_tile(site, "hillshade_cevennes", high, x, y)
    assert first.status_code == 200 and first.headers["Cache-Control"] == "public, max-age=60"
    assert first.headers["Access-Control-Allow-Origin"] == "*"
    again = get_tile(
        site, "hillshade_cevennes", high, x, y, **{"If-None-Match": first.headers["ETag"]}
    )
    assert again.status_code == 304 and again.content == b""
    assert get_tile(site, "hillshade_cevennes", high + 1, x * 2, y * 2).status_code == 404
    if low > 0:
        assert get_tile(site, "hillshade_cevennes", low - 1, 0, 0).status_code == 404
    far_x, far_y = tile_of(1.44, 43.6, high)  # Toulouse: outside the COG
    empty = get_tile(site, "hillshade_cevennes", high, far_x, far_y)
    assert empty.status_code == 204 and empty.content == b""
    assert get_tile(site, "hillshade_cevennes", high, 1 << high, 0).status_code == 404
    # The DEM (32-bit values, not a rendered background) has no map tiles.
    assert get_tile(site, "dem_cevennes", high, x, y).status_code == 404
