"""Where built layers live: GeoPackage (embedded default) or PostGIS, and raster files."""

from __future__ import annotations

from dataclasses import dataclass

from geopublish.catalog.models import CollectionSpec
from geopublish.model import PublishedLayer
from geopublish.settings import Settings
from geopublish.store.base import FeatureStore, LayerSchema, Partition, Staged, Store
from geopublish.store.raster import RasterStore


@dataclass
class Stores:
    """The deployment's feature store and its raster store."""

    features: FeatureStore
    rasters: RasterStore

    def of(self, spec: CollectionSpec) -> Store:
        """The store holding this collection."""
        return self.rasters if spec.is_raster else self.features

    def current(self, spec: CollectionSpec) -> PublishedLayer | None:
        """The served version of a collection, whichever store holds it."""
        return self.of(spec).current(spec.cid)


def open_store(settings: Settings) -> FeatureStore:
    """The feature store the settings ask for."""
    if settings.store == "postgis":
        from geopublish.store.postgis import PostGISStore

        assert settings.postgis_dsn is not None
        return PostGISStore(
            settings.postgis_dsn,
            keep_versions=settings.keep_versions,
            schema=settings.postgis_schema,
        )
    from geopublish.store.gpkg import GeoPackageStore

    return GeoPackageStore(settings.store_dir, keep_versions=settings.keep_versions)


def open_stores(settings: Settings) -> Stores:
    """Both stores of the deployment."""
    return Stores(open_store(settings), RasterStore(settings.store_dir, settings.keep_versions))


__all__ = [
    "FeatureStore",
    "LayerSchema",
    "Partition",
    "RasterStore",
    "Staged",
    "Store",
    "Stores",
    "open_store",
    "open_stores",
]
