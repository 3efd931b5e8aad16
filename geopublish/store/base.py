"""The store interface: stage a layer, then publish it atomically as a numbered version.

Every implementation (GeoPackage files, PostGIS tables, raster files) keeps numbered versions
per collection: a staging copy nobody serves, ``publish`` swapping it in as one atomic step,
``rollback`` pointing the collection back at a kept version, ``prune`` dropping versions beyond
the kept number once the change set of a publication is recorded, ``drop`` removing a version
that was never served (the ledger's recovery of a run killed before its swap). Each version is
described by a :class:`~geopublish.model.PublishedLayer` the store writes beside it.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import pyarrow as pa

from geopublish import kernels
from geopublish.errors import StoreError
from geopublish.model import ARROW_TYPES, WKB_COLUMN, PublishedLayer


def scan_schema(schema: LayerSchema) -> pa.Schema:
    """Arrow schema of :meth:`FeatureStore.scan`: declared fields, then WKB ``geom``."""
    fields = [pa.field(n, ARROW_TYPES[t]) for n, t in schema.fields.items()]
    fields.append(pa.field("geom", pa.binary(), metadata={"ARROW:extension:name": "geoarrow.wkb"}))
    return pa.schema(fields)


def wkb_column(gdf: gpd.GeoDataFrame) -> Any:
    """The batch's geometries as 2D WKB: the ids step's column, else encoded now."""
    if WKB_COLUMN in gdf.columns:
        return gdf[WKB_COLUMN].to_numpy()
    return kernels.to_wkb(gdf.geometry.to_numpy())


@dataclass(frozen=True)
class LayerSchema:
    """What the store needs to create a layer before the first batch arrives."""

    collection: str
    fields: dict[str, str]
    geometry_type: str
    storage_crs: str
    id_column: str


@dataclass(frozen=True)
class Partition:
    """Rows of a version whose ``column`` holds one of ``values`` (e.g. some publishers)."""

    column: str
    values: tuple[str, ...]


@dataclass
class Staged:
    """A fully written staging copy, not yet served."""

    collection: str
    location: str
    schema: LayerSchema | None = None
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


class Store(ABC):
    """Numbered versions of collections and the atomic swap between them."""

    kind: str
    keep: int

    @abstractmethod
    def publish(self, staged: Staged, layer: PublishedLayer) -> PublishedLayer:
        """Index the staging copy, record ``layer`` and swap it in atomically (no pruning)."""

    @abstractmethod
    def discard(self, staged: Staged) -> None:
        """Drop a staging copy that will not be published."""

    @abstractmethod
    def current(self, collection: str) -> PublishedLayer | None:
        """The served version, if any."""

    def published(self, collection: str) -> PublishedLayer:
        """The current version; StoreError when the collection has never been built."""
        version = self.current(collection)
        if version is None:
            raise StoreError(f"collection {collection!r} has not been built yet")
        return version

    @abstractmethod
    def versions(self, collection: str) -> list[PublishedLayer]:
        """Kept versions, oldest first."""

    def version(self, collection: str, number: int) -> PublishedLayer | None:
        """One kept version, or None."""
        return next((v for v in self.versions(collection) if v.version == number), None)

    @abstractmethod
    def rollback(self, collection: str, number: int) -> PublishedLayer:
        """Serve kept version ``number`` again."""

    @abstractmethod
    def drop(self, collection: str, number: int) -> None:
        """Remove kept version ``number``; never the served one."""

    def prune(self, collection: str) -> list[int]:
        """Drop versions beyond the newest ``keep`` (never the served one); return their numbers."""
        kept = self.versions(collection)
        dropped = []
        for old in kept[: max(0, len(kept) - self.keep)]:
            if not old.current:
                self.drop(collection, old.version)
                dropped.append(old.version)
        return dropped

    @abstractmethod
    def hashes(
        self, collection: str, number: int | None = None, where: Partition | None = None
    ) -> dict[str, str]:
        """Feature id -> content hash of a version (the current one by default).

        With ``where``, only the rows of those partitions (a change set computed on them).
        """

    @abstractmethod
    def cleanup(self, collection: str) -> list[str]:
        """Remove staging leftovers of killed builds; return what was removed."""

    def _kept(self, collection: str, number: int) -> PublishedLayer:
        found = self.version(collection, number)
        if found is None:
            kept = [v.version for v in self.versions(collection)]
            raise StoreError(
                f"collection {collection!r}: version {number} is not kept; kept: {kept}"
            )
        return found


class FeatureStore(Store):
    """A store of feature layers, loaded from batches."""

    @abstractmethod
    def load(self, schema: LayerSchema, batches: Iterator[gpd.GeoDataFrame]) -> Staged:
        """Write every batch into a new staging copy."""

    @abstractmethod
    def derive(
        self,
        schema: LayerSchema,
        base: PublishedLayer,
        replaced: Partition,
        batches: Iterator[gpd.GeoDataFrame],
        kept_bounds: tuple[float, float, float, float] | None = None,
    ) -> Staged:
        """A staging copy of version ``base`` whose ``replaced`` rows are ``batches`` instead.

        ``base`` is never modified; the copy is published like a loaded one, a complete version
        of its own. ``count`` is the copy's; ``bounds`` covers ``kept_bounds`` (the extent of
        the rows kept, which the caller knows exactly) and the new rows.
        """

    @abstractmethod
    def read(self, collection: str) -> gpd.GeoDataFrame:
        """The whole current layer (inputs of derived layers)."""

    @abstractmethod
    def scan(
        self, staged: Staged, batch_size: int = 5000, where: Partition | None = None
    ) -> pa.RecordBatchReader:
        """Stream a staging copy as Arrow batches: declared fields, then ``geom`` as WKB.

        Bounded memory (one batch at a time), in load order; what downloads are made from
        before the swap. With ``where``, only the rows of those partitions.
        """
