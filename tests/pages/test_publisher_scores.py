"""Publishers of a federated layer: their scores over HTTP and on the dashboard (both stores)."""

from __future__ import annotations

import pytest
import requests
from fedsupport import LAYER, PUBLISHERS, federated_site
from pagesupport import Browser
from pgsupport import postgis_dsn  # noqa: F401  (the fixture)

pytestmark = pytest.mark.data
OWN_DAILY = "cd31_haute_garonne"  # declares its own daily refresh; the other has none
INKED = (  # pixels of a canvas that are not transparent
    "const c = document.getElementById('%s');"
    "const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;"
    "let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++; return n;"
)


@pytest.fixture(scope="module", params=["gpkg", "postgis"])
def site(request, shared_data, tmp_path_factory):
    """The carpooling layer, one publisher declaring its own refresh interval."""
    appended = {OWN_DAILY: "refresh: {interval: 1d}\n"}
    yield from federated_site(request, shared_data, tmp_path_factory, appended)


def test_publisher_scores_equal_their_own_reports(site):
    url = site["url"]
    one = requests.get(f"{url}/quality/{LAYER}", timeout=60).json()
    scores = {p["publisher"]: p for p in one["publishers"]}
    assert sorted(scores) == sorted(PUBLISHERS)
    for slug in PUBLISHERS:
        report = requests.get(
            f"{url}/federation/{LAYER}/publishers/{slug}", params={"f": "json"}, timeout=60
        ).json()
        summary = report["summary"]
        got = scores[slug]["scores"]
        assert got["availability"] == 1.0, slug  # its file answered at the one run
        assert got["conformity"] == 1.0, slug  # its read passed its gate
        assert got["validity"] == pytest.approx(summary["valid"] / summary["read"], abs=1e-4)
        assert got["completeness"] is None  # no reference declared for publishers
        assert scores[slug]["name"] == report["name"]
        assert scores[slug]["history"][-1]["day"] == scores[slug]["computed_at"][:10]
    assert scores[OWN_DAILY]["scores"]["freshness"] == 1.0  # read minutes ago, its own 1d
    assert scores["cd66_pyrenees_orientales"]["scores"]["freshness"] is None  # layer: cron

    doc = requests.get(f"{url}/collections/{LAYER}", params={"f": "json"}, timeout=60).json()
    assert {s: p["scores"] for s, p in doc["quality"]["publishers"].items()} == {
        s: p["scores"] for s, p in scores.items()
    }
    summary = requests.get(f"{url}/quality", timeout=60).json()
    name = scores[OWN_DAILY]["name"]
    assert summary["publishers"][name] == scores[OWN_DAILY]["scores"]  # its only subject


def test_dashboard_lists_each_publisher_with_its_scores_and_chart(site):
    url = site["url"]
    browser = Browser(url)
    try:
        visit = browser.visit(f"{url}/tableau-de-bord", wait_for="#publishers")
        rows = browser.script(
            "return [...document.querySelectorAll('tr[data-publisher]')].map(r => "
            "[r.dataset.publisher, r.cells[0].textContent.trim(), r.cells[2].textContent.trim()])"
        )
        charts = {slug: browser.script(INKED % f"chart-{LAYER}--{slug}") for slug in PUBLISHERS}
    finally:
        browser.quit()
    assert sorted(r[0] for r in rows) == sorted(f"{LAYER}/{slug}" for slug in PUBLISHERS)
    names = {r[0]: r[1] for r in rows}
    assert names[f"{LAYER}/{OWN_DAILY}"].startswith("Département de la Haute-Garonne")
    assert {r[2] for r in rows} == {"1.00"}  # availability, the first score column
    for slug, inked in charts.items():
        assert inked > 500, slug  # its history chart is drawn
    outside = [r for r in visit.requests if not r.startswith(url)]
    assert outside == [] and visit.failed == []
