"""The privacy treatments, function by function, on values computed by hand."""

from __future__ import annotations

import hashlib
import hmac

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import pytest
import shapely

from geopublish.catalog.models import Coarsen, KAnonymity, Privacy
from geopublish.catalog.privacy import privacy_problems
from geopublish.errors import NormaliseError
from geopublish.normalise.privacy import (
    Treatment,
    coarsen,
    displace,
    k_anonymise,
    pseudonymise,
    snap_to_grid,
)

L93 = pyproj.CRS("EPSG:2154")


def test_pseudonym_is_the_keyed_hmac_and_nulls_stay_null():
    out = pseudonymise(pd.Series(["P-1", None]), b"k" * 16)
    assert out[0] == hmac.new(b"k" * 16, b"P-1", hashlib.sha256).hexdigest()
    assert out[0] != hashlib.sha256(b"P-1").hexdigest()
    assert pd.isna(out[1])


def test_coarsen_dates_and_bands():
    dates = pd.Series(["1957-03-14", None], dtype="string")
    assert coarsen(dates, Coarsen(field="d", to="year")).tolist()[0] == "1957"
    assert coarsen(dates, Coarsen(field="d", to="month")).tolist()[0] == "1957-03"
    bands = Coarsen(field="a", bands=[0, 1000, 5000])
    got = coarsen(pd.Series([-5.0, 0.0, 999.99, 1000.0, 7000.0, None]), bands).tolist()
    assert got[:5] == ["< 0", "[0, 1000)", "[0, 1000)", "[1000, 5000)", ">= 5000"]
    assert pd.isna(got[5])


def test_grid_snaps_to_cell_centres_in_lambert93():
    points = shapely.points([[700_010.0, 6_600_990.0], [700_499.0, 6_600_001.0]])
    got = shapely.get_coordinates(snap_to_grid(points, L93, 500))
    assert got.tolist() == [[700_250.0, 6_600_750.0], [700_250.0, 6_600_250.0]]


def test_displacement_stays_within_radius_and_depends_on_the_key():
    points = shapely.points(np.column_stack([np.arange(50) * 1000.0 + 700_000, np.full(50, 6.6e6)]))
    one = displace(points, L93, 300, b"a" * 16)
    assert (shapely.distance(one, points) <= 300).all()
    assert shapely.equals(one, displace(points, L93, 300, b"a" * 16)).all()
    assert not shapely.equals(one, displace(points, L93, 300, b"b" * 16)).any()


def frame(values: list[str]) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"town": values, "band": ["x"] * len(values)},
        geometry=shapely.points(np.zeros((len(values), 2))),
        crs=L93,
    )


def test_k_anonymity_suppresses_rare_combinations_and_reports_k():
    stats: dict = {}
    gdf = frame(["a"] * 3 + ["b"] * 2 + ["c"])
    out = k_anonymise(gdf, KAnonymity(k=3, quasi_identifiers=["town", "band"]), stats)
    assert out["town"].tolist() == ["a"] * 3
    report = stats["privacy"]["k_anonymity"]
    assert (report["suppressed_rows"], report["k_achieved"]) == (3, 3)


def test_k_anonymity_generalise_blanks_before_suppressing():
    stats: dict = {}
    gdf = frame(["a"] * 3 + ["b"] * 2 + ["c"])
    rule = KAnonymity(k=3, quasi_identifiers=["town"], strategy="generalise")
    out = k_anonymise(gdf, rule, stats)
    assert len(out) == 6 and out["town"].isna().sum() == 3
    assert stats["privacy"]["k_anonymity"]["generalised_rows"] == 3


def test_treatment_without_key_names_the_setting_not_a_value():
    privacy = Privacy(legal_basis="x", pseudonymise=["who"])
    with pytest.raises(NormaliseError, match="GEOPUBLISH_PRIVACY_KEY_FILE"):
        Treatment(privacy, "grants", None)


def test_every_published_field_must_be_declared():
    privacy = Privacy(legal_basis="x", attributes=["kind"])
    lines = privacy_problems(privacy, [("kind", "string"), ("note", "string"), ("n", "integer")])
    assert len(lines) == 2
    assert "free-text field 'note'" in lines[0] and "field 'n' (integer)" in lines[1]
    assert privacy_problems(privacy, None) == [
        "privacy: needs a `conform` section (every published field declared)"
    ]
