"""Quality gates: checks -> findings; a failed gate refuses the publication."""

from geopublish.validate.gates import Finding, enforce, evaluate
from geopublish.validate.raster import evaluate_raster

__all__ = ["Finding", "enforce", "evaluate", "evaluate_raster"]
