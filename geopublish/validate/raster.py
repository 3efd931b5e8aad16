"""Gates on a staged raster: a valid Cloud Optimised GeoTIFF within the declared extent."""

from __future__ import annotations

from typing import Any

from geopublish.catalog.models import Checks
from geopublish.validate.gates import Finding


def evaluate_raster(checks: Checks, built: dict[str, Any]) -> list[Finding]:
    """Findings for a built COG (``build_cog``/``hillshade`` report)."""
    findings = [
        Finding("cog_valid", bool(built["cog_valid"]), "output is a valid Cloud Optimised GeoTIFF")
    ]
    bbox84 = built["output"].get("bounds_lonlat")
    if checks.bbox and bbox84:
        inside = all(
            (bbox84[i] >= checks.bbox[i]) if i < 2 else (bbox84[i] <= checks.bbox[i])
            for i in range(4)
        )
        findings.append(
            Finding("bbox", inside, f"extent {bbox84} must lie within {list(checks.bbox)}")
        )
    return findings
