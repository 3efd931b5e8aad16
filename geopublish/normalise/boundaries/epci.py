"""EPCI polygons dissolved from commune polygons on epci.json membership."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from geopandas import GeoDataFrame

from geopublish.errors import NormaliseError
from geopublish.normalise.boundaries._common import (
    dissolve_groups,
    require_field,
    require_polygons,
)
from geopublish.normalise.boundaries.reconcile import read_reference, reconcile_codes

_EXPECTED = (
    "epci.json of @etalab/decoupage-administratif (records with code, nom, type, "
    "populationTotale and membres[].code)"
)
_FIELDS = ("code", "nom", "type", "populationTotale", "membres")


def _read_epci(path: Path, collection: str) -> list[dict]:
    records = read_reference(path, collection=collection, what="EPCI reference", expected=_EXPECTED)
    for record in records:
        missing = [f for f in _FIELDS if f not in record]
        if missing:
            raise NormaliseError(
                f"collection {collection!r}: EPCI reference {str(path)!r} record "
                f"{record['code']!r} lacks {missing}; expected {_EXPECTED}"
            )
    return records


def derive_epci(
    communes: GeoDataFrame,
    epci_ref: Path,
    communes_ref: Path,
    *,
    code_field: str = "code",
    collection: str,
    complete_only: bool = True,
) -> tuple[GeoDataFrame, dict]:
    """Dissolve commune polygons into EPCI polygons.

    Commune codes are first brought to the current COG with :func:`reconcile_codes`; every
    input polygon then goes to the EPCI of its current commune.

    Parameters
    ----------
    communes : GeoDataFrame
        Commune polygons (any vintage) with their INSEE code in ``code_field``.
    epci_ref : Path
        ``epci.json`` of @etalab/decoupage-administratif.
    communes_ref : Path
        ``communes.json`` of the same package and vintage.
    code_field : str
        Column holding the INSEE commune code.
    collection : str
        Collection id, for error messages.
    complete_only : bool
        Build only EPCI whose members are all present; otherwise partial ones too.

    Returns
    -------
    tuple[GeoDataFrame, dict]
        Columns ``code`` (SIREN), ``nom``, ``type``, ``siren``, ``population`` (total),
        ``members``, ``members_present``, ``complete`` and MultiPolygon ``geometry`` in the
        input CRS, sorted by code; a report with ``epci_built``, ``coverage_valid`` (of the
        input; an invalid one is cleaned first and ``coverage_cleaning`` says what changed),
        ``partial_skipped`` (count and codes), ``unplaced_communes`` and
        ``communes_outside_epci``.
    """
    require_field(communes, code_field, collection=collection, what="the communes layer")
    geoms = require_polygons(communes, collection=collection, what="the communes layer")
    epcis = _read_epci(epci_ref, collection)
    mapping, reconciled = reconcile_codes(
        communes[code_field].tolist(), communes_ref, collection=collection
    )
    epci_of = {m["code"]: e["code"] for e in epcis for m in e["membres"]}
    current = communes[code_field].map(mapping)
    keys = current.map(epci_of).to_numpy(dtype=object)
    present = set(current.dropna())
    rows, skipped = [], []
    for e in sorted(epcis, key=lambda e: e["code"]):
        members = {m["code"] for m in e["membres"]}
        found = len(members & present)
        if not found:
            continue
        if found < len(members) and complete_only:
            skipped.append(e["code"])
            continue
        rows.append((e, len(members), found))
    wanted = {e["code"] for e, _, _ in rows}
    keys = np.array([k if k in wanted else None for k in keys], dtype=object)
    groups, cleaning = dissolve_groups(
        geoms, keys, ids=communes[code_field].tolist(), collection=collection
    )
    built = GeoDataFrame(
        {
            "code": [e["code"] for e, _, _ in rows],
            "nom": [e["nom"] for e, _, _ in rows],
            "type": [e["type"] for e, _, _ in rows],
            "siren": [e["code"] for e, _, _ in rows],
            "population": np.array([e["populationTotale"] for e, _, _ in rows], dtype="int64"),
            "members": np.array([n for _, n, _ in rows], dtype="int64"),
            "members_present": np.array([f for _, _, f in rows], dtype="int64"),
            "complete": np.array([n == f for _, n, f in rows], dtype=bool),
        },
        geometry=[groups[e["code"]] for e, _, _ in rows],
        crs=communes.crs,
    )
    report = {
        "epci_built": len(built),
        "coverage_valid": cleaning is None,
        "partial_skipped": {"count": len(skipped), "codes": skipped},
        "unplaced_communes": reconciled["unplaced"],
        "reconciled_codes": {
            "remapped": reconciled["remapped"],
            "via_former_code": reconciled.get("via_former_code", {}),
        },
        "communes_outside_epci": sorted(c for c in present if c not in epci_of),
    }
    if cleaning is not None:
        report["coverage_cleaning"] = cleaning
    return built, report
