"""Quality gates: checks -> findings; a failed gate refuses the publication."""

from geopublish.validate.gates import Finding, enforce, evaluate

__all__ = ["Finding", "enforce", "evaluate"]
