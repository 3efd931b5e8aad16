"""Raster backgrounds: tiles -> one Cloud Optimised GeoTIFF, and products derived from it.

``build_cog`` reprojects and mosaics source tiles; ``hillshade`` shades a DEM COG. Both
write atomically (temporary file beside ``dst``, then ``os.replace``) and return a
JSON-serialisable report.
"""

from geopublish.normalise.raster.cog import build_cog
from geopublish.normalise.raster.derive import hillshade

__all__ = ["build_cog", "hillshade"]
