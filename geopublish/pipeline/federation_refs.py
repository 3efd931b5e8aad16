"""What federated rows are checked against (COG, territories, outlines) and duplicate pairs."""

from __future__ import annotations

import json
import unicodedata
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


def _norm(value: str) -> str:
    text = unicodedata.normalize("NFKD", value.lower())
    return "".join(c for c in text if c.isalnum())


def duplicates(rows: list[dict[str, Any]], fed: Federation) -> list[dict[str, Any]]:
    """Pairs of rows of two publishers within the distance and with equal fields.

    ``rows`` come in priority order, so of each pair the later row is the one dropped
    (``_drop`` is its index); a row already dropped does not drop another.
    """
    assert fed.dedupe is not None
    if not rows:
        return []
    x, y = TO_L93.transform([r["lon"] for r in rows], [r["lat"] for r in rows])
    points = shapely.points(x, y)
    tree = shapely.STRtree(points)
    left, right = tree.query(points, predicate="dwithin", distance=fed.dedupe.distance_m)
    dropped: set[int] = set()
    pairs = []
    for i, j in sorted(zip(left.tolist(), right.tolist(), strict=True)):
        if i >= j or i in dropped or j in dropped:
            continue
        a, b = rows[i], rows[j]
        pa, pb = a["provenance"]["publisher"], b["provenance"]["publisher"]
        if pa == pb:
            continue
        if any(_norm(a["values"].get(f, "")) != _norm(b["values"].get(f, "")) for f in
               fed.dedupe.fields):  # fmt: skip
            continue
        dropped.add(j)
        pairs.append({
            "kept": {"publisher": pa, "source_row": a["provenance"]["source_row"]},
            "dropped": {"publisher": pb, "source_row": b["provenance"]["source_row"]},
            "distance_m": round(float(shapely.distance(points[i], points[j])), 1),
            "_drop": j,
        })  # fmt: skip
    return pairs
