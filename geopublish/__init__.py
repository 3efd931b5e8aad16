"""geopublish: publish a region's geographic reference data as living OGC APIs."""

__version__ = "0.1.0"
