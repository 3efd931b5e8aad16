"""Typed layer specs: one ``collections/<theme>/<id>.yml`` is one :class:`CollectionSpec`.

Every model forbids unknown keys, so a typo'd key is an error that names itself.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

import pyproj
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from stdnum.fr import siren as stdsiren

from geopublish.catalog.privacy import Coarsen as Coarsen
from geopublish.catalog.privacy import CommuneReference as CommuneReference
from geopublish.catalog.privacy import Generalise as Generalise
from geopublish.catalog.privacy import KAnonymity as KAnonymity
from geopublish.catalog.privacy import Privacy
from geopublish.catalog.tiles import Tiles

SNAKE = re.compile(r"^[a-z][a-z0-9_]*$")
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
GeometryFamily = Literal[
    "Point", "LineString", "Polygon", "MultiPoint", "MultiLineString", "MultiPolygon"
]
FieldType = Literal["string", "integer", "number", "boolean", "date", "datetime"]
# JSON Schema of each field type, as served in queryables and schemas.
FIELD_JSON_SCHEMA: dict[str, dict[str, str]] = {
    "string": {"type": "string"},
    "integer": {"type": "integer"},
    "number": {"type": "number"},
    "boolean": {"type": "boolean"},
    "date": {"type": "string", "format": "date"},
    "datetime": {"type": "string", "format": "date-time"},
}


def metric_crs(storage: str) -> str:
    """CRS of metric spec values (``simplify`` tolerance): the storage CRS, or Lambert-93."""
    return "EPSG:2154" if pyproj.CRS(storage).is_geographic else storage


class Strict(BaseModel):
    """Base of every spec model: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid")


class Licence(Strict):
    """The licence the data is published under."""

    name: str = Field(description="Licence name, e.g. 'Licence Ouverte 2.0' or 'ODbL-1.0'.")
    url: str | None = Field(None, description="Link to the licence text.")


class Part(Strict):
    """One input file. ``path`` is looked up in the local mirror, ``url`` is the producer's."""

    path: str | None = Field(
        None,
        description="Path relative to GEOPUBLISH_SOURCE_ROOT (an absolute path, a symlink or "
        "'..' must still resolve inside it). A zip member is "
        "named 'archive.zip!member.shp'. A pattern with * ? or [...] (e.g. "
        "'communes/communes-*.geojson') stands for every matching file, in name order, "
        "skipping files that another part already names.",
    )
    url: str | None = Field(
        None, description="The producer's http(s) URL; used when the local copy is absent."
    )
    layer: str | None = Field(None, description="Layer name inside this part, if it differs.")

    @model_validator(mode="after")
    def _one_location(self) -> Part:
        if not self.path and not self.url:
            raise ValueError("a part needs `path`, `url` or both")
        if self.url and not re.match(r"^https?://", self.url):
            raise ValueError(
                f"url {self.url[:120]!r} must start with http:// or https:// (a local file "
                "is a `path` inside the source root)"
            )
        if self.path and is_pattern(self.path) and (self.url or "!" in self.path):
            raise ValueError(
                f"path pattern {self.path!r} matches local files only: it cannot have a "
                "`url` or name a zip member ('!'); list such parts one by one"
            )
        return self


def is_pattern(path: str) -> bool:
    """Whether ``path`` is a glob pattern (holds * ? or [) rather than one file."""
    return any(char in path for char in "*?[")


class CsvGeometry(Strict):
    """How a table without geometry gets one."""

    x: str | None = Field(None, description="Column holding x / longitude.")
    y: str | None = Field(None, description="Column holding y / latitude.")
    wkt: str | None = Field(None, description="Column holding WKT geometries.")
    decimal_comma: bool = Field(False, description="Numbers are written '3,87' not '3.87'.")
    delimiter: str | None = Field(None, description="Field separator when not ','.")

    @model_validator(mode="after")
    def _xy_or_wkt(self) -> CsvGeometry:
        if self.wkt and (self.x or self.y):
            raise ValueError("give either `wkt` or `x` and `y`, not both")
        if not self.wkt and not (self.x and self.y):
            raise ValueError("give `x` and `y` columns, or a `wkt` column")
        return self


class GtfsOptions(Strict):
    """Which derived GTFS layer a spec publishes."""

    layer: Literal["stops", "routes"] = Field(description="Derived layer kind.")
    networks: dict[str, str] = Field(
        default_factory=dict,
        description="Network name for each part, keyed by the part's path or url; "
        "defaults to the file or folder name.",
    )


class RasterOptions(Strict):
    """How raster tiles become one served background."""

    nodata: float | None = Field(None, description="Nodata value when the source has none.")
    resolution: float | None = Field(None, description="Output pixel size in storage CRS units.")
    resampling: Literal["nearest", "bilinear", "cubic", "average"] = Field(
        "bilinear", description="Resampling used when reprojecting."
    )
    expect_crs: list[str] | None = Field(
        None, description="Refuse sources whose CRS is not one of these."
    )
    band_names: list[str] | None = Field(None, description="Band names shown in the range type.")
    units: str | None = Field(None, description="Unit of the values, e.g. 'm'.")


class DerivedOptions(Strict):
    """A layer computed from another collection (e.g. EPCI from communes)."""

    operation: Literal["epci", "departements", "simplify", "hillshade"] = Field(
        description="What to derive."
    )
    from_collection: str = Field(description="The collection whose built data is the input.")
    tolerance: float | None = Field(
        None,
        description="simplify: tolerance in metres (Lambert-93 when the storage CRS is "
        "geographic), roughly the square root of the area of the corners removed.",
    )
    gap_width: float = Field(
        0.0,
        ge=0,
        description="simplify: gaps between polygons narrower than this (metres) are merged "
        "into a neighbour before simplifying; 0 keeps every gap. Overlaps and mismatched "
        "edges are always cleaned.",
    )
    reference: str | None = Field(
        None, description="departements: collection to compare the dissolved result with."
    )
    azimuth: float = Field(315.0, description="hillshade: light direction, degrees from north.")
    altitude: float = Field(45.0, description="hillshade: light height, degrees.")


class Source(Strict):
    """Where the data comes from and how to read it."""

    kind: Literal["vector", "gtfs", "raster", "derived", "federated"] = Field(
        "vector",
        description="vector files, GTFS feeds, rasters, derived from a collection, or "
        "federated from many publishers' files (see the `federation` section).",
    )
    parts: list[Part] = Field(
        default_factory=list, description="Input files, read in order and merged into one layer."
    )
    layer: str | None = Field(None, description="Layer name inside a GeoPackage/zip/multi-layer.")
    encoding: str | None = Field(None, description="Attribute encoding, e.g. 'cp1252', 'latin1'.")
    crs: str | None = Field(
        None,
        description="CRS of the source when missing or wrong in the files (e.g. 'EPSG:2154'). "
        "Overrides whatever the file declares.",
    )
    csv: CsvGeometry | None = Field(None, description="Geometry from table columns.")
    where: str | None = Field(
        None,
        description="Expression keeping only matching rows, e.g. "
        "\"left(insee, 2) in ['09', '11']\". Rows left out are counted as filtered.",
    )
    gtfs: GtfsOptions | None = Field(None, description="For kind: gtfs.")
    raster: RasterOptions = Field(
        default_factory=RasterOptions, description="For kind: raster (and raster derivations)."
    )
    derived: DerivedOptions | None = Field(None, description="For kind: derived.")
    reference: dict[str, str] = Field(
        default_factory=dict,
        description="Extra non-spatial inputs by name (paths like parts), e.g. epci: ....json.",
    )

    @model_validator(mode="after")
    def _kind_options(self) -> Source:
        if self.kind == "derived":
            if self.derived is None:
                raise ValueError("kind: derived needs a `derived` section")
        elif self.kind == "federated":
            if self.parts:
                raise ValueError("kind: federated reads its publishers' parts, not `parts`")
        elif not self.parts:
            raise ValueError(f"kind: {self.kind} needs at least one entry in `parts`")
        if self.kind == "gtfs" and self.gtfs is None:
            raise ValueError("kind: gtfs needs a `gtfs` section")
        return self


class OutputField(Strict):
    """One published attribute."""

    name: str = Field(description="Published field name (snake_case).")
    type: FieldType = Field("string", description="Published type.")
    source: str | list[str] | None = Field(
        None,
        description="Source column; defaults to `name`. A list names alternatives across "
        "parts and vintages (`[id_local, idlocal]`): the first one a part has is read.",
    )
    optional: bool = Field(
        False,
        description="A part without the column gives nulls (counted per part in the report's "
        "`absent`) instead of an error.",
    )
    expr: str | None = Field(
        None,
        description='Expression over source columns, e.g. "upper(nom)", '
        "\"concat(code, '-', nom)\". Mutually exclusive with `source`.",
    )
    description: str | None = Field(None, description="Shown to API users in the schema.")

    @field_validator("name")
    @classmethod
    def _snake(cls, value: str) -> str:
        if not SNAKE.match(value):
            raise ValueError(f"field name {value!r} must be snake_case ([a-z][a-z0-9_]*)")
        return value

    @model_validator(mode="after")
    def _source_or_expr(self) -> OutputField:
        if self.source and self.expr:
            raise ValueError(f"field {self.name!r}: give `source` or `expr`, not both")
        if isinstance(self.source, list) and not self.source:
            raise ValueError(f"field {self.name!r}: `source` lists no column")
        return self

    @property
    def candidates(self) -> list[str]:
        """Source columns to look for, in order."""
        if isinstance(self.source, list):
            return self.source
        return [self.source or self.name]


class Conform(Strict):
    """The shared output schema; every column not listed is dropped."""

    fields: list[OutputField] = Field(description="Output fields in order.")

    @field_validator("fields")
    @classmethod
    def _unique(cls, fields: list[OutputField]) -> list[OutputField]:
        names = [f.name for f in fields]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"duplicate output field names: {dupes}")
        return fields


class FeatureId(Strict):
    """How each feature gets its stable id."""

    fields: list[str] = Field(
        default_factory=list,
        description="Output field(s) forming the id, joined with '-'. Empty: a hash of the "
        "feature's attributes and geometry (stable while the feature is unchanged).",
    )


class Geometry(Strict):
    """Expected geometry and how to clean it."""

    type: GeometryFamily = Field(description="Expected family; Multi* promotes single parts.")
    repair: bool = Field(True, description="make_valid invalid geometries, keeping the family.")
    promote_to_multi: bool = Field(
        True, description="Store Multi* so single and multi parts share one type."
    )


class Dedupe(Strict):
    """Which features count as duplicates (the first one is kept)."""

    fields: list[str] = Field(
        default_factory=list,
        description="Output fields that identify a duplicate; empty: identical attributes "
        "and geometry.",
    )


class Checks(Strict):
    """Quality gates the built data must pass before it is published."""

    min_features: int | None = Field(None, ge=0, description="Fewer features refuse the build.")
    max_features: int | None = Field(None, ge=0, description="More features refuse the build.")
    bbox: tuple[float, float, float, float] | None = Field(
        None, description="Lon/lat box (CRS84) the data must fall within: minx, miny, maxx, maxy."
    )
    max_drop_ratio: float = Field(
        0.2, ge=0, le=1, description="Refuse when the count drops by more than this share."
    )
    max_dropped_ratio: float = Field(
        0.5,
        ge=0,
        le=1,
        description="First build (nothing published yet): refuse when more than this share "
        "of the records read were dropped (no geometry, bad coordinates...): a corrupt file.",
    )
    allow_schema_change: bool = Field(
        False, description="Accept a field removed or retyped versus the published version."
    )
    min_valid_ratio: float = Field(
        0.9,
        ge=0,
        le=1,
        description="Refuse when fewer than this share of source geometries were valid as read.",
    )


class CrsOptions(Strict):
    """Storage CRS and the CRS list offered to clients."""

    storage: str = Field("OGC:CRS84", description="CRS the store keeps coordinates in.")
    offered: list[str] = Field(
        default_factory=lambda: ["OGC:CRS84", "EPSG:4326", "EPSG:2154", "EPSG:3857"],
        description="CRS clients may ask for with `crs=` (CRS84 always included).",
    )


class Publish(Strict):
    """How the layer appears in the API."""

    title_field: str | None = Field(None, description="Field shown as the feature title.")
    queryables: list[str] | None = Field(
        None, description="Fields clients may filter on; default: every output field."
    )
    time_field: str | None = Field(None, description="Field used by `datetime=`.")
    default_limit: int = Field(10, ge=1, description="Items per page when `limit` is absent.")
    max_limit: int = Field(10_000, ge=1, description="Largest `limit` honoured.")


class Refresh(Strict):
    """When the layer is rebuilt on its own."""

    cron: str | None = Field(None, description="Cron expression, e.g. '0 4 * * *'.")
    interval: str | None = Field(None, description="Interval, e.g. '30m', '6h', '1d'.")

    @model_validator(mode="after")
    def _one(self) -> Refresh:
        if self.cron and self.interval:
            raise ValueError("give `cron` or `interval`, not both")
        if self.interval and not re.match(r"^\d+[smhd]$", self.interval):
            raise ValueError(f"interval {self.interval!r} must look like 30m, 6h or 1d")
        return self


# Publishers of a federated layer (one YAML file each, loaded by catalog/publishers.py).
DEPARTEMENT = re.compile(r"^(\d{2}|2[AB]|97\d)$")
INSEE = re.compile(r"^([013-9]\d|2[AB1-9])\d{3}$")


class Territory(Strict):
    """Where a publisher's rows may lie: communes, EPCI or départements (COG codes)."""

    communes: list[str] = Field(default_factory=list, description="INSEE commune codes.")
    epci: list[str] = Field(default_factory=list, description="SIREN of EPCI (all members).")
    departements: list[str] = Field(default_factory=list, description="Département codes.")

    @model_validator(mode="after")
    def _some(self) -> Territory:
        if not (self.communes or self.epci or self.departements):
            raise ValueError("give `communes`, `epci` or `departements`")
        bad = [c for c in self.communes if not INSEE.match(c)]
        bad += [d for d in self.departements if not DEPARTEMENT.match(d)]
        bad += [e for e in self.epci if not stdsiren.is_valid(e)]
        if bad:
            raise ValueError(f"not a COG code or a valid SIREN: {bad}")
        return self


class Coordinates(Strict):
    """Where the publisher's coordinates are: one of the forms below (source columns)."""

    x: str | None = Field(None, description="Longitude column.")
    y: str | None = Field(None, description="Latitude column.")
    latlon: str | None = Field(None, description="One 'lat,lon' column (or {lat, lon}).")
    lonlat: str | None = Field(None, description="One 'lon,lat' or '[lon,lat]' column.")
    wkt: str | None = Field(None, description="A WKT POINT column.")
    geojson: str | None = Field(None, description="A GeoJSON geometry or Feature column.")

    @model_validator(mode="after")
    def _one(self) -> Coordinates:
        forms = [k for k in ("latlon", "lonlat", "wkt", "geojson") if getattr(self, k)]
        if self.x or self.y:
            if not (self.x and self.y):
                raise ValueError("give both `x` and `y`")
            forms.append("x/y")
        if len(forms) != 1:
            raise ValueError(f"give exactly one coordinate form, got {forms or 'none'}")
        return self


class Unit(Strict):
    """A numeric conversion: value × factor, rounded when the schema wants an integer."""

    factor: float = Field(description="Multiplier, e.g. 100 for metres to centimetres.")
    round: bool = Field(True, description="Round to a whole number.")


class Replace(Strict):
    """A regular-expression rewrite of a value (e.g. a 4-digit counter to 3 digits)."""

    pattern: str = Field(description="Python regular expression matched on the whole value.")
    to: str = Field(description=r"Replacement, with \1 … for the groups.")

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"pattern {value!r} is not a regular expression: {exc}") from exc
        return value


class Mapping(Strict):
    """How the publisher's file becomes rows of the schema (declared, never code)."""

    columns: dict[str, str | list[str]] = Field(
        default_factory=dict,
        description="Schema field -> source column, or alternatives tried in order. Unlisted "
        "fields are matched by name, ignoring case, BOM and spaces.",
    )
    values: dict[str, dict[str, str]] = Field(
        default_factory=dict,
        description="Schema field -> {source value: schema value} (enumerations).",
    )
    booleans: bool = Field(
        True,
        description="Write the usual spellings of booleans (True, FALSE, 0, oui, T …) as the "
        "schema's true/false.",
    )
    coordinates: Coordinates | None = Field(
        None, description="Where the coordinates are; default: the schema's own fields."
    )
    units: dict[str, Unit] = Field(default_factory=dict, description="Numeric conversions.")
    replace: dict[str, Replace] = Field(default_factory=dict, description="Value rewrites.")
    constants: dict[str, str] = Field(
        default_factory=dict, description="Schema field -> value for every row (when empty)."
    )
    migrate_from: str | None = Field(
        None,
        description="Schema version of the file's layout when older, e.g. '0.2' (lieux de "
        "covoiturage: id_local taken from id_lieu without its INSEE prefix).",
    )


class Contact(Strict):
    """Who to tell when rows are quarantined."""

    name: str | None = Field(None, description="Service or person.")
    email: str | None = Field(None, description="E-mail address.")


class Publisher(Strict):
    """One publisher of a federated layer."""

    slug: str | None = Field(None, description="Identifier; must equal the file name stem.")
    name: str = Field(description="Official name, e.g. 'Département de la Haute-Garonne'.")
    siren: str = Field(description="SIREN of the publishing body (9 digits, checksum).")
    territory: Territory = Field(description="Where its rows may lie.")
    parts: list[Part] = Field(min_length=1, description="Its file(s), as in a spec's source.")
    format: str | None = Field(None, description="csv or json; default: from the file name.")
    encoding: str | None = Field(None, description="Text encoding; default: detected.")
    delimiter: str | None = Field(None, description="CSV separator; default: sniffed.")
    mapping: Mapping = Field(default_factory=Mapping, description="Columns to schema.")
    refresh: Refresh | None = Field(None, description="Its own schedule, if it differs.")
    contact: Contact = Field(default_factory=Contact, description="Feedback contact.")

    @field_validator("siren")
    @classmethod
    def _siren(cls, value: str) -> str:
        if not stdsiren.is_valid(value):
            raise ValueError(f"siren {value!r} is not a valid SIREN (9 digits, Luhn checksum)")
        return value

    @field_validator("format")
    @classmethod
    def _format(cls, value: str | None) -> str | None:
        if value is not None and value not in ("csv", "json"):
            raise ValueError(f"format {value!r}: expected 'csv' or 'json'")
        return value

    @property
    def key(self) -> str:
        """The slug (set from the file stem by the loader)."""
        assert self.slug is not None
        return self.slug


class FederationDedupe(Strict):
    """Which rows of two publishers are the same place."""

    distance_m: float = Field(
        25.0, gt=0, description="Rows of two publishers closer than this (metres) may be one place."
    )
    fields: list[str] = Field(
        default_factory=list,
        description="Schema fields that must also be equal (case and accents ignored); empty: "
        "distance alone.",
    )


class Federation(Strict):
    """A layer consolidated from many publishers into one national schema."""

    schema_file: str = Field(
        description="Table Schema (.json) the layer follows, relative to GEOPUBLISH_SOURCE_ROOT.",
    )
    schema_version: str = Field(
        description="Version of that schema (files often say another; this one is recorded)."
    )
    publishers: str = Field(
        description="Folder of publisher YAML files, relative to the collections folder."
    )
    communes: str = Field(
        "admin_reference_decoupage_administratif/communes.json",
        description="COG communes table (JSON, decoupage-administratif layout) under the source "
        "root: INSEE codes are checked against it.",
    )
    epci: str = Field(
        "admin_reference_decoupage_administratif/epci.json",
        description="COG EPCI table with members, for territories given as an EPCI SIREN.",
    )
    outlines: list[str] = Field(
        default_factory=list,
        description="Commune outline files (GeoJSON with an INSEE `code`, patterns allowed) "
        "under the source root: a row's point must fall in its commune, within the tolerance.",
    )
    tolerance_m: float = Field(
        500.0, ge=0, description="Distance a point may lie outside its commune's outline."
    )
    x: str | None = Field(None, description="Schema field holding the longitude.")
    y: str | None = Field(None, description="Schema field holding the latitude.")
    geopoint: str | None = Field(
        None, description="Schema field holding '[lon,lat]' (Table Schema geopoint, array)."
    )
    id_rule: list[str] = Field(
        description="Schema fields joined with '-' to make the national id (e.g. insee, "
        "id_local); published as `id_federe`, unique across publishers."
    )
    priorities: list[str] = Field(
        default_factory=list,
        description="Publisher slugs, most trusted first: which row is kept of a duplicate pair.",
    )
    dedupe: FederationDedupe | None = Field(
        None, description="Cross-publisher duplicates; absent keeps all."
    )
    max_valid_drop: float = Field(
        0.2,
        ge=0,
        le=1,
        description="A publisher whose share of valid rows falls by more than this keeps its "
        "last good rows.",
    )

    @model_validator(mode="after")
    def _coordinates(self) -> Federation:
        if bool(self.geopoint) == bool(self.x and self.y):
            raise ValueError("give `x` and `y` schema fields, or a `geopoint` field")
        return self


class CollectionSpec(Strict):
    """One published layer."""

    schema_version: Literal[1] = Field(1, description="Spec format version.")
    id: str | None = Field(None, description="Collection id; must equal the file name stem.")
    title: str = Field(description="Human title.")
    description: str = Field(description="What the layer holds, for whom.")
    keywords: list[str] = Field(default_factory=list, description="Search keywords.")
    licence: Licence = Field(description="Data licence.")
    attribution: str = Field(description="Credit line required by the licence.")
    publisher: str | None = Field(None, description="Organisation publishing the layer.")
    source: Source = Field(description="Inputs.")
    conform: Conform | None = Field(None, description="Output schema; absent keeps all columns.")
    feature_id: FeatureId = Field(default_factory=FeatureId, description="Stable feature ids.")
    geometry: Geometry | None = Field(None, description="Expected geometry (vector layers).")
    dedupe: Dedupe | None = Field(None, description="Duplicate removal; absent keeps all.")
    checks: Checks = Field(default_factory=Checks, description="Quality gates.")
    crs: CrsOptions = Field(default_factory=CrsOptions, description="Storage and offered CRS.")
    publish: Publish = Field(default_factory=Publish, description="API presentation.")
    refresh: Refresh | None = Field(None, description="Automatic rebuild schedule.")
    federation: Federation | None = Field(
        None, description="For source kind federated: schema and publishers."
    )
    privacy: Privacy | None = Field(
        None, description="Treatment of personal data (drop, pseudonymise, generalise, k)."
    )
    tiles: Tiles = Field(default_factory=Tiles, description="Vector tiles built with each version.")
    theme: Annotated[str, Field(description="Set from the folder; not written in YAML.")] = ""

    @field_validator("id")
    @classmethod
    def _snake_id(cls, value: str | None) -> str | None:
        if value is not None and not SNAKE.match(value):
            raise ValueError(f"id {value!r} must be snake_case ([a-z][a-z0-9_]*)")
        return value

    @model_validator(mode="after")
    def _federation(self) -> CollectionSpec:
        if (self.source.kind == "federated") != (self.federation is not None):
            raise ValueError("a `federation` section goes with source kind federated, and only")
        return self

    @property
    def cid(self) -> str:
        """The collection id (set by the loader from the file stem)."""
        assert self.id is not None
        return self.id

    @property
    def is_raster(self) -> bool:
        """Served as a coverage, not as features (raster sources and hillshades)."""
        derived = self.source.derived
        return self.source.kind == "raster" or (
            derived is not None and derived.operation == "hillshade"
        )
