"""Fetch raw inputs: local files (or zip members) and HTTP with conditional GET."""

from geopublish.source.resolve import Resolved, fingerprint_files, resolve_part

__all__ = ["Resolved", "fingerprint_files", "resolve_part"]
