"""Fetch raw inputs: local files (or zip members) and HTTP with conditional GET."""

from geopublish.source.resolve import Resolved, expand_parts, fingerprint_files, resolve_part

__all__ = ["Resolved", "expand_parts", "fingerprint_files", "resolve_part"]
