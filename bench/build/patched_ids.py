"""Run the geopublish CLI with the proposed linear-time ``Identifier.apply``, to measure it.

    .venv/bin/python bench/build/patched_ids.py -q build polygons_1000000

Same environment as ``geopublish``; only ``geopublish.normalise.ids.Identifier.apply`` is
replaced. The shipped version tests membership with ``Series.isin(set)``, which turns the
whole set of ids seen so far into an array at every batch (quadratic in the layer size), and
builds dedupe keys with ``DataFrame.agg(str.join, axis=1)``, a Python call per row. This one
does the same checks with per-batch set look-ups and vectorised string concatenation.
"""

from __future__ import annotations

import sys

import geopandas as gpd
import numpy as np
import pandas as pd

from geopublish.errors import NormaliseError
from geopublish.normalise import ids as idsmod
from geopublish.normalise.ids import HASH_COLUMN, Identifier, content_hashes


def _joined(frame: pd.DataFrame, sep: str) -> pd.Series:
    first = frame.iloc[:, 0]
    if frame.shape[1] == 1:
        return first
    return first.str.cat([frame[c] for c in frame.columns[1:]], sep=sep)


def _member(values: pd.Series, seen: set[str]) -> np.ndarray:
    return np.fromiter((v in seen for v in values.tolist()), dtype=bool, count=len(values))


def apply(self: Identifier, gdf: gpd.GeoDataFrame, stats: dict) -> gpd.GeoDataFrame:
    """Same contract as the shipped ``Identifier.apply``, linear in the batch size."""
    fields = [c for c in gdf.columns if c != gdf.geometry.name and c != HASH_COLUMN]
    gdf = gdf.copy()
    gdf[HASH_COLUMN] = content_hashes(gdf, fields)
    if self.dedupe_on is not None:
        keys = (
            _joined(gdf[self.dedupe_on].astype("string").fillna("\x00"), "\x1f")
            if self.dedupe_on
            else gdf[HASH_COLUMN]
        )
        dup = keys.duplicated().to_numpy() | _member(keys, self.seen_keys)
        self.seen_keys.update(keys[~dup].tolist())
        if dup.any():
            stats["duplicates"] = stats.get("duplicates", 0) + int(dup.sum())
            gdf = gdf.loc[~dup]
    if self.id_fields:
        parts = gdf[self.id_fields].astype("string")
        nulls = parts.isna().any(axis=1)
        if nulls.any():
            row = gdf.loc[nulls].iloc[0].drop("geometry").to_dict()
            raise NormaliseError(
                f"collection {self.collection!r}: feature_id field(s) {self.id_fields} are "
                f"null for {int(nulls.sum())} feature(s), e.g. {row!r}; "
                "ids must be present (filter with source.where or choose other fields)"
            )
        ids = _joined(parts, "-")
    else:
        ids = gdf[HASH_COLUMN].str.slice(0, 16)
    ids = pd.Series(ids, index=gdf.index).astype("string")
    repeated = ids[ids.duplicated().to_numpy() | _member(ids, self.seen_ids)]
    if len(repeated):
        raise NormaliseError(
            f"collection {self.collection!r}: feature id {repeated.iloc[0]!r} occurs more "
            f"than once ({len(repeated)} repeated id(s)) in field(s) "
            f"{self.id_fields or ['<content hash>']}; "
            "ids must be unique: choose other feature_id.fields or declare `dedupe`"
        )
    self.seen_ids.update(ids.tolist())
    if self.id_column not in self.id_fields:
        gdf[self.id_column] = ids
    return gdf


if __name__ == "__main__":
    idsmod.Identifier.apply = apply  # type: ignore[method-assign]
    from geopublish.cli.main import main

    sys.argv = ["geopublish", *sys.argv[1:]]
    sys.exit(main())
