"""Where each source kind's frames come from: files, GTFS feeds, or built collections."""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Iterator
from typing import Any

import geopandas as gpd

from geopublish.catalog.models import CollectionSpec, Part, metric_crs
from geopublish.errors import CatalogError, SourceError
from geopublish.normalise.boundaries import derive_departements, derive_epci, simplify_coverage
from geopublish.normalise.gtfs import derive_routes, derive_stops, read_feed
from geopublish.pipeline.federation_parts import Partitioned
from geopublish.settings import Settings
from geopublish.source import Resolved, gdal_messages
from geopublish.source.prepare import prepare_part
from geopublish.source.vector import iter_batches, layer_info
from geopublish.store import FeatureStore

LOG = logging.getLogger("geopublish.pipeline")
Inputs = list[tuple[Part, Resolved]]
Frames = Iterator[tuple[str, gpd.GeoDataFrame]]


class Plan:
    """A kind's inputs: resolved files, columns for the schema, and the frames themselves."""

    def __init__(
        self,
        parts: list[Resolved],
        columns: dict[str, str],
        geometry: str | None,
        total: int,
        frames: Frames,
        notes: dict[str, Any] | None = None,
    ) -> None:
        self.parts = parts
        self.columns = columns
        self.geometry = geometry
        self.total = total
        self.frames = frames
        self.notes = notes or {}
        self.partitioned: Partitioned | None = None  # federated layers: see federation_parts


def vector_plan(spec: CollectionSpec, settings: Settings, inputs: Inputs, stats: dict) -> Plan:
    """Files read in batches."""
    cid = spec.cid
    parts = [resolved for _, resolved in inputs]
    # Transcoded copies of CSVs live here for the build only.
    tmp = settings.var_dir / "tmp" / f"{cid}.{os.getpid()}"
    try:
        prepared = [prepare_part(p, spec.source, cid, tmp) for p in parts]
        infos = [layer_info(p.part, p.source, cid, p.options) for p in prepared]
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    total = sum(max(int(i.get("features") or 0), 0) for i in infos)
    first = infos[0]
    columns = {str(n): str(t) for n, t in zip(first["fields"], first["dtypes"], strict=True)}

    def frames() -> Frames:
        try:
            for p, info in zip(prepared, infos, strict=True):
                start = gdal_messages.offset()
                for gdf in iter_batches(
                    p.part, p.source, cid, settings.batch_size, stats, p.options
                ):
                    yield p.part.origin, gdf
                lines = gdal_messages.since(start)
                read = stats.get("records", {}).get(p.part.origin, 0)
                declared = int(info.get("features") or -1)
                # A short read is the error (GDAL's line is its cause); else GDAL's lines are
                # warnings, logged and kept in the report.
                check_records(cid, p.part.origin, read, declared, lines[0] if lines else None)
                for line in lines:
                    LOG.warning("%s: %s: GDAL: %s", cid, p.part.origin, line)
                if lines:
                    stats.setdefault("gdal_messages", {})[p.part.origin] = lines[:5]
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    encodings = {p.part.origin: p.encoding for p in prepared if p.encoding}
    notes = {"encodings": encodings} if encodings else {}
    return Plan(parts, columns, first.get("geometry_type"), total, frames(), notes)


def check_records(
    collection: str, origin: str, read: int, declared: int, cause: str | None = None
) -> None:
    """Fewer records read than the driver declares: the file is truncated or corrupt."""
    if declared >= 0 and read < declared:
        why = f" (GDAL: {cause[:200]})" if cause else ""
        raise SourceError(
            f"collection {collection!r}: {origin!r}: read {read} of the {declared} records "
            f"the file declares{why}; it is truncated or corrupt (export or fetch it again)"
        )


def _network(spec: CollectionSpec, part: Part, resolved: Resolved) -> str:
    assert spec.source.gtfs is not None
    names = spec.source.gtfs.networks
    for key in (part.path, part.url):
        if key and key in names:
            return names[key]
    return resolved.file.stem


def gtfs_plan(spec: CollectionSpec, inputs: Inputs, stats: dict) -> Plan:
    """One derived GTFS layer per feed, merged; each feed's report kept."""
    assert spec.source.gtfs is not None
    cid, kind = spec.cid, spec.source.gtfs.layer
    derive = derive_stops if kind == "stops" else derive_routes
    resolved, layers, reports = [], [], {}
    for part, feed_file in inputs:  # each a zip or a folder
        network = _network(spec, part, feed_file)
        feed, feed_report = read_feed(feed_file.file, collection=cid, network=network)
        gdf, layer_report = derive(feed, collection=cid, network=network)
        reports[network] = {"feed": feed_report, "layer": layer_report}
        resolved.append(feed_file)
        layers.append((feed_file.origin, gdf))
    columns = {n: str(t) for n, t in layers[0][1].dtypes.items()}
    total = sum(len(g) for _, g in layers)
    return Plan(
        resolved,
        columns,
        layers[0][1].geom_type.iloc[0] if total else None,
        total,
        iter(layers),
        {"gtfs": reports},
    )


def derived_plan(spec: CollectionSpec, store: FeatureStore, inputs: Inputs) -> Plan:
    """A layer computed from another built collection."""
    derived = spec.source.derived
    assert derived is not None
    cid = spec.cid
    source = store.read(derived.from_collection)
    refs = dict(zip(spec.source.reference, (r for _, r in inputs), strict=True))
    notes: dict[str, Any] = {}
    if derived.operation == "epci":
        missing = sorted({"epci", "communes"} - set(refs))
        if missing:
            raise CatalogError(f"collection {cid!r}: source.reference needs {missing}")
        gdf, notes["derivation"] = derive_epci(
            source, refs["epci"].file, refs["communes"].file, collection=cid
        )
    elif derived.operation == "departements":
        reference = store.read(derived.reference) if derived.reference else None
        gdf, notes["derivation"] = derive_departements(source, collection=cid, reference=reference)
    elif derived.operation == "simplify":
        if derived.tolerance is None:
            raise CatalogError(f"collection {cid!r}: source.derived.tolerance is required")
        gdf, notes["derivation"] = simplify_coverage(
            source.to_crs(metric_crs(spec.crs.storage)),
            derived.tolerance,
            collection=cid,
            gap_width=derived.gap_width,
            id_field=next((f for f in spec.feature_id.fields if f in source.columns), None),
        )
    else:
        raise CatalogError(
            f"collection {cid!r}: operation {derived.operation!r} makes a raster, not features"
        )
    gdf = gpd.GeoDataFrame(gdf)
    columns = {n: str(t) for n, t in gdf.dtypes.items()}
    origin = f"collection {derived.from_collection}"
    return Plan(
        list(refs.values()),
        columns,
        gdf.geom_type.iloc[0] if len(gdf) else None,
        len(gdf),
        iter([(origin, gdf)]),
        notes,
    )
