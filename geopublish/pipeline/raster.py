"""Raster layers: tiles -> one COG (reprojected, mosaicked), or a hillshade of a built DEM."""

from __future__ import annotations

from geopublish.catalog.models import CollectionSpec
from geopublish.errors import StoreError
from geopublish.normalise.raster import build_cog, hillshade
from geopublish.pipeline.report import Report
from geopublish.settings import Settings
from geopublish.source import expand_parts, resolve_part
from geopublish.source.resolve import fingerprint_files
from geopublish.store.raster import RasterStore
from geopublish.validate.gates import Finding, enforce


def run_raster(
    spec: CollectionSpec, settings: Settings, store: RasterStore, report: Report, force: bool
) -> None:
    """Build the COG into staging, check it, then publish it as the next version."""
    cid = spec.cid
    options = spec.source.raster
    staging = store.files.staging(cid)
    try:
        if spec.source.kind == "raster":
            parts = [
                resolve_part(p, settings, cid)
                for p in expand_parts(spec.source.parts, settings, cid)
            ]
            files = [p.file for p in parts]
            built = build_cog(
                files,
                staging,
                collection=cid,
                dst_crs=spec.crs.storage,
                src_crs=spec.source.crs,
                expect_crs=options.expect_crs,
                nodata=options.nodata,
                resolution=options.resolution,
                resampling=options.resampling,
            )
            origins = [p.origin for p in parts]
        else:
            derived = spec.source.derived
            assert derived is not None and derived.operation == "hillshade"
            src = store.files.current(derived.from_collection)
            if src is None:
                raise StoreError(f"collection {derived.from_collection!r} has not been built yet")
            built = hillshade(
                src, staging, collection=cid, azimuth=derived.azimuth, altitude=derived.altitude
            )
            files, origins = [src], [f"collection {derived.from_collection}"]
        report.data["source"] = {"parts": origins, "fingerprint": fingerprint_files(files)}
        report.data["raster"] = built
        output = built["output"]
        findings = [
            Finding(
                "cog_valid", bool(built["cog_valid"]), "output is a valid Cloud Optimised GeoTIFF"
            )
        ]
        bbox84 = output.get("bounds_lonlat")
        if spec.checks.bbox and bbox84:
            inside = all(
                (bbox84[i] >= spec.checks.bbox[i]) if i < 2 else (bbox84[i] <= spec.checks.bbox[i])
                for i in range(4)
            )
            findings.append(
                Finding("bbox", inside, f"extent {bbox84} must lie within {list(spec.checks.bbox)}")
            )
        report.data["gates"] = [f.as_dict() for f in findings]
        enforce(cid, findings, force=force)
        report.data["bbox_crs84"] = bbox84
        meta = {
            "collection": cid,
            "bbox_crs84": bbox84,
            "build_id": report.data["build_id"],
            "built_at": report.data["started"],
            "output": output,
            "source_sha256": report.data["source"]["fingerprint"]["sha256"],
        }
        report.data["version"] = store.files.publish(cid, staging, meta)
    finally:
        staging.unlink(missing_ok=True)
