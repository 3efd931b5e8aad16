"""Generate pygeoapi-config.yml and the OpenAPI document from the catalogue and the store.

Files are written beside their target and renamed into place, so a server reloading at any
moment reads either the old or the new file.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import yaml

from geopublish.catalog.models import CollectionSpec, metric_crs
from geopublish.errors import PublishError
from geopublish.faults import crash_point
from geopublish.model import GPKG_PROVIDER, POSTGIS_PROVIDER, QUERYABLES_KEY, PublishedLayer
from geopublish.procs import other_alive
from geopublish.publish.coverages import coverage_resource
from geopublish.publish.downloads import FORMATS
from geopublish.settings import Settings

CRS84_URI = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
# geopublish's own HTML templates (French, escaped in every context, no CDN), beside serve/.
TEMPLATES = Path(__file__).resolve().parents[1] / "serve" / "templates"


def crs_uri(value: str) -> str:
    """'EPSG:2154' -> its OGC URI; CRS84 spelled any way -> the CRS84 URI."""
    upper = value.upper()
    if upper in ("OGC:CRS84", "CRS84", CRS84_URI.upper()):
        return CRS84_URI
    if value.startswith("http"):
        return value
    authority, code = value.split(":", 1)
    return f"http://www.opengis.net/def/crs/{authority.upper()}/0/{code}"


def _relative(provider: dict[str, Any], root: Path) -> dict[str, Any]:
    """Store paths under the project folder are written relative, so the file is portable."""
    data = Path(str(provider.get("data", "")))
    if data.is_absolute() and data.is_relative_to(root):
        provider = {**provider, "data": str(data.relative_to(root))}
    return provider


def derivation(spec: CollectionSpec) -> str | None:
    """How a derived layer is made, with its parameters (French, like the catalogue)."""
    derived = spec.source.derived
    if spec.source.kind != "derived" or derived is None:
        return None
    origin = f"Dérivée de la collection « {derived.from_collection} »"
    if derived.operation == "simplify":
        note = (
            f"{origin} par simplification topologique de toute la couverture (les polygones "
            f"voisins gardent leurs limites communes) : tolérance {derived.tolerance:g} m en "
            f"{metric_crs(spec.crs.storage)}"
        )
        if derived.gap_width:
            note += f", interstices de moins de {derived.gap_width:g} m comblés"
        return note + "."
    if derived.operation == "hillshade":
        return (
            f"{origin} : ombrage, azimut {derived.azimuth:g}°, hauteur du soleil "
            f"{derived.altitude:g}°."
        )
    groups = {
        "epci": "de chaque EPCI (appartenances du COG)",
        "departements": "de chaque département",
    }
    return f"{origin} par fusion des communes {groups[derived.operation]}."


def treatment(spec: CollectionSpec) -> str | None:
    """The personal-data treatment and its legal basis, in French (names, never values)."""
    privacy = spec.privacy
    if privacy is None:
        return None
    done = []
    if privacy.drop:
        done.append("champs supprimés")
    if privacy.pseudonymise:
        done.append(
            f"pseudonymisation (HMAC-SHA-256 à clé) de {', '.join(privacy.pseudonymise)} : "
            "données pseudonymisées, donc toujours personnelles au sens du RGPD"
        )
    if privacy.generalise is not None:
        rule = privacy.generalise
        how = {
            "grid": f"carroyage de {rule.cell_m or 0:g} m",
            "commune": "remplacement par la commune",
            "displace": f"déplacement aléatoire de {rule.radius_m or 0:g} m au plus",
        }[rule.method]
        done.append(f"localisation généralisée ({how})")
    if privacy.coarsen:
        done.append(f"valeurs agrégées ({', '.join(r.field for r in privacy.coarsen)})")
    if privacy.k_anonymity is not None:
        rule_k = privacy.k_anonymity
        done.append(f"k-anonymat k={rule_k.k} sur {', '.join(rule_k.quasi_identifiers)}")
    text = f"Traitement des données personnelles : {'; '.join(done) or 'aucun'}."
    text += f" Base légale : {privacy.legal_basis}."
    if privacy.justification:
        text += f" Justification : {privacy.justification}"
    return text


def keywords(spec: CollectionSpec) -> list[str]:
    """The spec's keywords, plus the treatment's when personal data is treated."""
    extra = []
    if spec.privacy is not None:
        extra.append("données personnelles traitées")
        if spec.privacy.pseudonymise:
            extra.append("pseudonymisation")
    return [*spec.keywords, *(k for k in extra if k not in spec.keywords)]


def describe(spec: CollectionSpec) -> str:
    """The served description: the spec's, how a derived layer is made, source and licence."""
    parts = [spec.description.strip(), derivation(spec), treatment(spec)]
    source = f"Source : {spec.attribution}. Licence : {spec.licence.name}."
    return "\n\n".join([p for p in parts if p] + [source])


def provider_block(layer: PublishedLayer) -> dict[str, Any]:
    """The pygeoapi provider serving a published feature layer, from its store's handle."""
    if layer.store == "postgis":
        # The DSN stays in the servers' environment, never in a file.
        return {
            "type": "feature",
            "name": POSTGIS_PROVIDER,
            "data": "env:GEOPUBLISH_POSTGIS_DSN",
            "schema": layer.schema_name,
            "table": layer.collection,
            "id_field": layer.id_column,
        }
    return {
        "type": "feature",
        "name": GPKG_PROVIDER,
        "data": layer.served,
        "id_field": layer.id_column,
        "table": layer.collection,
    }


def feature_resource(
    spec: CollectionSpec, layer: PublishedLayer, settings: Settings
) -> dict[str, Any]:
    """One pygeoapi collection serving a vector layer."""
    base = settings.public_url
    offered = [crs_uri(c) for c in spec.crs.offered]
    if CRS84_URI not in offered:
        offered.insert(0, CRS84_URI)
    provider = {
        **_relative(provider_block(layer), settings.project_dir),
        "storage_crs": crs_uri(spec.crs.storage),
        "crs": offered,
    }
    if spec.publish.title_field:
        provider["title_field"] = spec.publish.title_field
    if spec.publish.time_field:
        provider["time_field"] = spec.publish.time_field
    if spec.publish.queryables is not None:
        provider[QUERYABLES_KEY] = list(spec.publish.queryables)
    links = [
        {
            "type": "application/json",
            "rel": "describedby",
            "title": "Build report (JSON)",
            "href": f"{base}/reports/{spec.cid}",
        },
    ]
    links.extend(
        {
            "type": fmt.media_type,
            "rel": "enclosure",
            "title": f"Télécharger toute la couche ({fmt.title})",
            "href": f"{base}/downloads/{spec.cid}.{fmt.suffix}",
        }
        for fmt in FORMATS
    )
    if spec.licence.url:
        links.insert(
            0,
            {
                "type": "text/html",
                "rel": "license",
                "title": spec.licence.name,
                "href": spec.licence.url,
            },
        )
    derived = spec.source.derived if spec.source.kind == "derived" else None
    if derived is not None:
        links.append(
            {
                "type": "application/json",
                "rel": "related",
                "title": f"Collection source ({derived.from_collection})",
                "href": f"{base}/collections/{derived.from_collection}",
            }
        )
    return {
        "type": "collection",
        "title": spec.title,
        "description": describe(spec),
        "keywords": keywords(spec),
        "links": links,
        "extents": {
            "spatial": {"bbox": layer.bbox_crs84 or [-180, -90, 180, 90], "crs": CRS84_URI},
        },
        "limits": {
            "default_items": spec.publish.default_limit,
            "max_items": spec.publish.max_limit,
        },
        "providers": [provider],
    }


def raster_resource(spec: CollectionSpec, layer: PublishedLayer, settings: Settings) -> dict:
    """One pygeoapi coverage collection serving the current COG of a raster layer."""
    options = spec.source.raster
    assert layer.served is not None
    resource = coverage_resource(
        Path(layer.served),
        title=spec.title,
        description=describe(spec),
        keywords=spec.keywords,
        licence_url=spec.licence.url,
        band_names=options.band_names,
        units=options.units,
    )
    resource["links"] = [
        *resource.get("links", []),
        {
            "type": "application/json",
            "rel": "describedby",
            "title": "Build report (JSON)",
            "href": f"{settings.public_url}/reports/{spec.cid}",
        },
    ]
    resource["providers"] = [_relative(p, settings.project_dir) for p in resource["providers"]]
    return resource


def templates_path(project_dir: Path) -> str:
    """The templates folder as the config writes it: relative to the project when inside it."""
    if TEMPLATES.is_relative_to(project_dir):
        return TEMPLATES.relative_to(project_dir).as_posix()
    return str(TEMPLATES)


def build_config(
    specs: list[CollectionSpec], layers: dict[str, PublishedLayer], settings: Settings
) -> dict[str, Any]:
    """The whole pygeoapi configuration, as a dict; ``layers`` are the served versions."""
    service_path = settings.config_dir / "service.yml"
    try:
        service = yaml.safe_load(service_path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise PublishError(f"cannot read service metadata {service_path}: {exc}") from exc
    server = {
        "bind": {"host": settings.host, "port": settings.port},
        "url": settings.public_url,
        "mimetype": "application/json; charset=UTF-8",
        "encoding": "utf-8",
        "cors": True,
        "admin": False,
        "templates": {"path": templates_path(settings.project_dir)},
        **service.get("server", {}),
    }
    resources: dict[str, Any] = {}
    for spec in specs:
        layer = layers.get(spec.cid)
        if layer is None:
            continue
        make = raster_resource if spec.is_raster else feature_resource
        resources[spec.cid] = make(spec, layer, settings)
    return {
        "server": server,
        "logging": service.get("logging", {"level": "WARNING"}),
        "metadata": service["metadata"],
        "resources": resources,
    }


HEADER = "# Generated by `geopublish publish` from collections/ and config/: do not edit.\n"
TEMPORARY = ".{name}.{pid}.tmp"


def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(TEMPORARY.format(name=path.name, pid=os.getpid()))
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def render_config(config: dict[str, Any]) -> str:
    """The text of pygeoapi-config.yml for ``config`` (the same config, the same bytes)."""
    return HEADER + yaml.safe_dump(config, sort_keys=False, allow_unicode=True, width=100)


def cleanup(settings: Settings) -> None:
    """Remove temporaries a killed writer left beside the generated files."""
    for target in (settings.pygeoapi_config, settings.openapi):
        for tmp in target.parent.glob(f".{target.name}.*.tmp"):
            pid = tmp.name[len(target.name) + 2 : -len(".tmp")]
            if pid.isdigit() and not other_alive(int(pid)):
                tmp.unlink(missing_ok=True)


DATETIME_PARAMETER = {
    "name": "datetime",
    "in": "query",
    "required": False,
    "style": "form",
    "explode": False,
    "schema": {"type": "string"},
    "description": (
        "Either a date-time (RFC 3339) or an interval, open or closed: only features whose "
        "temporal property (the collection's time field) intersects it are selected. A "
        "collection without a temporal property has no feature with a temporal geometry, so "
        "no feature intersects: the result set is empty (OGC API Features Part 1, "
        "/req/core/fc-time-response). A malformed value is a 400."
    ),
}


def _limit_parameter(server: dict[str, Any]) -> dict[str, Any]:
    limits = server.get("limits", {})
    default, most = int(limits.get("default_items", 10)), int(limits.get("max_items", 10))
    return {
        "name": "limit",
        "in": "query",
        "required": False,
        "style": "form",
        "explode": False,
        "schema": {"type": "integer", "minimum": 1, "maximum": most, "default": default},
        "description": (
            f"The number of features in a page (default {default}, at most {most}; a larger "
            "value is lowered to the collection's maximum)."
        ),
    }


_JSON = {"application/json": {"schema": {"type": "object"}}}
_GEOJSON = {"application/geo+json": {"schema": {"type": "object"}}}
# What pygeoapi's document takes from the OGC schema servers, declared in the document itself:
# offline clients (and validators) resolve every reference without the internet.
LOCAL_COMPONENTS: dict[str, dict[str, Any]] = {
    "parameters": {
        "featureId": {
            "name": "featureId",
            "in": "path",
            "required": True,
            "description": "Local identifier of a feature.",
            "schema": {"type": "string"},
        },
        "sortby": {
            "name": "sortby",
            "in": "query",
            "required": False,
            "style": "form",
            "explode": False,
            "description": "Comma-separated properties to sort by, '-' before one for descending.",
            "schema": {"type": "array", "items": {"type": "string"}},
        },
        "subset": {
            "name": "subset",
            "in": "query",
            "required": False,
            "style": "form",
            "explode": False,
            "description": "Subset of a coverage along its axes, e.g. Lat(43:44).",
            "schema": {"type": "array", "items": {"type": "string"}},
        },
    },
    "responses": {
        "LandingPage": {"description": "The landing page.", "content": _JSON},
        "Collection": {"description": "A collection's description.", "content": _JSON},
        "Features": {"description": "A page of features (GeoJSON).", "content": _GEOJSON},
        "Feature": {"description": "One feature (GeoJSON).", "content": _GEOJSON},
        "InvalidParameter": {
            "description": "A parameter has an invalid value: an OGC exception document.",
            "content": _JSON,
        },
        "NotFound": {"description": "No such resource.", "content": _JSON},
        "ServerError": {"description": "A server error.", "content": _JSON},
    },
    "schemas": {
        "cql2": {"description": "A CQL2 JSON expression.", "type": "object"},
        "exception": {
            "type": "object",
            "required": ["type"],
            "properties": {"type": {"type": "string"}, "detail": {"type": "string"}},
        },
        "link": {
            "type": "object",
            "required": ["href"],
            "properties": {"href": {"type": "string"}, "rel": {"type": "string"}},
        },
    },
}
_FILE_KINDS = {"sortby": "parameters", "cql2": "schemas", "exception": "schemas"}


def _local_ref(ref: str, components: dict[str, Any]) -> str | None:
    """The local reference standing for a remote one (its component added), or None."""
    address, _, fragment = ref.partition("#")
    parts = fragment.strip("/").split("/")
    if len(parts) == 3 and parts[0] == "components":
        kind, name = parts[1], parts[2]
    else:
        name = address.rsplit("/", 1)[-1].split(".")[0]
        kind = _FILE_KINDS.get(name, "")
    known = LOCAL_COMPONENTS.get(kind, {})
    if name not in known and name not in components.get(kind, {}):
        return None
    components.setdefault(kind, {}).setdefault(name, known.get(name))
    return f"#/components/{kind}/{name}"


def _localise(node: Any, components: dict[str, Any]) -> None:
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            ref = item.get("$ref")
            if isinstance(ref, str) and ref.startswith(("http://", "https://")):
                local = _local_ref(ref, components)
                if local is not None:
                    item["$ref"] = local
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def finish_openapi(openapi: dict[str, Any], config: dict[str, Any]) -> dict[str, Any]:
    """The OpenAPI document pygeoapi generated, with what geopublish serves declared in it.

    ``limit`` becomes one ``components.parameters.limit`` (default and maximum: the server's
    limits; QGIS takes its page size from it) referenced by every items path, every items
    path declares ``datetime``, which every feature collection accepts, and references to the
    OGC schema servers become components of the document (it resolves offline).
    """
    parameters = openapi.setdefault("components", {}).setdefault("parameters", {})
    parameters["limit"] = _limit_parameter(config.get("server", {}))
    parameters["datetime"] = DATETIME_PARAMETER
    for path, item in openapi.get("paths", {}).items():
        get = item.get("get") if isinstance(item, dict) else None
        if not path.endswith("/items") or not get:
            continue
        kept = [
            p
            for p in get.get("parameters", [])
            if p.get("name") not in ("limit", "datetime")
            and not str(p.get("$ref", "")).endswith(("/parameters/limit", "/parameters/datetime"))
        ]
        get["parameters"] = [
            *kept,
            {"$ref": "#/components/parameters/limit"},
            {"$ref": "#/components/parameters/datetime"},
        ]
    _localise(openapi, openapi["components"])
    return openapi


def write_config(config: dict[str, Any], settings: Settings) -> None:
    """Write pygeoapi-config.yml, then regenerate the OpenAPI document from it."""
    from pygeoapi.openapi import get_oas

    text = render_config(config)
    try:
        openapi = finish_openapi(get_oas(config), config)
    except Exception as exc:  # pygeoapi raises assorted errors on a config it rejects
        raise PublishError(f"pygeoapi rejected the generated configuration: {exc}") from exc
    buffer = io.StringIO()
    yaml.safe_dump(openapi, buffer, sort_keys=False, allow_unicode=True)
    _atomic_write(settings.pygeoapi_config, text)
    _atomic_write(settings.openapi, buffer.getvalue())
    crash_point("config")
