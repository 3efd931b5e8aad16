"""Départements dissolved from commune polygons, compared with a reference layer."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
from geopandas import GeoDataFrame

from geopublish.errors import NormaliseError
from geopublish.normalise.boundaries._common import (
    LAMBERT93,
    dissolve_groups,
    require_field,
    require_polygons,
)

_COMMUNE_CODE = re.compile(r"^(?:\d{2}|2[AB])\d{3}$")


def departement_code(code: str) -> str:
    """Département of an INSEE commune code: 3 characters for 97x, else 2 (2A/2B kept)."""
    return code[:3] if code.startswith("97") else code[:2]


def _compare(built: GeoDataFrame, reference: GeoDataFrame, ref_code_field: str) -> dict:
    mine = built.set_index("code").geometry.to_crs(LAMBERT93)
    ref = reference.dissolve(by=ref_code_field).geometry.to_crs(LAMBERT93)
    per_code = {}
    for code, geom in mine.items():
        if code not in ref.index:
            continue
        ref_area = ref[code].area
        diff = geom.symmetric_difference(ref[code]).area
        per_code[code] = {
            "sym_diff_km2": round(diff / 1e6, 3),
            "sym_diff_pct": round(100 * diff / ref_area, 4),
            "reference_km2": round(ref_area / 1e6, 3),
        }
    return {
        "per_departement": per_code,
        "missing_from_reference": sorted(set(mine.index) - set(ref.index)),
    }


def derive_departements(
    communes: GeoDataFrame,
    *,
    code_field: str = "code",
    collection: str,
    reference: GeoDataFrame | None = None,
    ref_code_field: str = "code",
) -> tuple[GeoDataFrame, dict]:
    """Dissolve communes into départements and compare them with a reference layer.

    Parameters
    ----------
    communes : GeoDataFrame
        Commune polygons with their INSEE code in ``code_field``.
    code_field : str
        Column holding the INSEE commune code.
    collection : str
        Collection id, for error messages.
    reference : GeoDataFrame, optional
        Reference départements; gives ``nom`` and is compared with the result.
    ref_code_field : str
        Column of ``reference`` holding the département code; ``nom`` is read beside it.

    Returns
    -------
    tuple[GeoDataFrame, dict]
        Columns ``code``, ``nom``, ``communes`` (count) and MultiPolygon ``geometry`` in the
        input CRS, sorted by code; a report with ``departements``, ``coverage_valid`` (of the
        input; an invalid one is cleaned first, ``coverage_cleaning`` says what changed) and,
        with a reference, the symmetric difference per département in km² and in % of the
        reference area (measured in EPSG:2154).
    """
    what = f"communes field {code_field!r}"
    require_field(communes, code_field, collection=collection, what="the communes layer")
    geoms = require_polygons(communes, collection=collection, what="the communes layer")
    codes = communes[code_field]
    bad = codes[~codes.str.match(_COMMUNE_CODE)]
    if len(bad):
        raise NormaliseError(
            f"collection {collection!r}: {what} holds {bad.iloc[0]!r} ({len(bad)} values not "
            f"INSEE commune codes); expected 5 characters like '31555', '2A004' or '97411'"
        )
    keys = codes.map(departement_code).to_numpy(dtype=object)
    groups, cleaning = dissolve_groups(
        geoms, keys, ids=communes[code_field].tolist(), collection=collection
    )
    names: dict = {}
    if reference is not None:
        require_field(reference, ref_code_field, collection=collection, what="the reference")
        require_polygons(reference, collection=collection, what="the reference")
        if "nom" in reference.columns:
            names = dict(zip(reference[ref_code_field], reference["nom"], strict=True))
    counts = pd.Series(keys).value_counts()
    order = sorted(groups)
    built = GeoDataFrame(
        {
            "code": order,
            "nom": [names.get(code) for code in order],
            "communes": np.array([counts[code] for code in order], dtype="int64"),
        },
        geometry=[groups[code] for code in order],
        crs=communes.crs,
    )
    report: dict = {"departements": len(built), "coverage_valid": cleaning is None}
    if cleaning is not None:
        report["coverage_cleaning"] = cleaning
    if reference is not None:
        report["reference"] = _compare(built, reference, ref_code_field)
    return built, report
