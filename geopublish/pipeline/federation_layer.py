"""The consolidated layer, in two passes over the publishers' kept rows (bounded memory).

Pass 1 reads one publisher's rows at a time and keeps only what the decisions need (national
id, point, dedupe key): ids are given in priority order (a repeated id gets ``-2``, ``-3``),
duplicate pairs are found on all points at once. Pass 2 reads each publisher again and yields
frames of at most ``batch`` rows for the store, writing the schema CSV as it goes.
"""

from __future__ import annotations

import csv
from array import array
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
import shapely

from geopublish.catalog.models import Federation
from geopublish.ledger.files import read_json
from geopublish.pipeline import federation_refs as refs

PROVENANCE = {
    "publisher": "object",
    "source_file": "object",
    "fetched_at": "object",
    "source_hash": "object",
    "schema_version": "object",
    "source_row": "int64",
}
DTYPES = {"integer": "Int64", "number": "float64", "boolean": "boolean"}


def column_name(name: str) -> str:
    """Served column of a schema field (lower case: both stores, every client)."""
    return name.lower()


def columns(schema: dict) -> dict[str, str]:
    """Column -> dtype of the served frames, known before any row is read."""
    out = {"id_federe": "object"}
    for f in schema["fields"]:
        out[column_name(f["name"])] = DTYPES.get(f.get("type", "string"), "object").lower()
    return {**out, **PROVENANCE}


def frame(rows: list[dict[str, Any]], schema: dict) -> gpd.GeoDataFrame:
    """Served rows: schema fields (typed), national id, provenance, point."""
    data: dict[str, Any] = {"id_federe": [r["id"] for r in rows]}
    for f in schema["fields"]:
        name, kind = f["name"], f.get("type", "string")
        cells = [r["values"].get(name, "") or None for r in rows]
        series = pd.Series(cells, dtype="object")
        if kind in ("integer", "number"):
            series = pd.to_numeric(series, errors="coerce").astype(DTYPES[kind])
        elif kind == "boolean":
            series = series.map({"true": True, "false": False}).astype("boolean")
        data[column_name(name)] = series
    for key in PROVENANCE:
        data[key] = [r["provenance"][key] for r in rows]
    geometry = shapely.points([r["lon"] for r in rows], [r["lat"] for r in rows])
    return gpd.GeoDataFrame(data, geometry=geometry, crs="EPSG:4326")


class Consolidation:
    """Ids, duplicates and collisions decided over every publisher, then the frames."""

    def __init__(self, fed: Federation, schema: dict, sources: list[tuple[str, Path]]) -> None:
        self.fed, self.schema, self.sources = fed, schema, sources
        pk = schema.get("primaryKey") or []
        self.pk = [pk] if isinstance(pk, str) else list(pk)
        self.ids: list[list[str | None]] = []  # per source, per row: its id (None: left out)
        self.duplicates: list[dict[str, Any]] = []
        self.collisions: list[dict[str, Any]] = []
        self.count = 0
        self._decide()

    def _rows(self, k: int) -> list[dict[str, Any]]:
        return read_json(self.sources[k][1]) or []

    def _decide(self) -> None:
        # Only what the decisions need, in flat arrays: about 100 bytes per row.
        lon, lat = array("d"), array("d")
        group, srow = array("i"), array("i")
        bases: list[str] = []
        fields = self.fed.dedupe.fields if self.fed.dedupe else []
        keys: list[str] | None = [] if fields else None
        for k in range(len(self.sources)):
            rows = self._rows(k)
            self.ids.append([None] * len(rows))
            for row in rows:
                values = row["values"]
                bases.append("-".join(values.get(f, "") for f in self.fed.id_rule))
                lon.append(row["lon"])
                lat.append(row["lat"])
                group.append(k)
                srow.append(row["provenance"]["source_row"])
                if keys is not None:
                    keys.append("\x1f".join(refs.norm(values.get(f, "")) for f in fields))
        dropped: set[int] = set()
        if self.fed.dedupe:
            found = refs.duplicates(lon, lat, group, keys, self.fed.dedupe.distance_m)
            for i, j, metres in found:
                dropped.add(j)
                self.duplicates.append({
                    "kept": {"publisher": self.sources[group[i]][0], "source_row": srow[i]},
                    "dropped": {"publisher": self.sources[group[j]][0], "source_row": srow[j]},
                    "distance_m": metres,
                })  # fmt: skip
        seen: dict[str, int] = {}
        start = [0]
        for ids in self.ids:
            start.append(start[-1] + len(ids))
        for n, base in enumerate(bases):
            if n in dropped:
                continue
            ident, suffix = base, 1
            while ident in seen:
                suffix += 1
                ident = f"{base}-{suffix}"
            k = group[n]
            if suffix > 1:
                first = seen[base]
                self.collisions.append({
                    "id": base, "given": None if self.pk else ident,
                    "publisher": self.sources[k][0], "source_row": srow[n],
                    "first": f"{self.sources[group[first]][0]}#{srow[first]}",
                })  # fmt: skip
                if self.pk:  # the schema's own key must stay unique: left out of the layer
                    continue
            seen[ident] = n
            self.ids[k][n - start[k]] = ident
            self.count += 1

    def frames(self, download: Path, batch: int) -> Iterator[tuple[str, gpd.GeoDataFrame]]:
        """Frames for the store, writing the schema CSV to ``download`` on the way."""
        names = [f["name"] for f in self.schema["fields"]]
        download.parent.mkdir(parents=True, exist_ok=True)
        tmp = download.with_name(f".{download.name}.tmp")
        with tmp.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(names)
            for k, (slug, _) in enumerate(self.sources):
                chunk: list[dict[str, Any]] = []
                for i, row in enumerate(self._rows(k)):
                    ident = self.ids[k][i]
                    if ident is None:
                        continue
                    writer.writerow([row["values"].get(n, "") for n in names])
                    chunk.append({**row, "id": ident})
                    if len(chunk) >= batch:
                        yield f"publisher {slug}", frame(chunk, self.schema)
                        chunk = []
                if chunk:
                    yield f"publisher {slug}", frame(chunk, self.schema)
        tmp.replace(download)
        if self.count == 0:
            yield "federation", frame([], self.schema)
