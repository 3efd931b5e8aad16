"""Real clients read every default feature layer completely: GDAL's OAPIF driver and OWSLib."""

from __future__ import annotations

import sqlite3

import pyogrio
import pytest
from owslib.ogcapi.features import Features


def stored_count(built: dict, cid: str) -> int:
    path = built["var"] / "store" / cid / "current.gpkg"
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as con:
        return int(
            con.execute("SELECT value FROM geopublish_meta WHERE key = 'count'").fetchone()[0]
        )


def test_gdal_oapif_reads_every_layer_completely(api, built, feature_collections):
    for collection in feature_collections:
        cid = collection["id"]
        frame = pyogrio.read_dataframe(f"OAPIF:{api}/collections/{cid}")
        assert len(frame) == stored_count(built, cid), cid
        assert frame.geometry.notna().all(), cid


def test_gdal_oapif_pushes_attribute_and_spatial_filters(api):
    frame = pyogrio.read_dataframe(
        f"OAPIF:{api}/collections/communes", where="departement = '48'", bbox=(3.3, 44.3, 3.7, 44.6)
    )
    assert len(frame) > 5 and set(frame["departement"]) == {"48"}


@pytest.mark.parametrize("page", [1000])
def test_owslib_pages_through_every_layer(api, built, feature_collections, page):
    client = Features(api)
    listed = {c["id"] for c in client.collections()["collections"]}
    for collection in feature_collections:
        cid = collection["id"]
        assert cid in listed
        seen: set = set()
        offset = 0
        while True:
            body = client.collection_items(cid, limit=page, offset=offset)
            seen.update(f["id"] for f in body["features"])
            if body["numberReturned"] < page:
                break
            offset += page
        assert len(seen) == stored_count(built, cid) == body["numberMatched"], cid
        assert client.collection_queryables(cid)["properties"]
