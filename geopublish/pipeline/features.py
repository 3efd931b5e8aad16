"""Feature layers: frames from any source kind -> conform -> CRS -> geometry -> ids -> store."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator

import geopandas as gpd
import shapely

from geopublish import parallel
from geopublish.catalog.models import CollectionSpec
from geopublish.errors import NormaliseError
from geopublish.normalise import crs as crsmod
from geopublish.normalise.conform import Conformer
from geopublish.normalise.geometry import clean, output_type
from geopublish.normalise.ids import Identifier
from geopublish.store import LayerSchema, Staged, Store

Progress = Callable[[int], None]
Frames = Iterator[tuple[str, gpd.GeoDataFrame]]


def declared_type(dtype: str) -> str:
    """Spec field type of a pandas/pyogrio dtype name."""
    dtype = dtype.lower()
    if dtype.startswith(("int", "uint")):
        return "integer"
    if dtype.startswith("float"):
        return "number"
    if dtype in ("bool", "boolean"):
        return "boolean"
    if dtype.startswith("datetime"):
        return "datetime"
    return "string"


def plan_schema(
    spec: CollectionSpec, columns: dict[str, str], observed_geometry: str | None
) -> LayerSchema:
    """Stored columns: declared by ``conform``, else the source's own (name -> dtype)."""
    fields: dict[str, str]
    if spec.conform is not None:
        fields = {f.name: str(f.type) for f in spec.conform.fields}
    else:
        fields = {n: declared_type(t) for n, t in columns.items() if n != "geometry"}
    ids = spec.feature_id.fields
    id_column = ids[0] if len(ids) == 1 else "id"
    if id_column not in fields:
        fields = {id_column: "string", **fields}
    geometry = output_type(spec.geometry, (observed_geometry or "").replace(" Z", ""))
    return LayerSchema(spec.cid, fields, geometry, spec.crs.storage, id_column)


def stage_features(
    spec: CollectionSpec,
    store: Store,
    schema: LayerSchema,
    frames: Frames,
    stats: dict,
    progress: Progress,
) -> Staged:
    """Normalise every frame and stream the result into a staging copy."""
    cid = spec.cid
    storage = crsmod.parse_crs(spec.crs.storage, collection=cid, where="crs.storage")
    override = (
        crsmod.parse_crs(spec.source.crs, collection=cid, where="source.crs")
        if spec.source.crs
        else None
    )
    conformer = Conformer(spec.conform, spec.source.where, cid)
    identifier = Identifier(
        cid, spec.feature_id.fields, spec.dedupe.fields if spec.dedupe else None
    )

    def normalised() -> Iterator[tuple[gpd.GeoDataFrame, int]]:
        for origin, raw in parallel.prefetch(frames):
            stats["read"] += len(raw)
            if override is not None:
                raw = raw.set_crs(override, allow_override=True)
            if raw.crs is None:
                raise NormaliseError(
                    f"collection {cid!r}: {origin!r} declares no CRS; "
                    "set `source.crs` in the spec (e.g. EPSG:2154)"
                )
            frame = conformer.apply(raw, origin, stats)
            gdf = gpd.GeoDataFrame(frame, geometry="geometry", crs=raw.crs)
            geoms = gdf.geometry.to_numpy()
            bounds = tuple(shapely.total_bounds(geoms)) if len(geoms) else (math.nan,) * 4
            if all(math.isfinite(v) for v in bounds):
                crsmod.check_coordinates(
                    bounds,
                    raw.crs,
                    collection=cid,
                    origin=origin,
                    region=spec.checks.bbox,
                )
            gdf = crsmod.to_storage(gdf, storage)
            yield clean(gdf, spec.geometry, stats), len(raw)

    def identified() -> Iterator[gpd.GeoDataFrame]:
        # Ids, dedupe and hashes keep state across batches: one stage, batches in order.
        for gdf, read in parallel.prefetch(normalised()):
            gdf = identifier.apply(gdf, stats)
            progress(read)
            yield gdf

    # Four stages, each one batch ahead of the next in its own thread: read, normalise,
    # identify, and the store writing in this thread (see geopublish/parallel.py).
    return store.load(schema, parallel.prefetch(identified()))
