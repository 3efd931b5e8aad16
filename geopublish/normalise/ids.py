"""Stable feature ids, content hashes and duplicate removal across batches."""

from __future__ import annotations

import hashlib
import re

import geopandas as gpd
import numpy as np
import pandas as pd

from geopublish import kernels
from geopublish.errors import NormaliseError
from geopublish.model import HASH_COLUMN, WKB_COLUMN

# Characters an id from producer data may not carry as is: they break HTML, JSON-in-HTML,
# URLs and logs. Each is written as %XX (its UTF-8 bytes), '%' included, so the encoding is
# reversible (urllib.parse.unquote) and two different ids never become one.
UNSAFE_ID = re.compile(r'[\x00-\x1f\x7f-\x9f"<>%\\]')


def _percent(match: re.Match[str]) -> str:
    return "".join(f"%{b:02X}" for b in match.group().encode())


def safe_id(value: str) -> str:
    """One id as published: unsafe characters percent-encoded (UTF-8 bytes)."""
    return UNSAFE_ID.sub(_percent, value)


def safe_ids(ids: pd.Series, stats: dict) -> pd.Series:
    """``ids`` with unsafe characters percent-encoded; the count is in ``ids_encoded``."""
    unsafe = ids.str.contains(UNSAFE_ID).fillna(False).to_numpy(dtype=bool)
    if not unsafe.any():
        return ids
    stats["ids_encoded"] = stats.get("ids_encoded", 0) + int(unsafe.sum())
    out = ids.copy()
    out[unsafe] = [safe_id(v) for v in ids[unsafe].tolist()]
    return out


def content_hashes(gdf: gpd.GeoDataFrame, fields: list[str]) -> tuple[list[str], np.ndarray]:
    """SHA-1 of each feature's attributes and geometry, and the geometry's 2D WKB."""
    wkb = kernels.to_wkb(gdf.geometry.to_numpy())
    attrs = _joined(gdf, fields).tolist() if fields else None  # joined with \x1f, vectorised
    out = []
    for i, geom in enumerate(wkb):
        digest = hashlib.sha1(geom or b"")
        if attrs is not None:
            digest.update(attrs[i].encode())
        out.append(digest.hexdigest())
    return out, wkb


def _seen(values: pd.Series, seen: set[str]) -> np.ndarray:
    """Membership in ``seen`` per value; never converts the whole set (it grows per batch)."""
    return np.fromiter((v in seen for v in values.tolist()), dtype=bool, count=len(values))


def _joined(gdf: gpd.GeoDataFrame, fields: list[str], sep: str = "\x1f") -> pd.Series:
    """Fields as one string key per row, vectorised."""
    parts = gdf[fields].astype("string").fillna("\x00")
    if len(fields) == 1:
        return parts.iloc[:, 0]
    return parts.iloc[:, 0].str.cat([parts[c] for c in fields[1:]], sep=sep)


class Identifier:
    """Assigns ids, removes duplicates and refuses ids seen twice, batch after batch."""

    def __init__(self, collection: str, id_fields: list[str], dedupe_on: list[str] | None) -> None:
        self.collection = collection
        self.id_fields = id_fields
        self.dedupe_on = dedupe_on
        self.id_column = id_fields[0] if len(id_fields) == 1 else "id"
        self.seen_ids: set[str] = set()
        self.seen_keys: set[str] = set()

    def apply(self, gdf: gpd.GeoDataFrame, stats: dict) -> gpd.GeoDataFrame:
        """Add hash, WKB and id columns, drop duplicates, check id uniqueness.

        The WKB column (:data:`WKB_COLUMN`) is the geometry as the stores write it, encoded
        once for both the content hash and the store.
        """
        fields = [c for c in gdf.columns if c not in (gdf.geometry.name, HASH_COLUMN, WKB_COLUMN)]
        gdf = gdf.copy()
        gdf[HASH_COLUMN], gdf[WKB_COLUMN] = content_hashes(gdf, fields)
        if self.dedupe_on is not None:
            keys = _joined(gdf, self.dedupe_on) if self.dedupe_on else gdf[HASH_COLUMN]
            dup = keys.duplicated().to_numpy() | _seen(keys, self.seen_keys)
            self.seen_keys.update(keys[~dup])
            if dup.any():
                stats["duplicates"] = stats.get("duplicates", 0) + int(dup.sum())
                gdf = gdf.loc[~dup]
        if self.id_fields:
            parts = gdf[self.id_fields].astype("string")
            nulls = parts.isna().any(axis=1)
            if nulls.any():
                row = repr(gdf.loc[nulls, self.id_fields].iloc[0].to_dict())
                row = row if len(row) <= 200 else row[:197] + "..."
                raise NormaliseError(
                    f"collection {self.collection!r}: feature_id field(s) {self.id_fields} are "
                    f"null for {int(nulls.sum())} feature(s), e.g. {row}; "
                    "ids must be present (filter with source.where or choose other fields)"
                )
            ids = _joined(gdf, self.id_fields, "-") if len(self.id_fields) > 1 else parts.iloc[:, 0]
        else:
            ids = gdf[HASH_COLUMN].str.slice(0, 16)
        ids = pd.Series(ids, index=gdf.index).astype("string")
        encoded = safe_ids(ids, stats) if self.id_fields else ids
        if encoded is not ids:
            ids = encoded
            if self.id_column in self.id_fields:
                gdf[self.id_column] = ids
        repeated = ids[ids.duplicated().to_numpy() | _seen(ids, self.seen_ids)]
        if len(repeated):
            raise NormaliseError(
                f"collection {self.collection!r}: feature id {repeated.iloc[0]!r} occurs more "
                f"than once ({len(repeated)} repeated id(s)) in field(s) "
                f"{self.id_fields or ['<content hash>']}; "
                "ids must be unique: choose other feature_id.fields or declare `dedupe`"
            )
        self.seen_ids.update(ids)
        if self.id_column not in self.id_fields:
            gdf[self.id_column] = ids
        return gdf
