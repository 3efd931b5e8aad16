"""Map commune codes of an older vintage to current COG codes (decoupage-administratif)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from geopublish.errors import NormaliseError

CURRENT = "commune-actuelle"
_FOLDED = ("commune-deleguee", "commune-associee")
_ARRONDISSEMENT = "arrondissement-municipal"
_EXPECTED = (
    "communes.json of @etalab/decoupage-administratif (a list of records with code and type)"
)


def read_reference(path: Path, *, collection: str, what: str, expected: str) -> list[dict]:
    """Read a decoupage-administratif JSON table, a list of records each with a ``code``."""
    try:
        records = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise NormaliseError(
            f"collection {collection!r}: cannot read {what} {str(path)!r} ({exc}); "
            f"expected {expected}"
        ) from exc
    if not isinstance(records, list) or not all(
        isinstance(r, dict) and "code" in r for r in records
    ):
        raise NormaliseError(
            f"collection {collection!r}: {what} {str(path)!r} is not a list of records "
            f"with a 'code'; expected {expected}"
        )
    return records


def _indexes(records: list[dict], path: Path, collection: str) -> tuple[set, dict, dict]:
    if not all("type" in r for r in records):
        raise NormaliseError(
            f"collection {collection!r}: communes reference {str(path)!r} has records "
            f"without 'type'; expected {_EXPECTED}"
        )
    current = {r["code"] for r in records if r["type"] == CURRENT}
    parent: dict[str, str] = {}
    former: dict[str, str] = {}
    for r in records:
        if r["type"] in _FOLDED and r.get("chefLieu"):
            parent.setdefault(r["code"], r["chefLieu"])
        elif r["type"] == _ARRONDISSEMENT and r.get("commune"):
            parent.setdefault(r["code"], r["commune"])
        elif r["type"] == CURRENT:
            for old in r.get("anciensCodes", ()):
                former.setdefault(old, r["code"])
    return current, parent, former


def reconcile_codes(
    codes: Sequence[str], communes_ref: Path, *, collection: str
) -> tuple[dict[str, str], dict]:
    """Map commune codes of an older vintage to current COG codes.

    A code that is still a ``commune-actuelle`` is kept. A ``commune-deleguee`` or
    ``commune-associee`` goes to its ``chefLieu``, an ``arrondissement-municipal`` to its
    ``commune``. A code that is no record at all but is listed in the ``anciensCodes`` of a
    current commune (a merger that kept no delegated commune) goes to that commune.

    Parameters
    ----------
    codes : Sequence[str]
        INSEE commune codes of the source vintage.
    communes_ref : Path
        ``communes.json`` of @etalab/decoupage-administratif.
    collection : str
        Collection id, for error messages.

    Returns
    -------
    tuple[dict[str, str], dict]
        Old -> current code for every code that could be placed, and a report with
        ``unchanged`` (count), ``remapped`` ({old: new}), ``via_former_code`` (old codes
        placed only through ``anciensCodes``), ``merged`` ({new: [old, ...]} for current
        communes reached by several codes) and ``unplaced`` (codes found nowhere).
    """
    records = read_reference(
        communes_ref, collection=collection, what="communes reference", expected=_EXPECTED
    )
    current, parent, former = _indexes(records, communes_ref, collection)
    mapping: dict[str, str] = {}
    remapped: dict[str, str] = {}
    via_former: list[str] = []
    unplaced: list[str] = []
    for code in dict.fromkeys(codes):
        target, seen = code, set()
        while target not in current and target in parent and target not in seen:
            seen.add(target)
            target = parent[target]
        if target not in current and code in former:
            target = former[code]
            via_former.append(code)
        if target not in current:
            unplaced.append(code)
            continue
        mapping[code] = target
        if target != code:
            remapped[code] = target
    merged: dict[str, list[str]] = {}
    for old, new in mapping.items():
        merged.setdefault(new, []).append(old)
    report = {
        "unchanged": len(mapping) - len(remapped),
        "remapped": remapped,
        "via_former_code": sorted(via_former),
        "merged": {new: sorted(olds) for new, olds in sorted(merged.items()) if len(olds) > 1},
        "unplaced": sorted(unplaced),
    }
    return mapping, report
