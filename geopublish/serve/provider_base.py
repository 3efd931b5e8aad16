"""What both feature providers share: parameters, feature documents, output CRS.

A store's provider says how to start a query, run it and fetch one row; this base applies the
request's parameters in one order, refuses what the layer cannot honour with a 400, and turns
rows (declared fields in order, then a geometry blob) into GeoJSON features.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np
import shapely
from flask import g, has_app_context
from pygeoapi.provider.base import (
    BaseProvider,
    ProviderInvalidQueryError,
    ProviderItemNotFoundError,
)

from geopublish import kernels
from geopublish.serve import queryables
from geopublish.serve.request import RequestError, apply

Row = tuple[Any, ...]


class FeatureProvider(BaseProvider):
    """Base of the GeoPackage and PostGIS providers (``query`` and ``get`` for pygeoapi).

    Subclasses set ``table``, ``id_field`` and ``queryables`` and implement the hooks below.
    """

    #: The store's query errors, answered as 400 with their message.
    query_errors: ClassVar[tuple[type[Exception], ...]] = ()
    table: str
    queryables: list[str] | None

    def new_query(self) -> Any:
        """An empty query with bbox / datetime / equals / cql / order methods."""
        raise NotImplementedError

    def results(
        self, query: Any, offset: int, limit: int, hits: bool
    ) -> tuple[list[Row] | None, int]:
        """The page's rows (None for hits only) and numberMatched."""
        raise NotImplementedError

    def row(self, identifier: str) -> Row | None:
        """One feature's row by id, or None."""
        raise NotImplementedError

    def names(self) -> list[str]:
        """Declared field names, in row order."""
        raise NotImplementedError

    def decode(self, blobs: list[Any]) -> np.ndarray:
        """Shapely geometries from the rows' geometry blobs."""
        raise NotImplementedError

    def present(self, index: int, value: Any) -> Any:
        """A stored value as JSON (hook for stores without a boolean type)."""
        return value

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
        query = self.new_query()
        errors = (*self.query_errors, queryables.NotQueryable, RequestError)
        model = g.get("geopublish_request") if has_app_context() else None
        try:
            if model is not None and model.collection == self.table:
                # The request model parsed and checked the request once; pygeoapi moved the
                # bbox and the filter's geometries into the storage CRS.
                apply(query, dataclasses.replace(model, filter=filterq), self.time_field, bbox)
            else:
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
        except errors as exc:
            raise ProviderInvalidQueryError(user_msg=str(exc)) from exc
        rows, matched = self.results(query, offset, limit, resulttype == "hits")
        features = (
            []
            if rows is None
            else self._features(rows, select_properties, skip_geometry, crs_transform_spec)
        )
        return {
            "type": "FeatureCollection",
            "features": features,
            "numberMatched": matched,
            "numberReturned": len(features),
        }

    def get(self, identifier: str, **kwargs: Any) -> dict[str, Any]:
        """One feature by id; 404 when absent."""
        row = self.row(identifier)
        if row is None:
            raise ProviderItemNotFoundError(
                user_msg=f"no feature {identifier!r} in collection {self.table!r}"
            )
        return self._features([row], None, False, kwargs.get("crs_transform_spec"))[0]

    def _features(
        self, rows: list[Row], select: list[str] | None, skip_geometry: bool, crs_spec: Any
    ) -> list[dict[str, Any]]:
        geoms: list[Any] = [None] * len(rows)
        if not skip_geometry and rows:
            array = self.decode([r[-1] for r in rows])
            if crs_spec is not None:  # one request's page: no threads on the request path
                array = kernels.transform(
                    array,
                    kernels.transformer(
                        crs_spec.source_crs_wkt, crs_spec.target_crs_wkt, crs_spec.always_xy
                    ),
                )
            geoms = [json.loads(t) if t is not None else None for t in shapely.to_geojson(array)]
        return documents(rows, geoms, self.names(), self.id_field, select, self.present)


def documents(
    rows: list[Row],
    geoms: list[Any],
    names: list[str],
    id_field: str,
    select: list[str] | None,
    present: Callable[[int, Any], Any],
) -> list[dict[str, Any]]:
    """GeoJSON features of ``rows`` (declared fields in ``names`` order, then the geometry).

    ``geoms`` holds each row's GeoJSON geometry (or None), ``select`` the properties to keep
    (all when empty) and ``present`` turns a stored value into its JSON value.
    """
    keep = [i for i, n in enumerate(names) if not select or n in select]
    id_index = names.index(id_field)
    return [
        {
            "type": "Feature",
            "id": row[id_index],
            "geometry": geom,
            "properties": {names[i]: present(i, row[i]) for i in keep},
        }
        for row, geom in zip(rows, geoms, strict=True)
    ]
