"""What federated rows are checked against (COG, territories, outlines) and duplicate pairs."""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pyogrio
import pyproj
import shapely

from geopublish.catalog.models import Federation, Publisher
from geopublish.errors import CatalogError
from geopublish.settings import Settings

TO_L93 = pyproj.Transformer.from_crs("EPSG:4326", "EPSG:2154", always_xy=True)
CURRENT = {"commune-actuelle", "arrondissement-municipal"}


@dataclass
class Tables:
    """COG codes, communes by département, EPCI members, commune outlines (Lambert-93)."""

    cog: set[str]
    by_departement: dict[str, set[str]]
    epci: dict[str, set[str]]
    outlines: dict[str, Any] = field(default_factory=dict)


def _json(path: Path, what: str) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CatalogError(f"federation.{what}: cannot read {str(path)!r}: {exc}") from exc


@lru_cache(maxsize=4)
def _tables(communes: Path, epci: Path, outlines: tuple[Path, ...], stamp: tuple) -> Tables:
    cog: set[str] = set()
    by_dep: dict[str, set[str]] = {}
    for c in _json(communes, "communes"):
        if c.get("type") in CURRENT:
            cog.add(c["code"])
            by_dep.setdefault(c.get("departement", ""), set()).add(c["code"])
    members = {
        e["code"]: {m["code"] for m in e.get("membres", [])}
        for e in (_json(epci, "epci") if epci.is_file() else [])
    }
    shapes: dict[str, Any] = {}
    for path in outlines:
        table = pyogrio.read_dataframe(path, columns=["code"])
        geoms = table.geometry.to_numpy()
        coords = shapely.get_coordinates(geoms)
        x, y = TO_L93.transform(coords[:, 0], coords[:, 1])
        projected = shapely.set_coordinates(geoms.copy(), np.column_stack([x, y]))
        shapes.update(zip(table["code"].astype(str), projected, strict=True))
    return Tables(cog, by_dep, members, shapes)


def reference_tables(settings: Settings, fed: Federation) -> Tables:
    """The COG tables and outlines named by the spec (read once per process and version)."""
    root = settings.source_root
    files = [root / fed.communes, root / fed.epci]
    outlines: list[Path] = []
    for pattern in fed.outlines:
        outlines.extend(sorted(root.glob(pattern)))
    stamp = tuple(p.stat().st_mtime_ns if p.exists() else 0 for p in files + outlines)
    return _tables(files[0], files[1], tuple(outlines), stamp)


def territory(tables: Tables, publisher: Publisher) -> set[str]:
    """INSEE codes of every commune of a publisher's territory."""
    t = publisher.territory
    codes = set(t.communes)
    for dep in t.departements:
        codes |= tables.by_departement.get(dep, set())
    for siren in t.epci:
        codes |= tables.epci.get(siren, set())
    return codes


def norm(value: str) -> str:
    """A value compared without case, accents, spaces or punctuation."""
    text = unicodedata.normalize("NFKD", value.lower())
    return "".join(c for c in text if c.isalnum())


def duplicates(
    lon: Sequence[float],
    lat: Sequence[float],
    groups: Sequence[int],
    keys: Sequence[str] | None,
    distance_m: float,
) -> list[tuple[int, int, float]]:
    """Pairs (kept, dropped, metres) of points of two groups within the distance, equal keys.

    Points come in priority order, so of each pair the later one is dropped; a point already
    dropped does not drop another.
    """
    if not len(lon):
        return []
    x, y = TO_L93.transform(np.asarray(lon), np.asarray(lat))
    points = shapely.points(x, y)
    tree = shapely.STRtree(points)
    left, right = tree.query(points, predicate="dwithin", distance=distance_m)
    dropped: set[int] = set()
    pairs = []
    for i, j in sorted(zip(left.tolist(), right.tolist(), strict=True)):
        if i >= j or i in dropped or j in dropped or groups[i] == groups[j]:
            continue
        if keys is not None and keys[i] != keys[j]:
            continue
        dropped.add(j)
        pairs.append((i, j, round(float(shapely.distance(points[i], points[j])), 1)))
    return pairs
