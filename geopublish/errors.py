"""The whole geopublish exception tree: one root, one subclass per pipeline stage.

Messages name the collection, the file or field, the offending value and what would be
accepted; ``cli/`` turns them into one-line messages and exit codes.
"""


class GeopublishError(Exception):
    """Root of every error geopublish raises on purpose."""


class CatalogError(GeopublishError, ValueError):
    """A layer spec or the catalogue as a whole is invalid."""


class SourceError(GeopublishError, OSError):
    """A source could not be found, fetched or opened."""


class NormaliseError(GeopublishError, ValueError):
    """Source data cannot be turned into the declared layer (CRS, fields, geometry, ids)."""


class GtfsError(NormaliseError):
    """A GTFS feed has nothing usable left for the requested layer."""


class RasterError(NormaliseError):
    """A raster source cannot be georeferenced, reprojected or mosaicked."""


class ValidationFailed(GeopublishError):
    """A quality gate refused the publication; ``findings`` says why."""

    def __init__(self, message: str, findings: list[dict] | None = None) -> None:
        super().__init__(message)
        self.findings = findings or []


class StoreError(GeopublishError, RuntimeError):
    """The store could not stage, swap, read or roll back a layer."""


class LockedError(StoreError):
    """Another build or refresh of the same layer holds its lock."""


class PublishError(GeopublishError, RuntimeError):
    """pygeoapi configuration or OpenAPI document could not be produced."""
