"""Publishers' rows -> rows of a national schema, by declared mappings (no code per publisher)."""

from geopublish.normalise.federation.mapping import Mapped, Reason, map_rows

__all__ = ["Mapped", "Reason", "map_rows"]
