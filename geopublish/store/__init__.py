"""Where built layers live: GeoPackage (embedded default) or PostGIS."""

from geopublish.settings import Settings
from geopublish.store.base import LayerSchema, Staged, Store, Version


def open_store(settings: Settings) -> Store:
    """The store the settings ask for."""
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


__all__ = ["LayerSchema", "Staged", "Store", "Version", "open_store"]
