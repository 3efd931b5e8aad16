"""Shared helpers of the conformance suite: the live API over the default catalogue."""

from __future__ import annotations

import pytest
import requests

CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
OGC_REL = "http://www.opengis.net/def/rel/ogc/1.0"


def fetch(url: str, **params: object) -> requests.Response:
    """GET with ``f=json`` unless the caller names a format."""
    return requests.get(url, params={"f": "json", **params}, timeout=120)


def link(document: dict, rel: str, media: str | None = None) -> str:
    """The href of the first link with ``rel`` (and media type, when given)."""
    for item in document["links"]:
        if item["rel"] == rel and (media is None or item.get("type", "").startswith(media)):
            return item["href"]
    raise AssertionError(f"no link rel={rel!r} type={media!r} in {document['links']}")


@pytest.fixture(scope="session")
def api(store: dict) -> str:
    """The live API of the store under test: every conformance test runs on both stores."""
    return store["url"]


@pytest.fixture(scope="session")
def feature_collections(api: str) -> list[dict]:
    """Every feature collection the API lists."""
    body = fetch(f"{api}/collections").json()
    return [c for c in body["collections"] if c.get("itemType") == "feature"]
