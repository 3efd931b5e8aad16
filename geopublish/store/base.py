"""The store interface: stage a layer from batches, then publish it atomically.

Both implementations (GeoPackage files, PostGIS tables) keep numbered versions per collection:
``load`` writes a staging copy nobody serves, ``publish`` swaps it in as one atomic step and
prunes old versions, ``rollback`` points the collection back at a kept version.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd

from geopublish import parallel
from geopublish.errors import StoreError

META_TABLE = "geopublish_meta"
HASH_COLUMN = "geopublish_hash"
# The geometry as stores write it (2D little-endian WKB), encoded once per batch by the ids step.
WKB_COLUMN = "geopublish_wkb"


def wkb_column(gdf: gpd.GeoDataFrame) -> Any:
    """The batch's geometries as 2D WKB: the ids step's column, else encoded now."""
    if WKB_COLUMN in gdf.columns:
        return gdf[WKB_COLUMN].to_numpy()
    return parallel.to_wkb(gdf.geometry.to_numpy())


@dataclass(frozen=True)
class LayerSchema:
    """What the store needs to create a layer before the first batch arrives."""

    collection: str
    fields: dict[str, str]
    geometry_type: str
    storage_crs: str
    id_column: str


@dataclass
class Staged:
    """A fully written staging copy, not yet served."""

    schema: LayerSchema
    location: str
    count: int = 0
    bounds: tuple[float, float, float, float] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def cover(self, gdf: gpd.GeoDataFrame) -> None:
        """Grow ``bounds`` to cover a written batch (batches without a geometry change nothing)."""
        minx, miny, maxx, maxy = (float(v) for v in gdf.total_bounds)
        if not all(map(math.isfinite, (minx, miny, maxx, maxy))):
            return
        if self.bounds is not None:
            minx, miny = min(minx, self.bounds[0]), min(miny, self.bounds[1])
            maxx, maxy = max(maxx, self.bounds[2]), max(maxy, self.bounds[3])
        self.bounds = (minx, miny, maxx, maxy)


@dataclass(frozen=True)
class Version:
    """One published version of a collection."""

    collection: str
    number: int
    location: str
    meta: dict[str, Any]

    @property
    def current(self) -> bool:
        """Whether this version is the one served."""
        return bool(self.meta.get("current"))


class Store(ABC):
    """Where built layers live and how they are swapped in."""

    kind: str

    @abstractmethod
    def load(self, schema: LayerSchema, batches: Iterator[gpd.GeoDataFrame]) -> Staged:
        """Write every batch into a new staging copy."""

    @abstractmethod
    def publish(self, staged: Staged, meta: dict[str, Any]) -> Version:
        """Index the staging copy, record ``meta`` and swap it in atomically."""

    @abstractmethod
    def discard(self, staged: Staged) -> None:
        """Drop a staging copy that will not be published."""

    @abstractmethod
    def current(self, collection: str) -> Version | None:
        """The served version, if any."""

    def published(self, collection: str) -> Version:
        """The current version; StoreError when the collection has never been built."""
        version = self.current(collection)
        if version is None:
            raise StoreError(f"collection {collection!r} has not been built yet")
        return version

    @abstractmethod
    def versions(self, collection: str) -> list[Version]:
        """Kept versions, oldest first."""

    @abstractmethod
    def rollback(self, collection: str, number: int) -> Version:
        """Serve kept version ``number`` again."""

    @abstractmethod
    def hashes(self, collection: str, number: int | None = None) -> dict[str, str]:
        """Feature id -> content hash of a version (the current one by default)."""

    @abstractmethod
    def read(self, collection: str) -> gpd.GeoDataFrame:
        """The whole current layer (inputs of derived layers)."""

    @abstractmethod
    def provider(self, collection: str) -> dict[str, Any]:
        """The pygeoapi provider block serving the current version."""

    @abstractmethod
    def cleanup(self, collection: str) -> list[str]:
        """Remove staging leftovers of killed builds; return what was removed."""
