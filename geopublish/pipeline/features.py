"""Feature layers: frames from any source kind -> conform -> CRS -> geometry -> ids -> store."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator

import geopandas as gpd
import pandas as pd
import pyproj
import shapely

from geopublish import kernels, parallel
from geopublish.catalog.models import CollectionSpec
from geopublish.errors import NormaliseError
from geopublish.faults import crash_point
from geopublish.model import PublishedLayer
from geopublish.normalise import crs as crsmod
from geopublish.normalise.conform import Conformer
from geopublish.normalise.geometry import clean, drop_non_finite, output_type
from geopublish.normalise.ids import Identifier
from geopublish.normalise.privacy import Treatment, k_anonymise
from geopublish.pipeline import federation_parts
from geopublish.pipeline import privacy as privacymod
from geopublish.pipeline.detect import Detection
from geopublish.pipeline.federated import federated_plan
from geopublish.pipeline.federation_parts import Partitioned
from geopublish.pipeline.kinds import Frames, derived_plan, gtfs_plan, vector_plan
from geopublish.pipeline.report import Report
from geopublish.settings import Settings
from geopublish.store import FeatureStore, LayerSchema, Partition, Staged
from geopublish.validate import enforce, evaluate

Progress = Callable[[int], None]


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
    observed = (observed_geometry or "").replace(" Z", "")
    if spec.privacy is not None:
        fields = privacymod.schema_fields(spec.privacy, fields)
        observed = privacymod.geometry_family(spec.privacy) or observed
    ids = spec.feature_id.fields
    id_column = ids[0] if len(ids) == 1 else "id"
    if id_column not in fields:
        fields = {id_column: "string", **fields}
    geometry = output_type(spec.geometry, observed)
    if spec.privacy is not None and privacymod.geometry_family(spec.privacy):
        # A generalised location has the family of its treatment, whatever was read.
        multi = spec.geometry is None or geometry.startswith("Multi")
        geometry = output_type(None, observed) if multi else observed
    return LayerSchema(spec.cid, fields, geometry, spec.crs.storage, id_column)


def stage_features(
    spec: CollectionSpec,
    store: FeatureStore,
    schema: LayerSchema,
    frames: Frames,
    stats: dict,
    progress: Progress,
    treatment: Treatment | None = None,
    partitioned: Partitioned | None = None,
) -> Staged:
    """Normalise every frame and stream the result into a staging copy.

    A ``treatment`` (the spec's privacy section) drops its columns as read and treats each
    cleaned batch before ids, hashes and dedupe keys exist; k-anonymity needs the whole
    layer, so with it the treated batches are held until the last one is read. A
    ``partitioned`` layer counts what each partition is given, and an incremental choice
    makes the store derive the copy from the served version instead of loading it whole.
    """
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
            crash_point("read")
            if override is not None:
                raw = raw.set_crs(override, allow_override=True)
            if treatment is not None:
                raw = treatment.drop(raw, stats)
            if raw.crs is None:
                raise NormaliseError(
                    f"collection {cid!r}: {origin!r} declares no CRS; "
                    "set `source.crs` in the spec (e.g. EPSG:2154)"
                )
            frame = conformer.apply(raw, origin, stats)
            gdf = gpd.GeoDataFrame(frame, geometry="geometry", crs=raw.crs)
            gdf = drop_non_finite(gdf, stats)
            geoms = gdf.geometry.to_numpy()
            bounds = tuple(shapely.total_bounds(geoms)) if len(geoms) else (math.nan,) * 4
            if all(math.isfinite(v) for v in bounds):
                crsmod.check_coordinates(
                    bounds,
                    raw.crs,
                    collection=cid,
                    origin=origin,
                    region=spec.checks.bbox,
                    redact=treatment is not None,
                )
            gdf = crsmod.to_storage(gdf, storage)
            gdf = clean(gdf, spec.geometry, stats)
            if treatment is not None:
                gdf = treatment.apply(gdf, stats, multi=schema.geometry_type.startswith("Multi"))
            yield gdf, len(raw)

    def treated() -> Iterator[tuple[gpd.GeoDataFrame, int]]:
        rule = spec.privacy.k_anonymity if spec.privacy else None
        if rule is None:
            yield from normalised()
            return
        held = list(normalised())
        frames = [g for g, _ in held]
        layer = gpd.GeoDataFrame(pd.concat(frames), crs=frames[0].crs) if frames else None
        if layer is not None:
            yield k_anonymise(layer, rule, stats), sum(n for _, n in held)

    def identified() -> Iterator[gpd.GeoDataFrame]:
        # Ids, dedupe and hashes keep state across batches: one stage, batches in order.
        for gdf, read in parallel.prefetch(treated()):
            gdf = identifier.apply(gdf, stats)
            if partitioned is not None:
                federation_parts.cover(partitioned.written, gdf)
            progress(read)
            yield gdf

    # Four stages, each one batch ahead of the next in its own thread: read, normalise,
    # identify, and the store writing in this thread (see geopublish/parallel.py).
    batches = parallel.prefetch(identified())
    choice = partitioned.choice if partitioned is not None else None
    if choice is not None and choice.mode == "incremental":
        assert choice.base is not None
        replaced = Partition(federation_parts.COLUMN, tuple(choice.replaced))
        return store.derive(schema, choice.base, replaced, batches, choice.kept_bounds)
    return store.load(schema, batches)


def lonlat_bbox(bounds: tuple[float, ...] | None, storage: str) -> list[float] | None:
    """Bounds in the storage CRS as a CRS84 bbox."""
    if bounds is None:
        return None
    to84 = kernels.transformer(pyproj.CRS(storage).to_wkt(), pyproj.CRS("OGC:CRS84").to_wkt())
    minx, miny, maxx, maxy = bounds
    return [round(v, 7) for v in to84.transform_bounds(minx, miny, maxx, maxy, densify_pts=11)]


def build_features(
    spec: CollectionSpec,
    settings: Settings,
    store: FeatureStore,
    detection: Detection,
    report: Report,
    force: bool,
    progress: Progress,
    on_total: Progress,
) -> tuple[Staged, PublishedLayer]:
    """Stage the layer and pass its gates; the caller swaps it in (or discards it)."""
    kind = spec.source.kind
    if kind == "gtfs":
        plan = gtfs_plan(spec, detection.inputs, report.stats)
    elif kind == "derived":
        plan = derived_plan(spec, store, detection.inputs)
    elif kind == "federated":
        plan = federated_plan(spec, settings, report.data, store.current(spec.cid))
    else:
        plan = vector_plan(spec, settings, detection.inputs, report.stats)
    on_total(plan.total)
    report.data.update(plan.notes)
    schema = plan_schema(spec, plan.columns, plan.geometry)
    treatment = privacymod.treatment(spec, settings)
    staged = stage_features(
        spec, store, schema, plan.frames, report.stats, progress, treatment, plan.partitioned
    )
    if spec.privacy is not None:
        counts = report.stats.pop("privacy", {})
        report.data["privacy"] = privacymod.summary(spec.privacy, counts)
    try:
        layer = _gate(spec, store, staged, report, force)
    except BaseException:
        store.discard(staged)
        raise
    if plan.partitioned is not None:
        layer = layer.model_copy(update={"partitions": plan.partitioned.record(staged.count)})
    return staged, layer


def _gate(
    spec: CollectionSpec, store: FeatureStore, staged: Staged, report: Report, force: bool
) -> PublishedLayer:
    cid = spec.cid
    stats = report.stats
    stats["written"] = staged.count
    assert staged.schema is not None
    bbox84 = lonlat_bbox(staged.bounds, spec.crs.storage)
    previous = store.current(cid)
    findings = evaluate(
        spec.checks,
        count=staged.count,
        bbox_crs84=bbox84,
        fields=staged.schema.fields,
        stats=stats,
        previous=previous,
    )
    report.data["gates"] = [f.as_dict() for f in findings]
    enforce(cid, findings, force=force)
    report.data["bbox"] = list(staged.bounds) if staged.bounds else None
    report.data["bbox_crs84"] = bbox84
    return PublishedLayer(
        collection=cid,
        build_id=report.data["build_id"],
        built_at=report.data["started"],
        storage_crs=spec.crs.storage,
        count=staged.count,
        bbox=report.data["bbox"],
        bbox_crs84=bbox84,
        fields=staged.schema.fields,
        id_column=staged.schema.id_column,
        geometry_type=staged.schema.geometry_type,
        source_sha256=report.data["source"]["fingerprint"]["sha256"],
        source_http=report.data["source"].get("http", []),
    )
