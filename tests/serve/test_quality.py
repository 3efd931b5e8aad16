"""Scores over HTTP and the French dashboard in headless Chromium, with no outside request."""

from __future__ import annotations

import time

import pytest
import requests
import yaml
from gpsupport import run_cli

REFERENCE_COMMUNES = 4446  # COG table, region 76, communes actuelles (counted independently)


@pytest.fixture(scope="module")
def browser():
    from selenium import webdriver

    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        # Every outside host resolves to nothing: only the local server answers.
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
    ):
        options.add_argument(arg)
    service = webdriver.ChromeService(executable_path="/usr/bin/chromedriver")
    driver = webdriver.Chrome(options=options, service=service)
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def refused(pg_site):
    """A refresh of the PostGIS parks layer refused by its gates (spec restored after)."""
    path = pg_site["root"] / "collections/environment/parks_montpellier.yml"
    original = path.read_text()
    spec = yaml.safe_load(original)
    spec["checks"]["min_features"] = 100_001  # unlike other tests on this site: a new build
    path.write_text(yaml.safe_dump(spec, allow_unicode=True))
    try:
        result = run_cli(pg_site["env"], "refresh", "parks_montpellier")
    finally:
        path.write_text(original)
    assert "refused" in (result.stdout + result.stderr)
    return pg_site


def served_ids(url: str) -> list[str]:
    body = requests.get(f"{url}/collections", params={"f": "json"}, timeout=60).json()
    return [c["id"] for c in body["collections"]]


def test_scores_of_the_default_catalogue_equal_a_hand_computation(api):
    summary = requests.get(f"{api}/quality", timeout=60).json()
    layers = {item["collection"]: item for item in summary["layers"]}
    assert sorted(layers) == sorted(served_ids(api))

    communes = layers["communes"]
    count = requests.get(f"{api}/collections/communes/items?limit=1&f=json", timeout=60).json()
    n = count["numberMatched"]
    assert communes["scores"]["completeness"] == pytest.approx(
        min(n, REFERENCE_COMMUNES) / max(n, REFERENCE_COMMUNES), abs=1e-6
    )
    report = requests.get(f"{api}/reports/communes", timeout=60).json()["features"]
    assert communes["scores"]["validity"] == pytest.approx(
        report["valid_as_read"] / report["checked_geometries"], abs=1e-6
    )
    assert communes["scores"]["availability"] == 1.0  # every source answered, one day
    assert communes["scores"]["conformity"] == 1.0  # published, every gate passed
    assert communes["scores"]["freshness"] is None  # cron refresh: no interval to compare
    parks = layers["parks_montpellier"]
    assert parks["scores"]["freshness"] == 1.0  # built minutes ago, refresh 1d
    assert parks["scores"]["completeness"] is None  # no reference declared


def test_collection_document_carries_the_scores(api):
    doc = requests.get(f"{api}/collections/communes", params={"f": "json"}, timeout=60).json()
    one = requests.get(f"{api}/quality/communes", timeout=60).json()
    assert doc["quality"]["scores"] == one["scores"]
    assert doc["quality"]["href"].endswith("/quality/communes")
    assert requests.get(f"{api}/quality/nope", timeout=30).status_code == 404


def inked_pixels(driver, canvas_id: str) -> int:
    return driver.execute_script(
        "const c = document.getElementById(arguments[0]);"
        "const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;"
        "let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++; return n;",
        canvas_id,
    )


def load(driver, url: str) -> None:
    driver.get(url)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if driver.execute_script("return document.readyState") == "complete":
            return
        time.sleep(0.2)


def outside_requests(driver, base: str) -> list[str]:
    names = driver.execute_script(
        "return performance.getEntriesByType('resource').map(e => e.name)"
    )
    return [n for n in names if not n.startswith(base)]


def test_dashboard_lists_every_layer_and_draws_its_charts(api, browser):
    load(browser, f"{api}/tableau-de-bord")
    assert browser.execute_script("return document.documentElement.lang") == "fr"
    rows = browser.execute_script(
        "return [...document.querySelectorAll('tr[data-layer]')].map(r => r.dataset.layer)"
    )
    assert sorted(rows) == sorted(served_ids(api))
    assert browser.execute_script("return typeof Chart") == "function"  # from /assets/vendor
    for cid in ("communes", "parks_montpellier"):
        assert inked_pixels(browser, f"chart-{cid}") > 500, cid
    blank = browser.execute_script(
        "const c = document.createElement('canvas'); c.width = 400; c.height = 220;"
        "document.body.appendChild(c); c.id = 'blank'; return c.id"
    )
    assert inked_pixels(browser, blank) == 0  # the pixel check can fail
    assert outside_requests(browser, api) == []


def test_dashboard_shows_a_refused_refresh(refused, browser):
    url = refused["url"]
    load(browser, f"{url}/tableau-de-bord")
    items = browser.execute_script(
        "return [...document.querySelectorAll('#refused li')].map(li => li.textContent)"
    )
    assert any("Parcs et jardins de Montpellier" in t and "min_features" in t for t in items)
    assert inked_pixels(browser, "chart-parks_montpellier") > 500
    assert outside_requests(browser, url) == []
    summary = requests.get(f"{url}/quality/parks_montpellier", timeout=60).json()
    assert summary["today"]["conformity"] == 0.0  # the refusal is the last gated run
