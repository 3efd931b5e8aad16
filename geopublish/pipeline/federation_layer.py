"""The consolidated layer, in two passes over the publishers' kept rows (bounded memory).

Pass 1 reads, per publisher, only what the decisions need (national id, point, dedupe key: the
``keys.json`` cache of :mod:`federation_parts`): ids are given in priority order (a repeated id
gets ``-2``, ``-3``), duplicate pairs are found on all points at once, and each publisher's
partition gets its fingerprint. Pass 2 reads the rows of the publishers asked for and yields
frames of at most ``batch`` rows for the store; the schema CSV is the concatenation of one
fragment per publisher, written when its fingerprint is new and copied otherwise.
"""

from __future__ import annotations

import csv
import io
import os
from array import array
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
import shapely

from geopublish.catalog.models import Federation
from geopublish.ledger.files import read_json
from geopublish.pipeline import federation_parts as parts
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
        self.fingerprints: dict[str, str] = {}  # publisher -> its partition's fingerprint
        self.counts: dict[str, int] = {}  # publisher -> rows in the layer
        self.count = 0
        self._decide()

    def _rows(self, k: int) -> list[dict[str, Any]]:
        return read_json(self.sources[k][1]) or []

    def _decide(self) -> None:
        # Only what the decisions need, in flat arrays: about 100 bytes per row.
        lon, lat = array("d"), array("d")
        group, srow = array("i"), array("i")
        bases: list[str] = []
        keys: list[str] | None = [] if self.fed.dedupe and self.fed.dedupe.fields else None
        found = []
        for k, (_, path) in enumerate(self.sources):
            cached = parts.keys(path, self.fed)
            found.append(cached)
            self.ids.append([None] * len(cached["base"]))
            bases.extend(cached["base"])
            lon.extend(cached["lon"])
            lat.extend(cached["lat"])
            srow.extend(cached["srow"])
            group.extend([k] * len(cached["base"]))
            if keys is not None:
                keys.extend(cached["key"])
        dropped: set[int] = set()
        if self.fed.dedupe:
            pairs = refs.duplicates(lon, lat, group, keys, self.fed.dedupe.distance_m)
            for i, j, metres in pairs:
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
        for k, (slug, _) in enumerate(self.sources):
            self.fingerprints[slug] = parts.fingerprint(found[k], self.ids[k])
            self.counts[slug] = sum(i is not None for i in self.ids[k])

    def frames(
        self, download: Path, batch: int, only: set[str] | None = None
    ) -> Iterator[tuple[str, gpd.GeoDataFrame]]:
        """Frames of the publishers in ``only`` (default all); the whole CSV to ``download``."""
        names = [f["name"] for f in self.schema["fields"]]
        download.parent.mkdir(parents=True, exist_ok=True)
        tmp = download.with_name(f".{download.name}.tmp")
        with tmp.open("wb") as handle:
            handle.write(_csv([names]))
            for k, (slug, path) in enumerate(self.sources):
                fragment = path.with_name(f"download.{self.fingerprints[slug][:20]}.csv")
                wanted = only is None or slug in only
                if not wanted and fragment.is_file():
                    with fragment.open("rb") as part:
                        while chunk := part.read(1 << 20):
                            handle.write(chunk)
                    continue
                lines: list[list[Any]] = []
                pending: list[dict[str, Any]] = []
                for i, row in enumerate(self._rows(k)):
                    ident = self.ids[k][i]
                    if ident is None:
                        continue
                    lines.append([row["values"].get(n, "") for n in names])
                    if not wanted:
                        continue
                    pending.append({**row, "id": ident})
                    if len(pending) >= batch:
                        yield f"publisher {slug}", frame(pending, self.schema)
                        pending = []
                if pending:
                    yield f"publisher {slug}", frame(pending, self.schema)
                text = _csv(lines)
                handle.write(text)
                _fragment(fragment, text)
        tmp.replace(download)
        if self.count == 0:
            yield "federation", frame([], self.schema)


def _csv(lines: list[list[str]]) -> bytes:
    """Rows as the csv module writes them (quoting as needed, CRLF), UTF-8."""
    buf = io.StringIO(newline="")
    csv.writer(buf).writerows(lines)
    return buf.getvalue().encode("utf-8")


def _fragment(path: Path, text: bytes) -> None:
    """One publisher's part of the download, replacing its older ones."""
    for old in path.parent.glob("download.*.csv"):
        if old != path:
            old.unlink(missing_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(text)
    os.replace(tmp, path)
