"""Apply a publisher's declared mapping: columns, values, booleans, units, coordinates.

Each output row holds the schema's fields as strings (what a CSV in the schema would hold),
the point as lon/lat floats, and the reasons a value could not be mapped (field, value,
rule), which quarantine the row like a validation failure would.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from typing import Any

import shapely

from geopublish.catalog.models import Federation, Mapping

TRUE = {"true", "1", "yes", "y", "oui", "o", "t", "vrai", "v"}
FALSE = {"false", "0", "no", "n", "non", "f", "faux"}
NUMBER = re.compile(r"^\s*[-+]?\d+(?:[.,]\d+)?\s*$")


@dataclass(frozen=True)
class Reason:
    """Why a row is quarantined: which field, which value, which rule."""

    field: str
    value: str
    rule: str
    message: str

    def as_dict(self) -> dict[str, str]:
        """JSON form."""
        return {
            "field": self.field,
            "value": self.value,
            "rule": self.rule,
            "message": self.message,
        }


@dataclass
class Mapped:
    """One publisher row in the schema."""

    row: int
    values: dict[str, str]
    lon: float | None = None
    lat: float | None = None
    reasons: list[Reason] = field(default_factory=list)


def text(value: Any) -> str:
    """A source value as the CSV cell it stands for (JSON numbers without '.0')."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return str(value).strip()


def _key(name: str) -> str:
    return re.sub(r"[\s_\-]+", "", name.lower())


class ColumnMap:
    """Which source column feeds each schema field."""

    def __init__(self, header: list[str], names: list[str], mapping: Mapping) -> None:
        by_key: dict[str, str] = {}
        for col in header:
            by_key.setdefault(_key(col), col)
        self.source: dict[str, str | None] = {}
        for name in names:
            wanted = mapping.columns.get(name, [name])
            options = [wanted] if isinstance(wanted, str) else list(wanted)
            self.source[name] = next((by_key[_key(o)] for o in options if _key(o) in by_key), None)
        self.by_key = by_key

    def column(self, name: str | None) -> str | None:
        """A source column by name, ignoring case and separators."""
        return None if name is None else self.by_key.get(_key(name))


def _float(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value) if math.isfinite(value) else None
    cell = text(value)
    if not NUMBER.match(cell):
        return None
    return float(cell.replace(",", "."))


def _pair(value: Any, lat_first: bool) -> tuple[float | None, float | None]:
    if isinstance(value, dict):
        return _float(value.get("lon")), _float(value.get("lat"))
    cell = text(value).strip().strip("[]()")
    parts = [p for p in re.split(r"[,;\s]+", cell) if p]
    if len(parts) != 2:
        return None, None
    a, b = _float(parts[0]), _float(parts[1])
    return (b, a) if lat_first else (a, b)


def _geometry(value: Any, kind: str) -> tuple[float | None, float | None]:
    try:
        if kind == "wkt":
            geom = shapely.from_wkt(text(value))
        else:
            doc = json.loads(value) if isinstance(value, str) else value
            if isinstance(doc, dict) and doc.get("type") == "Feature":
                doc = doc.get("geometry")
            geom = shapely.geometry.shape(doc)
    except (ValueError, TypeError, AttributeError, shapely.errors.GEOSException):
        return None, None
    if geom is None or geom.is_empty:
        return None, None
    point = geom if geom.geom_type == "Point" else geom.representative_point()
    return point.x, point.y


class RowMapper:
    """A publisher's mapping compiled against its header and the layer's schema."""

    def __init__(
        self, header: list[str], schema: dict, federation: Federation, mapping: Mapping
    ) -> None:
        self.fields = {f["name"]: f for f in schema["fields"]}
        self.names = list(self.fields)
        self.federation = federation
        self.mapping = mapping
        self.columns = ColumnMap(header, self.names, mapping)
        if mapping.migrate_from and mapping.migrate_from.startswith("0.2"):
            # Lieux de covoiturage 0.2.x: id_lieu 'INSEE-C-NNN' was the id; 0.3.x wants
            # id_local, and the national id is rebuilt as insee + '-' + id_local.
            self.old_id = self.columns.column("id_lieu")
        else:
            self.old_id = None
        self.replace = {n: (re.compile(r.pattern), r.to) for n, r in mapping.replace.items()}
        self.coords = mapping.coordinates
        fed = federation
        self.coordinate_fields = {n for n in (fed.x, fed.y, fed.geopoint) if n}

    def _value(self, name: str, raw: dict[str, Any]) -> str:
        col = self.columns.source.get(name)
        value = text(raw.get(col)) if col is not None else ""
        if not value and name in self.mapping.constants:
            value = self.mapping.constants[name]
        if name in self.replace and value:
            pattern, to = self.replace[name]
            if pattern.fullmatch(value):
                value = pattern.sub(to, value)
        values = self.mapping.values.get(name)
        if values is not None and value in values:
            value = values[value]
        kind = self.fields[name].get("type")
        if kind == "boolean" and self.mapping.booleans and value.lower() in TRUE | FALSE:
            value = "true" if value.lower() in TRUE else "false"
        return value

    def _point(self, raw: dict[str, Any]) -> tuple[float | None, float | None]:
        c, col = self.coords, self.columns.column
        fed = self.federation
        if c is None:
            if fed.geopoint:
                return _pair(raw.get(self.columns.source.get(fed.geopoint) or ""), False)
            return (
                _float(raw.get(self.columns.source.get(fed.x or "") or "")),
                _float(raw.get(self.columns.source.get(fed.y or "") or "")),
            )
        if c.x and c.y:
            return _float(raw.get(col(c.x) or "")), _float(raw.get(col(c.y) or ""))
        if c.latlon or c.lonlat:
            return _pair(raw.get(col(c.latlon or c.lonlat) or ""), bool(c.latlon))
        return _geometry(raw.get(col(c.wkt or c.geojson) or ""), "wkt" if c.wkt else "geojson")

    def _coordinate_source(self) -> str:
        c = self.coords
        if c is None:
            fed = self.federation
            return fed.geopoint or f"{fed.x}/{fed.y}"
        return c.latlon or c.lonlat or c.wkt or c.geojson or f"{c.x}/{c.y}"

    def map(self, number: int, raw: dict[str, Any]) -> Mapped:
        """One source row (number from 1, the header not counted) in the schema."""
        out = Mapped(number, {n: self._value(n, raw) for n in self.names})
        if self.old_id and not out.values.get("id_local"):
            old = text(raw.get(self.old_id))
            insee = out.values.get("insee", "")
            out.values["id_local"] = old[len(insee) + 1 :] if old.startswith(insee + "-") else old
        for name, unit in self.mapping.units.items():
            value = out.values.get(name, "")
            number_ = _float(value)
            if value and number_ is None:
                out.reasons.append(
                    Reason(name, value, "unite", f"{name} : {value!r} n'est pas un nombre")
                )
            elif number_ is not None:
                converted = number_ * unit.factor
                out.values[name] = str(int(round(converted))) if unit.round else f"{converted:g}"
        lon, lat = self._point(raw)
        if lon is None or lat is None:
            where = self._coordinate_source()
            shown = {k: text(raw.get(self.columns.column(k) or "")) for k in where.split("/")}
            out.reasons.append(
                Reason(
                    where,
                    ", ".join(v for v in shown.values())[:80],
                    "coordonnees",
                    f"coordonnées absentes ou illisibles dans {where}",
                )
            )
            return out
        if lat is not None and lon is not None and abs(lat) > 90 >= abs(lon):
            lon, lat = lat, lon  # latitude written first, seen in real files: fixed and noted
        out.lon, out.lat = lon, lat
        fed = self.federation
        if fed.geopoint:
            out.values[fed.geopoint] = f"[{lon!r},{lat!r}]"
        else:
            out.values[fed.x or ""] = repr(lon)
            out.values[fed.y or ""] = repr(lat)
        return out


def map_rows(
    header: list[str], rows: list[dict[str, Any]], schema: dict, federation: Federation,
    mapping: Mapping,
) -> list[Mapped]:  # fmt: skip
    """Every row of a publisher's table in the schema, in source order."""
    mapper = RowMapper(header, schema, federation, mapping)
    return [mapper.map(i, raw) for i, raw in enumerate(rows, start=1)]
