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

from geopublish.catalog.models import CollectionSpec
from geopublish.errors import PublishError
from geopublish.normalise.boundaries import metric_crs
from geopublish.publish.coverages import coverage_resource
from geopublish.settings import Settings
from geopublish.store import Store
from geopublish.store.raster import RasterStore

CRS84_URI = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"

# Provider key of spec.publish.queryables (read by geopublish.serve.queryables).
QUERYABLES_KEY = "x-geopublish-queryables"


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


def describe(spec: CollectionSpec) -> str:
    """The served description: the spec's, how a derived layer is made, source and licence."""
    parts = [spec.description.strip(), derivation(spec)]
    source = f"Source : {spec.attribution}. Licence : {spec.licence.name}."
    return "\n\n".join([p for p in parts if p] + [source])


def feature_resource(spec: CollectionSpec, store: Store, settings: Settings) -> dict[str, Any]:
    """One pygeoapi collection serving a vector layer."""
    version = store.current(spec.cid)
    if version is None:
        raise PublishError(f"collection {spec.cid!r} has not been built; run geopublish build")
    meta = version.meta
    base = settings.public_url
    offered = [crs_uri(c) for c in spec.crs.offered]
    if CRS84_URI not in offered:
        offered.insert(0, CRS84_URI)
    provider = {
        **_relative(store.provider(spec.cid), settings.project_dir),
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
    if store.kind == "gpkg":  # the served file itself; PostGIS layers have no file to hand out
        links.append(
            {
                "type": "application/geopackage+sqlite3",
                "rel": "enclosure",
                "title": "Download the whole layer (GeoPackage)",
                "href": f"{base}/downloads/{spec.cid}.gpkg",
            }
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
        "keywords": spec.keywords,
        "links": links,
        "extents": {
            "spatial": {"bbox": meta["bbox_crs84"] or [-180, -90, 180, 90], "crs": CRS84_URI},
        },
        "limits": {
            "default_items": spec.publish.default_limit,
            "max_items": spec.publish.max_limit,
        },
        "providers": [provider],
    }


def raster_resource(spec: CollectionSpec, rasters: RasterStore, settings: Settings) -> dict:
    """One pygeoapi coverage collection serving the current COG of a raster layer."""
    options = spec.source.raster
    resource = coverage_resource(
        rasters.files.link(spec.cid),
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


def build_config(specs: list[CollectionSpec], store: Store, settings: Settings) -> dict[str, Any]:
    """The whole pygeoapi configuration, as a dict."""
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
        **service.get("server", {}),
    }
    resources: dict[str, Any] = {}
    rasters = RasterStore(settings.store_dir, settings.keep_versions)
    for spec in specs:
        if spec.is_raster:
            if rasters.files.current(spec.cid) is not None:
                resources[spec.cid] = raster_resource(spec, rasters, settings)
        elif store.current(spec.cid) is not None:
            resources[spec.cid] = feature_resource(spec, store, settings)
    return {
        "server": server,
        "logging": service.get("logging", {"level": "WARNING"}),
        "metadata": service["metadata"],
        "resources": resources,
    }


def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def write_config(config: dict[str, Any], settings: Settings) -> None:
    """Write pygeoapi-config.yml, then regenerate the OpenAPI document from it."""
    from pygeoapi.openapi import get_oas

    header = "# Generated by `geopublish publish` from collections/ and config/: do not edit.\n"
    text = header + yaml.safe_dump(config, sort_keys=False, allow_unicode=True, width=100)
    try:
        openapi = get_oas(config)
    except Exception as exc:  # pygeoapi raises assorted errors on a config it rejects
        raise PublishError(f"pygeoapi rejected the generated configuration: {exc}") from exc
    buffer = io.StringIO()
    yaml.safe_dump(openapi, buffer, sort_keys=False, allow_unicode=True)
    _atomic_write(settings.pygeoapi_config, text)
    _atomic_write(settings.openapi, buffer.getvalue())
