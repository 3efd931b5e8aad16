"""Vector layers: parts -> batches -> conform -> CRS -> geometry -> ids -> store staging."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import geopandas as gpd

from geopublish.catalog.models import CollectionSpec
from geopublish.errors import NormaliseError
from geopublish.normalise import crs as crsmod
from geopublish.normalise.conform import Conformer
from geopublish.normalise.geometry import clean, output_type
from geopublish.normalise.ids import Identifier
from geopublish.settings import Settings
from geopublish.source import Resolved, resolve_part
from geopublish.source.vector import iter_batches, layer_info
from geopublish.store import LayerSchema, Staged, Store

Progress = Callable[[int], None]


def _declared(dtype: str) -> str:
    if dtype.startswith(("int", "uint")):
        return "integer"
    if dtype.startswith("float"):
        return "number"
    if dtype == "bool":
        return "boolean"
    if dtype.startswith("datetime"):
        return "datetime"
    return "string"


def plan_schema(spec: CollectionSpec, first: dict) -> LayerSchema:
    """Stored columns: declared by ``conform`` or inferred from the first part."""
    if spec.conform is not None:
        fields = {f.name: f.type for f in spec.conform.fields}
    else:
        fields = {
            str(name): _declared(str(dtype))
            for name, dtype in zip(first["fields"], first["dtypes"], strict=True)
        }
    ids = spec.feature_id.fields
    id_column = ids[0] if len(ids) == 1 else "id"
    if id_column not in fields:
        fields = {id_column: "string", **fields}
    geometry = output_type(spec.geometry, (first.get("geometry_type") or "").replace(" Z", ""))
    return LayerSchema(spec.cid, fields, geometry, spec.crs.storage, id_column)


def build_vector(
    spec: CollectionSpec, settings: Settings, store: Store, stats: dict, progress: Progress
) -> tuple[Staged, list[Resolved], int]:
    """Stage the layer; return the staging copy, resolved parts and the expected total."""
    cid = spec.cid
    parts = [resolve_part(p, settings, cid) for p in spec.source.parts]
    infos = [layer_info(p, spec.source, cid) for p in parts]
    total = sum(max(int(i.get("features") or 0), 0) for i in infos)
    schema = plan_schema(spec, infos[0])
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
    region = spec.checks.bbox

    def batches() -> Iterator[gpd.GeoDataFrame]:
        for part in parts:
            for raw in iter_batches(part, spec.source, cid, settings.batch_size, stats):
                stats["read"] += len(raw)
                if override is not None:
                    raw = raw.set_crs(override, allow_override=True)
                if raw.crs is None:
                    raise NormaliseError(
                        f"collection {cid!r}: {part.origin!r} declares no CRS; "
                        "set `source.crs` in the spec (e.g. EPSG:2154)"
                    )
                frame = conformer.apply(raw, part.origin, stats)
                gdf = gpd.GeoDataFrame(frame, geometry="geometry", crs=raw.crs)
                present = gdf.geometry[gdf.geometry.notna() & ~gdf.geometry.is_empty]
                if len(present):
                    crsmod.check_coordinates(
                        tuple(present.total_bounds),
                        raw.crs,
                        collection=cid,
                        origin=part.origin,
                        region=region,
                    )
                gdf = crsmod.to_storage(gdf, storage)
                gdf = clean(gdf, spec.geometry, stats)
                gdf = identifier.apply(gdf, stats)
                progress(len(raw))
                yield gdf

    staged = store.load(schema, batches())
    return staged, parts, total
