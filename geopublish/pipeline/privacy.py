"""Wiring of a spec's ``privacy`` section: the key, the communes layer, schema and report."""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path
from typing import Any

import geopandas as gpd
import pyogrio

from geopublish.catalog.models import CollectionSpec, Part, Privacy
from geopublish.errors import NormaliseError, SourceError
from geopublish.normalise.privacy import Treatment
from geopublish.settings import Settings
from geopublish.source.resolve import expand_parts, resolve_part


def secret(settings: Settings, collection: str) -> bytes | None:
    """The deployment's privacy key; the error names the setting, never the key."""
    try:
        return settings.privacy_secret()
    except ValueError as exc:
        raise NormaliseError(f"collection {collection!r}: {exc}") from None


def key_id(settings: Settings, spec: CollectionSpec) -> str | None:
    """A one-way tag of the key (HMAC of a constant), so a new key triggers a rebuild."""
    if spec.privacy is None or not spec.privacy.needs_key:
        return None
    key = secret(settings, spec.cid)
    if key is None:
        return None
    return hmac.new(key, b"geopublish:key-id", hashlib.sha256).hexdigest()[:16]


def reference_files(spec: CollectionSpec, settings: Settings) -> list[Path]:
    """The communes files a spec's generalisation reads, all under the source root."""
    rule = spec.privacy.generalise if spec.privacy else None
    if rule is None or rule.communes is None:
        return []
    cid, path = spec.cid, rule.communes.path
    root = settings.source_root.resolve()
    files = []
    for part in expand_parts([Part(path=path)], settings, cid):
        file = resolve_part(part, settings, cid).file
        if not file.resolve().is_relative_to(root):
            raise SourceError(
                f"collection {cid!r}: privacy.generalise.communes.path {path!r} "
                f"is outside the source root {str(root)!r}"
            )
        files.append(file)
    return files


def communes(spec: CollectionSpec, settings: Settings) -> gpd.GeoDataFrame | None:
    """The declared communes layer, read from files under the source root only."""
    rule = spec.privacy.generalise if spec.privacy else None
    if rule is None or rule.communes is None:
        return None
    ref, collection = rule.communes, spec.cid
    frames = []
    for file in reference_files(spec, settings):
        try:
            frame = pyogrio.read_dataframe(file, columns=[ref.code_field])
        except Exception as exc:  # GDAL's errors: one line naming the file
            raise SourceError(
                f"collection {collection!r}: cannot read communes {str(file)!r}: {exc}"
            ) from exc
        if ref.code_field not in frame.columns:
            raise SourceError(
                f"collection {collection!r}: communes {str(file)!r} has no column "
                f"{ref.code_field!r}; columns are {list(frame.columns)}"
            )
        frames.append(frame.to_crs(frames[0].crs) if frames else frame)
    merged = gpd.GeoDataFrame(
        gpd.pd.concat(frames, ignore_index=True), geometry="geometry", crs=frames[0].crs
    )
    return merged.drop_duplicates(subset=[ref.code_field]).reset_index(drop=True)


def treatment(spec: CollectionSpec, settings: Settings) -> Treatment | None:
    """The compiled treatment of ``spec``, or None without a privacy section."""
    if spec.privacy is None:
        return None
    key = secret(settings, spec.cid) if spec.privacy.needs_key else None
    return Treatment(spec.privacy, spec.cid, key, communes(spec, settings))


def schema_fields(privacy: Privacy, fields: dict[str, str]) -> dict[str, str]:
    """Stored field types once treated: pseudonyms and coarsened values are strings."""
    treated = {*privacy.pseudonymise, *(rule.field for rule in privacy.coarsen)}
    return {n: "string" if n in treated else t for n, t in fields.items()}


def geometry_family(privacy: Privacy) -> str | None:
    """The family a generalised geometry has: a point, or a commune's polygon."""
    rule = privacy.generalise
    if rule is None:
        return None
    if rule.communes is not None and rule.communes.shape == "polygon":
        return "Polygon"
    return "Point"


def summary(privacy: Privacy, counts: dict[str, Any]) -> dict[str, Any]:
    """The report's privacy entry: what was declared and done, counts only."""
    measures = []
    if privacy.drop:
        measures.append("suppression de champs")
    if privacy.pseudonymise:
        measures.append("pseudonymisation")
    if privacy.generalise is not None:
        measures.append(f"généralisation de la localisation ({privacy.generalise.method})")
    if privacy.coarsen:
        measures.append("agrégation des dates et montants")
    if privacy.k_anonymity is not None:
        measures.append(f"k-anonymat (k={privacy.k_anonymity.k})")
    out: dict[str, Any] = {
        "legal_basis": privacy.legal_basis,
        "justification": privacy.justification,
        "measures": measures,
        **counts,
    }
    if privacy.pseudonymise:
        out["note"] = (
            "pseudonymisation: les données pseudonymisées restent des données personnelles "
            "au sens du RGPD (ce n'est pas une anonymisation)"
        )
    return out
