"""Treatment of personal data: pure functions over one batch, and k-anonymity over a layer.

Everything here runs before ids, content hashes and dedupe keys are computed, so nothing
downstream ever sees a raw value. Counts go to the report's ``privacy`` entry; values never do.
"""

from __future__ import annotations

import hashlib
import hmac

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely

from geopublish import kernels
from geopublish.catalog.models import Coarsen, Generalise, KAnonymity, Privacy
from geopublish.errors import NormaliseError

METRIC = pyproj.CRS("EPSG:2154")


def subkey(secret: bytes, collection: str, purpose: str) -> bytes:
    """A key per collection and purpose, so pseudonyms cannot be linked across layers."""
    return hmac.new(secret, f"geopublish:{purpose}:{collection}".encode(), "sha256").digest()


def pseudonymise(values: pd.Series, key: bytes) -> pd.Series:
    """HMAC-SHA-256 (hex) of each value's text; nulls stay null."""
    text = values.astype("string")
    out = [
        None if pd.isna(v) else hmac.new(key, str(v).encode(), hashlib.sha256).hexdigest()
        for v in text.tolist()
    ]
    return pd.Series(out, index=values.index, dtype="string")


def coarsen(values: pd.Series, rule: Coarsen) -> pd.Series:
    """A date as 'YYYY-MM' or 'YYYY', or a number as its band label; nulls stay null."""
    if rule.to is not None:
        width = 7 if rule.to == "month" else 4
        return values.astype("string").str.slice(0, width)
    assert rule.bands is not None
    edges = rule.bands
    nums = pd.to_numeric(values, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    labels = [f"< {edges[0]:g}"]
    labels += [f"[{lo:g}, {hi:g})" for lo, hi in zip(edges, edges[1:], strict=False)]
    labels.append(f">= {edges[-1]:g}")
    index = np.searchsorted(np.asarray(edges), nums, side="right")
    out = np.array(labels, dtype=object)[np.minimum(index, len(labels) - 1)]
    out[np.isnan(nums)] = None
    return pd.Series(out, index=values.index, dtype="string")


def _metric(geoms: np.ndarray, crs: pyproj.CRS) -> np.ndarray:
    return geoms if crs.equals(METRIC) else kernels.reproject(geoms, crs, METRIC)


def _back(geoms: np.ndarray, crs: pyproj.CRS) -> np.ndarray:
    return geoms if crs.equals(METRIC) else kernels.reproject(geoms, METRIC, crs)


def snap_to_grid(geoms: np.ndarray, crs: pyproj.CRS, cell: float) -> np.ndarray:
    """The centre of the Lambert-93 grid cell holding each geometry's centroid."""
    centres = shapely.get_coordinates(shapely.centroid(_metric(geoms, crs)))
    snapped = (np.floor(centres / cell) + 0.5) * cell
    return _back(shapely.points(snapped), crs)


def displace(geoms: np.ndarray, crs: pyproj.CRS, radius: float, key: bytes) -> np.ndarray:
    """Each centroid moved within ``radius`` metres, uniformly over the disc.

    The draw is an HMAC of the feature's own location: stable across builds with one key
    (averaging rebuilds reveals nothing), unpredictable without it.
    """
    metric = shapely.centroid(_metric(geoms, crs))
    xy = shapely.get_coordinates(metric)
    draws = np.empty((len(xy), 2))
    for i, (x, y) in enumerate(xy):
        digest = hmac.new(key, f"{x:.3f} {y:.3f}".encode(), hashlib.sha256).digest()
        draws[i] = np.frombuffer(digest[:16], dtype="<u8") / 2.0**64
    angle = 2 * np.pi * draws[:, 0]
    distance = radius * np.sqrt(draws[:, 1])
    moved = xy + np.column_stack([distance * np.cos(angle), distance * np.sin(angle)])
    return _back(shapely.points(moved), crs)


def commune_of(
    geoms: np.ndarray, crs: pyproj.CRS, communes: gpd.GeoDataFrame, shape: str
) -> np.ndarray:
    """The commune (polygon or centroid) holding each centroid; None outside every commune."""
    points = gpd.GeoDataFrame(geometry=shapely.centroid(geoms), crs=crs)
    local = communes.to_crs(crs)
    joined = gpd.sjoin(points, local, how="left", predicate="within")
    index = joined[~joined.index.duplicated(keep="first")]["index_right"].to_numpy()
    if shape == "centroid":
        # Centroids computed in a metric CRS, like the grid's cells.
        targets = _back(shapely.centroid(communes.to_crs(METRIC).geometry.to_numpy()), crs)
    else:
        polygons = local.geometry.to_numpy()
        single = shapely.get_type_id(polygons) == shapely.GeometryType.POLYGON.value
        targets = polygons.copy()
        targets[single] = shapely.multipolygons(polygons[single], indices=np.arange(single.sum()))
    out = np.full(len(geoms), None, dtype=object)
    found = ~pd.isna(index)
    out[found] = targets[index[found].astype(int)]
    return out


class Treatment:
    """One collection's compiled ``privacy`` section, applied batch by batch."""

    def __init__(
        self,
        privacy: Privacy,
        collection: str,
        secret: bytes | None,
        communes: gpd.GeoDataFrame | None = None,
    ) -> None:
        self.privacy = privacy
        self.collection = collection
        if privacy.needs_key and secret is None:
            raise NormaliseError(
                f"collection {collection!r}: privacy: pseudonymise and displace need a key; "
                "set GEOPUBLISH_PRIVACY_KEY_FILE (or GEOPUBLISH_PRIVACY_KEY)"
            )
        self.pseudonym_key = subkey(secret, collection, "pseudonym") if secret else b""
        self.displace_key = subkey(secret, collection, "displace") if secret else b""
        generalise = privacy.generalise
        if generalise is not None and generalise.method == "commune" and communes is None:
            raise NormaliseError(f"collection {collection!r}: privacy.generalise needs communes")
        self.communes = communes

    def drop(self, frame: pd.DataFrame, stats: dict) -> pd.DataFrame:
        """Remove the ``drop`` columns as read."""
        present = [c for c in self.privacy.drop if c in frame.columns]
        if present:
            counts = _bucket(stats, "dropped_fields")
            for name in present:
                counts[name] = counts.get(name, 0) + len(frame)
        return frame.drop(columns=present)

    def apply(self, gdf: gpd.GeoDataFrame, stats: dict, multi: bool = False) -> gpd.GeoDataFrame:
        """Pseudonymise, coarsen and generalise one conformed, cleaned batch.

        ``multi``: generalised points are stored as one-part MultiPoints.
        """
        privacy = self.privacy
        gdf = gdf.copy()
        for name in privacy.pseudonymise:
            gdf[name] = pseudonymise(gdf[name], self.pseudonym_key)
            _add(_bucket(stats, "pseudonymised"), name, int(gdf[name].notna().sum()))
        for rule in privacy.coarsen:
            gdf[rule.field] = coarsen(gdf[rule.field], rule)
            _add(_bucket(stats, "coarsened"), rule.field, int(gdf[rule.field].notna().sum()))
        if privacy.generalise is not None and len(gdf):
            gdf = self._generalise(gdf, privacy.generalise, stats, multi)
        return gdf

    def _generalise(
        self, gdf: gpd.GeoDataFrame, rule: Generalise, stats: dict, multi: bool
    ) -> gpd.GeoDataFrame:
        geoms, crs = gdf.geometry.to_numpy(), gdf.crs
        if rule.method == "grid":
            assert rule.cell_m is not None
            moved = snap_to_grid(geoms, crs, rule.cell_m)
        elif rule.method == "displace":
            assert rule.radius_m is not None
            moved = displace(geoms, crs, rule.radius_m, self.displace_key)
        else:
            assert self.communes is not None and rule.communes is not None
            moved = commune_of(geoms, crs, self.communes, rule.communes.shape)
        lost = shapely.is_missing(moved)
        if lost.any():
            _add(stats.setdefault("dropped", {}), "location outside every commune", int(lost.sum()))
        moved = moved[~lost]
        points = shapely.get_type_id(moved) == shapely.GeometryType.POINT.value
        if multi and points.any():
            moved = moved.copy()
            moved[points] = shapely.multipoints(moved[points], indices=np.arange(points.sum()))
        out = gdf.loc[~lost].copy()
        out[gdf.geometry.name] = moved
        _add(_bucket(stats, "generalised"), rule.method, int((~lost).sum()))
        return gpd.GeoDataFrame(out, geometry=gdf.geometry.name, crs=crs)


def _bucket(stats: dict, name: str) -> dict:
    return stats.setdefault("privacy", {}).setdefault(name, {})


def _add(bucket: dict, key: str, n: int) -> None:
    bucket[key] = bucket.get(key, 0) + n


def _combos(gdf: gpd.GeoDataFrame, names: list[str]) -> pd.Series:
    parts = []
    for name in names:
        if name == "geometry":
            wkb = kernels.to_wkb(gdf.geometry.to_numpy())
            parts.append(pd.Series([w.hex() if w else "" for w in wkb], index=gdf.index))
        else:
            parts.append(gdf[name].astype("string").fillna("\x00"))
    key = parts[0].astype("string")
    for part in parts[1:]:
        key = key.str.cat(part.astype("string"), sep="\x1f")
    return key


def k_anonymise(gdf: gpd.GeoDataFrame, rule: KAnonymity, stats: dict) -> gpd.GeoDataFrame:
    """Suppress (or blank, then suppress) rows whose quasi-identifiers occur fewer than k times.

    Needs the whole layer; reports the k achieved (the smallest group published).
    """
    names = rule.quasi_identifiers
    report = stats.setdefault("privacy", {}).setdefault("k_anonymity", {})
    report.update(k=rule.k, quasi_identifiers=names, strategy=rule.strategy)
    sizes = _combos(gdf, names).map(_combos(gdf, names).value_counts())
    rare = (sizes < rule.k).to_numpy()
    blanked = 0
    if rule.strategy == "generalise" and rare.any():
        gdf = gdf.copy()
        for name in (n for n in names if n != "geometry"):
            gdf.loc[rare, name] = pd.NA
        blanked = int(rare.sum())
        keys = _combos(gdf, names)
        rare = (keys.map(keys.value_counts()) < rule.k).to_numpy()
    kept = gdf.loc[~rare]
    keys = _combos(kept, names)
    counts = keys.value_counts()
    report.update(
        generalised_rows=blanked,
        suppressed_rows=int(rare.sum()),
        groups=int(len(counts)),
        k_achieved=int(counts.min()) if len(counts) else None,
    )
    dropped = stats.setdefault("dropped", {})
    if rare.any():
        _add(dropped, f"k-anonymity (k={rule.k})", int(rare.sum()))
    return kept
