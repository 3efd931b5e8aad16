"""A published layer: the one typed record the store writes and publish/ and serve/ read.

Every stage may import this module (like ``errors`` and ``settings``): it holds the contract
between the store that publishes a version and the stages that describe and serve it, and the
names both sides use (metadata table, store columns, provider-block keys). No metadata dict
crosses a stage: a store writes :class:`PublishedLayer` as JSON beside the version it
describes, and reads it back as the same model.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import pyarrow as pa
import pyproj
from pydantic import BaseModel, ConfigDict, Field

# Arrow type of each declared field type (dates travel as ISO strings).
ARROW_TYPES = {
    "string": pa.string(),
    "integer": pa.int64(),
    "number": pa.float64(),
    "boolean": pa.bool_(),
    "date": pa.string(),
    "datetime": pa.string(),
}

# Where a store keeps the record of each version (a table in the GeoPackage file, a table of
# the PostGIS schema, a JSON file beside each raster version).
META_TABLE = "geopublish_meta"
# Columns every stored feature table carries besides the declared fields.
HASH_COLUMN = "geopublish_hash"
# The geometry as stores write it (2D little-endian WKB), encoded once per batch by the ids step.
WKB_COLUMN = "geopublish_wkb"
# Keys geopublish adds to pygeoapi provider blocks (stock pygeoapi ignores them).
QUERYABLES_KEY = "x-geopublish-queryables"
BANDS_KEY = "x-geopublish-bands"
GPKG_PROVIDER = "geopublish.serve.provider.GeoPackageProvider"
POSTGIS_PROVIDER = "geopublish.serve.postgis_provider.PostGISProvider"
# Collection ids a GeoPackage reserves for itself (tables, triggers, R-tree indexes).
RESERVED_PREFIXES = ("gpkg", "sqlite_", "rtree_")
StoreKind = Literal["gpkg", "postgis", "raster"]
# Whole-layer downloads: publish/ writes <root>/<collection>/<build_id>/ with this manifest
# (file name, media type, size, SHA-256 per format suffix); serve/ reads it for the served build.
DOWNLOADS_MANIFEST = "manifest.json"


def tiles_file(tiles_dir: Path, collection: str, build_id: str) -> Path:
    """The vector tile set built with one version (named by its build, which a rollback keeps)."""
    return tiles_dir / collection / f"{build_id}.mbtiles"


def version_table(collection: str, number: int) -> str:
    """PostGIS table of one published version."""
    return f"{collection}__v{number:06d}"


def srid(storage_crs: str) -> int:
    """EPSG code of a storage CRS; CRS84 is stored lon/lat as SRID 4326."""
    if storage_crs.upper() in ("OGC:CRS84", "CRS84"):
        return 4326
    code = pyproj.CRS(storage_crs).to_epsg()
    if code is None:
        raise ValueError(f"storage CRS {storage_crs!r} has no EPSG code")
    return code


class PublishedLayer(BaseModel):
    """One version of a collection as the store published it.

    The pipeline fills the build facts (counts, extents, schema, fingerprint); the store adds
    where the version lives (``store``, ``location``, ``served``), its number and whether it is
    the one served.
    """

    model_config = ConfigDict(extra="ignore", frozen=True)

    collection: str = Field(description="Collection id.")
    kind: Literal["features", "coverage"] = Field("features", description="Served as what.")
    build_id: str = Field(description="The run that built this version.")
    built_at: str = Field(description="When that run started (UTC, ISO 8601).")
    storage_crs: str = Field("OGC:CRS84", description="CRS the coordinates are stored in.")
    count: int = Field(0, description="Features (0 for coverages).")
    bbox: list[float] | None = Field(None, description="Extent in the storage CRS.")
    bbox_crs84: list[float] | None = Field(None, description="Extent in lon/lat.")
    fields: dict[str, str] = Field(default_factory=dict, description="Field name -> type.")
    id_column: str | None = Field(None, description="Field holding the feature id.")
    geometry_type: str | None = Field(None, description="Stored geometry type.")
    source_sha256: str | None = Field(None, description="Fingerprint of every input.")
    source_http: list[dict[str, Any]] = Field(
        default_factory=list, description="HTTP validators of the inputs fetched by URL."
    )
    raster: dict[str, Any] | None = Field(None, description="Grid, bands and nodata (coverages).")
    partitions: dict[str, Any] | None = Field(
        None,
        description="Federated layers: the column naming each row's partition, the layout "
        "digest, and per partition its fingerprint, count and extent (what a refresh derives "
        "the next version from).",
    )
    # Set by the store.
    version: int = Field(0, description="Version number (1, 2, ...), set by the store.")
    current: bool = Field(False, description="Whether this version is the one served.")
    store: StoreKind | None = Field(None, description="Which store holds it.")
    location: str | None = Field(
        None, description="The immutable version: a file path, or a PostGIS table name."
    )
    served: str | None = Field(
        None,
        description="The stable handle that always shows the served version: the `current` "
        "link of a file store, or the PostGIS view.",
    )
    schema_name: str | None = Field(None, description="PostGIS schema of the deployment.")

    def record(self) -> dict[str, Any]:
        """What the store writes: the build facts, without what it decides itself."""
        return self.model_dump(
            mode="json", exclude={"version", "current", "store", "location", "served"}
        )

    def placed(self, **where: Any) -> PublishedLayer:
        """The same record with the store's facts (version, location, current...)."""
        return self.model_copy(update=where)
