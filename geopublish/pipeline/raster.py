"""Raster layers: tiles -> one COG (reprojected, mosaicked), or a hillshade of a served DEM."""

from __future__ import annotations

from pathlib import Path

from geopublish.catalog.models import CollectionSpec
from geopublish.model import PublishedLayer
from geopublish.normalise.raster import build_cog, hillshade
from geopublish.pipeline.detect import Detection
from geopublish.pipeline.report import Report
from geopublish.store import RasterStore, Staged
from geopublish.validate import enforce, evaluate_raster


def build_raster(
    spec: CollectionSpec,
    rasters: RasterStore,
    detection: Detection,
    report: Report,
    force: bool,
) -> tuple[Staged, PublishedLayer]:
    """Build the COG into staging and pass the raster gates; the caller swaps it in."""
    cid = spec.cid
    options = spec.source.raster
    staged = rasters.stage(cid)
    target = Path(staged.location)
    try:
        if spec.source.kind == "raster":
            files = [resolved.file for _, resolved in detection.inputs]
            known = detection.source["fingerprint"]["files"]
            built = build_cog(
                files,
                target,
                collection=cid,
                dst_crs=spec.crs.storage,
                src_crs=spec.source.crs,
                expect_crs=options.expect_crs,
                nodata=options.nodata,
                resolution=options.resolution,
                resampling=options.resampling,
                fingerprints={p: f["sha256"] for p, f in known.items()},
            )
        else:
            derived = spec.source.derived
            assert derived is not None and derived.operation == "hillshade"
            dem = rasters.published(derived.from_collection)
            assert dem.location is not None
            built = hillshade(
                Path(dem.location),
                target,
                collection=cid,
                azimuth=derived.azimuth,
                altitude=derived.altitude,
            )
            report.data["source"]["parts"] = [f"collection {derived.from_collection}"]
        report.data["raster"] = built
        findings = evaluate_raster(spec.checks, built)
        report.data["gates"] = [f.as_dict() for f in findings]
        enforce(cid, findings, force=force)
    except BaseException:
        rasters.discard(staged)
        raise
    output = built["output"]
    report.data["bbox_crs84"] = output.get("bounds_lonlat")
    layer = PublishedLayer(
        collection=cid,
        kind="coverage",
        build_id=report.data["build_id"],
        built_at=report.data["started"],
        storage_crs=spec.crs.storage,
        bbox=output.get("bounds"),
        bbox_crs84=output.get("bounds_lonlat"),
        source_sha256=report.data["source"]["fingerprint"]["sha256"],
        source_http=report.data["source"].get("http", []),
        raster={k: v for k, v in output.items() if k != "path"},
    )
    return staged, layer
