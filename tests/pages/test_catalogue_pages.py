"""Every page of the default catalogue (the session's built API) works offline in Chromium."""

from __future__ import annotations

import re
from urllib.parse import quote

import pytest
import requests
from pagesupport import Browser


@pytest.fixture(scope="module")
def browser(api):
    browser = Browser(api)
    yield browser
    browser.quit()


def catalogue_pages(api: str) -> list[tuple[str, str | None, bool]]:
    """Each collection's page, and for feature collections its items page and first item,
    with what to wait for and whether to load it in the browser (the items pages and the
    coverages' pages: the others are read over HTTP, to keep the suite short)."""
    ready = "#gp-map[data-state=ready]"
    pages = [("/?f=html", None, True), ("/collections?f=html", None, True)]
    for col in requests.get(f"{api}/collections?f=json", timeout=60).json()["collections"]:
        cid = col["id"]
        feature = col.get("itemType") == "feature"
        pages.append((f"/collections/{cid}?f=html", ready, not feature))
        if feature:
            pages.append((f"/collections/{cid}/items?f=html", ready, True))
            first = requests.get(
                f"{api}/collections/{cid}/items", params={"f": "json", "limit": 1}, timeout=60
            ).json()["features"][0]
            item = f"/collections/{cid}/items/{quote(str(first['id']), safe='')}?f=html"
            pages.append((item, ready, False))
    return pages


def test_every_catalogue_page_is_french_offline_and_error_free(api, browser):
    problems = []
    pages = catalogue_pages(api)
    assert len(pages) > 30
    for path, ready, in_browser in pages:
        response = requests.get(api + path, timeout=60)
        text = response.text
        scripts = re.findall(r'<script[^>]*\bsrc="([^"]*)"', text)
        styles = re.findall(r'<link[^>]*rel="stylesheet"[^>]*href="([^"]*)"', text)
        if response.status_code != 200 or '<html lang="fr">' not in text:
            problems.append((path, response.status_code))
        if re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", text):
            problems.append((path, "inline script"))
        if not all(url.startswith("/assets/") for url in scripts + styles):
            problems.append((path, scripts + styles))
        if not in_browser:
            continue
        visit = browser.visit(api + path, wait_for=ready)
        outside = [
            u for u in visit.requests if not u.startswith(api + "/") and not u.startswith("data:")
        ]
        errors = [m["message"] for m in visit.console if m["level"] == "SEVERE"]
        if outside or visit.failed or errors:
            problems.append((path, outside, visit.failed, errors))
    assert problems == []
