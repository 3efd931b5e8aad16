"""geopublish's pygeoapi feature provider for the GeoPackage store.

pygeoapi builds a provider per request, so the expensive parts live in :mod:`layer`, cached per
published file: a version file never changes once published, and a new version is a new path
behind the ``current.gpkg`` symlink, seen at the next request.
"""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np
import pyproj
import shapely
from pygeoapi.provider.base import (
    BaseProvider,
    ProviderInvalidQueryError,
    ProviderItemNotFoundError,
)

from geopublish.serve import queryables
from geopublish.serve.layer import Layer, open_layer
from geopublish.serve.sql import Query, QueryError


class GeoPackageProvider(BaseProvider):
    """OGC API Features over a published GeoPackage: R-tree bbox, paging, filters, CRS."""

    def __init__(self, provider_def: dict[str, Any]) -> None:
        super().__init__(provider_def)
        self.table = provider_def.get("table") or provider_def["name"]
        self.layer: Layer = open_layer(os.path.realpath(self.data), self.table)
        self.id_field = self.layer.id_column
        self._fields = self.layer.json_fields()
        self.queryables = queryables.declared(provider_def)

    def get_fields(self) -> dict[str, dict[str, str]]:
        """Field names and JSON Schema types, from the build's metadata."""
        return self.layer.json_fields()

    def query(
        self,
        offset: int = 0,
        limit: int = 10,
        resulttype: str = "results",
        bbox: list[float] | None = None,
        datetime_: str | None = None,
        properties: list[tuple[str, str]] | None = None,
        sortby: list[dict[str, str]] | None = None,
        select_properties: list[str] | None = None,
        skip_geometry: bool = False,
        q: str | None = None,
        filterq: Any = None,
        crs_transform_spec: Any = None,
        **kwargs: Any,
    ) -> dict[str, Any]:
        """Features matching every given parameter, paged in a stable order."""
        if q:
            raise ProviderInvalidQueryError(user_msg="q (free-text search) is not supported")
        query = Query(self.layer)
        try:
            if bbox:
                query.bbox(bbox)
            if datetime_:
                query.datetime(self.time_field, datetime_)
            for name, value in properties or []:
                query.equals(name, value)
            if filterq is not None:
                query.cql(filterq)
            for sort in sortby or []:
                query.order(sort["property"], sort["order"] == "-")
            queryables.check(self.table, self.queryables, [n for n, _ in properties or []], filterq)
        except (QueryError, queryables.NotQueryable) as exc:
            raise ProviderInvalidQueryError(user_msg=str(exc)) from exc
        out: dict[str, Any] = {"type": "FeatureCollection", "features": []}
        rows = None if resulttype == "hits" else query.page(offset, limit)
        matched = query.matched(offset, limit, rows)
        if rows is not None:
            out["features"] = self._features(
                rows, select_properties, skip_geometry, crs_transform_spec
            )
        out["numberMatched"] = matched
        out["numberReturned"] = len(out["features"])
        return out

    def get(self, identifier: str, **kwargs: Any) -> dict[str, Any]:
        """One feature by id; 404 when absent."""
        row = self.layer.by_id(identifier)
        if row is None:
            raise ProviderItemNotFoundError(
                user_msg=f"no feature {identifier!r} in collection {self.table!r}"
            )
        return self._features([row], None, False, kwargs.get("crs_transform_spec"))[0]

    def _features(
        self,
        rows: list[tuple[Any, ...]],
        select: list[str] | None,
        skip_geometry: bool,
        crs_spec: Any,
    ) -> list[dict[str, Any]]:
        layer = self.layer
        names = layer.field_names
        keep = [i for i, n in enumerate(names) if not select or n in select]
        geoms: list[Any] = [None] * len(rows)
        if not skip_geometry and rows:
            blobs = [r[-1] for r in rows]
            geom_arr = layer.decode(blobs)
            if crs_spec is not None:
                geom_arr = _transform(geom_arr, crs_spec)
            texts = shapely.to_geojson(geom_arr)
            geoms = [json.loads(t) if t is not None else None for t in texts]
        id_index = names.index(layer.id_column)
        out = []
        for row, geom in zip(rows, geoms, strict=True):
            props = {names[i]: layer.present(i, row[i]) for i in keep}
            out.append(
                {
                    "type": "Feature",
                    "id": row[id_index],
                    "geometry": geom,
                    "properties": props,
                }
            )
        return out


_TRANSFORMERS: dict[tuple[str, str, bool], pyproj.Transformer] = {}


def _transform(geoms: np.ndarray, spec: Any) -> np.ndarray:
    key = (spec.source_crs_wkt, spec.target_crs_wkt, spec.always_xy)
    if key not in _TRANSFORMERS:
        _TRANSFORMERS[key] = pyproj.Transformer.from_crs(
            pyproj.CRS.from_wkt(spec.source_crs_wkt),
            pyproj.CRS.from_wkt(spec.target_crs_wkt),
            always_xy=spec.always_xy,
        )
    transformer = _TRANSFORMERS[key]

    def apply(coords: np.ndarray) -> np.ndarray:
        x, y = transformer.transform(coords[:, 0], coords[:, 1])
        return np.column_stack([x, y])

    return shapely.transform(geoms, apply)
