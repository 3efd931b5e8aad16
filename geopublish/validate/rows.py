"""Row-level validation of a federated layer: frictionless plus the national validators' checks.

The schema's own rules (types, required, patterns, enumerations, ranges, formats, primary
key) are checked by frictionless on the mapped rows, as Validata does. Then the checks that
Validata's custom checks and the national consolidations add, where a library exists:
SIREN/SIRET checksums (python-stdnum), OSM opening hours (opening-hours-py), INSEE codes in
the COG, placeholders and masked values, dates not in the future, and the point inside the
publisher's territory (its commune's outline, with a tolerance, when outlines are given).
Every failure is a :class:`Reason` naming field, value and rule.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import opening_hours
import pyproj
import shapely
from frictionless import Resource, Schema
from stdnum.fr import siren as stdsiren
from stdnum.fr import siret as stdsiret

from geopublish.errors import ValidationFailed

PLACEHOLDERS = {
    "123456789", "000000000", "999999999", "111111111", "12345678900000",
    "00000000000000", "11111111111111", "99999999999999", "xx", "xxx", "n/a", "na",
    "inconnu", "null", "none", "-", "?",
}  # fmt: skip
MASKED = re.compile(r"^\d*[Xx*#]{2,}\d*$")
INSEE_PATTERN = r"^([013-9]\d|2[AB1-9])\d{3}$"
TO_L93 = pyproj.Transformer.from_crs("EPSG:4326", "EPSG:2154", always_xy=True)
RULES_FR = {
    "obligatoire": "valeur obligatoire absente",
    "type": "type incorrect",
    "pattern": "ne respecte pas le motif du schéma",
    "enum": "valeur hors de la liste du schéma",
    "minimum": "inférieure au minimum",
    "maximum": "supérieure au maximum",
    "cle_primaire": "identifiant déjà utilisé par une autre ligne",
    "siren": "SIREN invalide (clé de contrôle)",
    "siret": "SIRET invalide (clé de contrôle)",
    "valeur_factice": "valeur factice (bouche-trou)",
    "valeur_masquee": "valeur masquée",
    "horaires_osm": "horaires hors format OpenStreetMap opening_hours",
    "insee_cog": "code INSEE absent du COG",
    "territoire": "commune hors du territoire de l'éditeur",
    "hors_commune": "point hors de sa commune",
    "date_future": "date dans le futur",
}


@dataclass(frozen=True)
class Problem:
    """One failed rule on one row (index in the rows given)."""

    index: int
    field: str
    value: str
    rule: str
    message: str


@dataclass
class Reference:
    """What the row checks compare with: the COG, the territory and commune outlines."""

    cog: set[str]
    territory: set[str]
    outlines: dict[str, shapely.Geometry] = field(default_factory=dict)  # EPSG:2154
    tolerance_m: float = 500.0
    today: dt.date = field(default_factory=dt.date.today)


def _descriptor(schema: dict) -> dict:
    keep = ("fields", "primaryKey", "missingValues", "foreignKeys")
    return {k: schema[k] for k in keep if k in schema and k != "foreignKeys"}


def _rule(error: object) -> str:
    kind = getattr(error, "type", "")
    note = getattr(error, "note", "") or ""
    if kind == "constraint-error":
        match = re.search(r'constraint "(\w+)"', note)
        name = match.group(1) if match else "contrainte"
        return {"required": "obligatoire"}.get(name, name)
    if kind == "type-error":
        return "type"
    if kind in ("primary-key", "unique-error"):
        return "cle_primaire"
    return kind


def frictionless_problems(schema: dict, rows: Sequence[dict[str, str]]) -> list[Problem]:
    """The schema's own rules over ``rows`` (one dict of strings per row)."""
    names = [f["name"] for f in schema["fields"]]
    data = [names, *([row.get(n, "") for n in names] for row in rows)]
    resource = Resource(data=data, schema=Schema.from_descriptor(_descriptor(schema)))
    report = resource.validate(limit_errors=10**9)
    task = report.tasks[0]
    problems = []
    for error in task.errors:
        number = getattr(error, "row_number", None)
        if number is None:  # a file-level error: the schema itself
            raise ValidationFailed(f"schema check failed: {error.message}", [])
        rule = _rule(error)
        name = getattr(error, "field_name", None) or "+".join(schema.get("primaryKey") or [])
        value = str(getattr(error, "cell", "") or "")
        if rule == "cle_primaire":
            value = "-".join(rows[number - 2].get(k, "") for k in schema.get("primaryKey") or [])
        message = f"{name} : {value[:60]!r} : {RULES_FR.get(rule, rule)} ({error.note})"
        problems.append(Problem(number - 2, name, value, rule, message))
    return problems


def _custom_columns(schema: dict, check: str) -> list[str]:
    return [
        c.get("params", {}).get("column")
        for c in schema.get("custom_checks") or []
        if c.get("name") == check and c.get("params", {}).get("column")
    ]


def _identifier_fields(schema: dict) -> tuple[list[str], list[str]]:
    sirens = set(_custom_columns(schema, "french-siren-value"))
    sirets = set(_custom_columns(schema, "french-siret-value"))
    for f in schema["fields"]:
        name, pattern = f["name"], (f.get("constraints") or {}).get("pattern", "")
        if "siren" in name.lower() and pattern == r"^\d{9}$":
            sirens.add(name)
        if "siret" in name.lower() and pattern == r"^\d{14}$":
            sirets.add(name)
    return sorted(sirens), sorted(sirets)


class RowChecks:
    """The checks beyond the schema, compiled once per layer."""

    def __init__(self, schema: dict) -> None:
        self.sirens, self.sirets = _identifier_fields(schema)
        self.hours = _custom_columns(schema, "opening-hours-value")
        self.insee = [
            f["name"]
            for f in schema["fields"]
            if (f.get("constraints") or {}).get("pattern") == INSEE_PATTERN
        ]
        self.dates = [f["name"] for f in schema["fields"] if f.get("type") in ("date", "datetime")]
        self.required = {
            f["name"] for f in schema["fields"] if (f.get("constraints") or {}).get("required")
        }

    def _identifier(self, name: str, value: str, kind: str) -> tuple[str, str] | None:
        if value.lower() in PLACEHOLDERS:
            return "valeur_factice", f"{name} : {value!r} est une valeur factice"
        if MASKED.match(value):
            return "valeur_masquee", f"{name} : {value!r} est masqué"
        valid = stdsiren.is_valid(value) if kind == "siren" else stdsiret.is_valid(value)
        if not valid and value.isdigit() and len(value) == (9 if kind == "siren" else 14):
            return kind, f"{name} : {value!r} : {RULES_FR[kind]}"
        return None  # a wrong length is the schema's pattern error

    def check(
        self, index: int, values: dict[str, str], point: tuple[float, float] | None,
        ref: Reference,
    ) -> list[Problem]:  # fmt: skip
        """Problems of one mapped row."""
        out: list[Problem] = []

        def add(name: str, value: str, rule: str, message: str) -> None:
            out.append(Problem(index, name, value, rule, message))

        for kind, names in (("siren", self.sirens), ("siret", self.sirets)):
            for name in names:
                value = values.get(name, "")
                found = self._identifier(name, value, kind) if value else None
                if found:
                    add(name, value, *found)
        for name in self.hours:
            value = values.get(name, "")
            if value and not opening_hours.validate(value):
                add(name, value, "horaires_osm", f"{name} : {value!r} : {RULES_FR['horaires_osm']}")
        for name in self.dates:
            value = values.get(name, "")
            try:
                day = dt.date.fromisoformat(value[:10]) if value else None
            except ValueError:
                day = None  # the schema's format error
            if day is not None and day > ref.today:
                add(name, value, "date_future", f"{name} : {value!r} : {RULES_FR['date_future']}")
        for name in self.insee:
            code = values.get(name, "")
            if not code or not re.match(INSEE_PATTERN, code):
                continue  # absent or malformed: the schema's own errors
            if code not in ref.cog:
                add(name, code, "insee_cog", f"{name} : {code!r} : {RULES_FR['insee_cog']}")
            elif code not in ref.territory:
                add(name, code, "territoire", f"{name} : {code!r} : {RULES_FR['territoire']}")
            elif point is not None and code in ref.outlines:
                x, y = TO_L93.transform(*point)
                gap = shapely.distance(ref.outlines[code], shapely.Point(x, y))
                if gap > ref.tolerance_m:
                    shown = f"{point[0]:.6f},{point[1]:.6f}"
                    add(
                        "coordonnees", shown, "hors_commune",
                        f"point {shown} à {gap:.0f} m de la commune {code} "
                        f"(tolérance {ref.tolerance_m:.0f} m)",
                    )  # fmt: skip
        return out


def check_rows(
    schema: dict,
    rows: Sequence[dict[str, str]],
    points: Sequence[tuple[float, float] | None],
    ref: Reference,
) -> list[Problem]:
    """Every problem of ``rows``: the schema's (frictionless) then the national checks."""
    problems = frictionless_problems(schema, rows)
    checks = RowChecks(schema)
    for i, (values, point) in enumerate(zip(rows, points, strict=True)):
        problems.extend(checks.check(i, values, point, ref))
    return problems
