"""geopublish's pygeoapi feature provider for the GeoPackage store.

pygeoapi builds a provider per request, so the expensive parts live in :mod:`layer`, cached per
published file: a version file never changes once published, and a new version is a new path
behind the ``current.gpkg`` symlink, seen at the next request.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from geopublish.serve import queryables
from geopublish.serve.layer import Layer, open_layer
from geopublish.serve.provider_base import FeatureProvider, Row
from geopublish.serve.sql import Query, QueryError


class GeoPackageProvider(FeatureProvider):
    """OGC API Features over a published GeoPackage: R-tree bbox, paging, filters, CRS."""

    query_errors = (QueryError,)

    def __init__(self, provider_def: dict[str, Any], path: str | None = None) -> None:
        super().__init__(provider_def)
        self.table = provider_def.get("table") or provider_def["name"]
        # ``path``: the version file the request already resolved (the same version throughout).
        self.layer: Layer = open_layer(path or os.path.realpath(self.data), self.table)
        self.id_field = self.layer.id_column
        self._fields = self.layer.json_fields()
        self.queryables = queryables.declared(provider_def)

    def get_fields(self) -> dict[str, dict[str, str]]:
        """Field names and JSON Schema types, from the build's metadata."""
        return self.layer.json_fields()

    def new_query(self) -> Query:
        """An empty query on this layer."""
        return Query(self.layer)

    def results(
        self, query: Query, offset: int, limit: int, hits: bool
    ) -> tuple[list[Row] | None, int]:
        """The page's rows (None for hits only) and numberMatched."""
        rows = None if hits else query.page(offset, limit)
        return rows, query.matched(offset, limit, rows)

    def row(self, identifier: str) -> Row | None:
        """One feature's row by id, or None."""
        return self.layer.by_id(identifier)

    def names(self) -> list[str]:
        """Declared field names, in row order."""
        return self.layer.field_names

    def decode(self, blobs: list[Any]) -> np.ndarray:
        """Shapely geometries from the rows' geometry blobs."""
        return self.layer.decode(blobs)

    def present(self, index: int, value: Any) -> Any:
        """A stored value as JSON."""
        return self.layer.present(index, value)
