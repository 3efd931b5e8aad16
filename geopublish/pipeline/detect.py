"""Has a layer's input changed since its last build? Cheap answers first.

HTTP parts are fetched with a conditional GET (304 keeps the cached file untouched, and a
download with identical bytes does too); every input is then a local file whose size and
mtime are compared with the last build's; only files whose stat changed are hashed. Derived
layers also depend on the version of the collections they are computed from.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from geopublish.catalog import Catalog
from geopublish.catalog.models import CollectionSpec, Part
from geopublish.pipeline import federated, privacy
from geopublish.settings import Settings
from geopublish.source.resolve import Resolved, expand_parts, fingerprint_files, resolve_part
from geopublish.store import Stores

BUILD_SECTIONS = (
    "source", "conform", "feature_id", "geometry", "dedupe", "checks", "crs", "federation",
    "privacy",
)  # fmt: skip


@dataclass
class Detection:
    """The fingerprint of a layer's inputs and whether it differs from the last build."""

    changed: bool
    reason: str
    source: dict[str, Any]
    state: dict[str, Any] = field(default_factory=dict)
    restat: bool = False
    # Every input, resolved once: the build reads these, it does not resolve them again.
    inputs: list[tuple[Part, Resolved]] = field(default_factory=list)


def spec_digest(spec: CollectionSpec) -> str:
    """Hash of the spec sections that shape the built data (not titles or schedules)."""
    sections = set(BUILD_SECTIONS)
    # Optional sections count only when set, so that other layers' digests stay what they were.
    for name in ("federation", "privacy"):
        if getattr(spec, name) is None:
            sections.discard(name)
    data = spec.model_dump_json(include=sections)
    return hashlib.sha256(data.encode()).hexdigest()


def upstream_version(stores: Stores, spec: CollectionSpec) -> str | None:
    """'v<N> <build_id>' of the served version of a feature or raster collection."""
    version = stores.current(spec)
    return None if version is None else f"v{version.version} {version.build_id}"


def inputs(spec: CollectionSpec, settings: Settings) -> list[tuple[Part, Resolved]]:
    """Every file the layer is built from, resolved (HTTP parts fetched conditionally)."""
    cid = spec.cid
    source = spec.source
    if source.kind == "derived":
        refs = [Part(path=p) for p in source.reference.values()]
        return [(part, resolve_part(part, settings, cid)) for part in refs]
    if source.kind == "federated":
        return federated.inputs(spec, settings)
    folders = source.kind == "gtfs"
    parts = expand_parts(source.parts, settings, cid)
    return [(part, resolve_part(part, settings, cid, folders=folders)) for part in parts]


def detect(
    spec: CollectionSpec,
    settings: Settings,
    catalog: Catalog,
    stores: Stores,
    previous: dict[str, Any] | None,
) -> Detection:
    """Fingerprint the inputs, reusing hashes of files whose size and mtime did not move."""
    pairs = inputs(spec, settings)
    resolved = [r for _, r in pairs]
    known = (previous or {}).get("files") or {}
    paths = sorted({r.file for r in resolved} | set(privacy.reference_files(spec, settings)))
    fingerprint = fingerprint_files(paths, known)
    derived = spec.source.derived
    upstream: dict[str, str | None] = {}
    if derived is not None:
        for name in filter(None, (derived.from_collection, derived.reference)):
            upstream[name] = upstream_version(stores, catalog.specs[name])
    if spec.federation is not None:
        upstream["publishers"] = federated.digest(spec, settings)
    http = [
        {"url": r.origin, "etag": r.fetched.etag, "last_modified": r.fetched.last_modified}
        for r in resolved
        if r.fetched is not None
    ]
    state = {
        "spec": spec_digest(spec),
        "sha256": fingerprint["sha256"],
        "files": fingerprint["files"],
        "upstream": upstream,
        "key": privacy.key_id(settings, spec),
    }
    source = {"parts": [r.origin for r in resolved], "fingerprint": fingerprint, "http": http}
    if upstream:
        source["upstream"] = upstream
    restat = any(f.get("hashed") for f in fingerprint["files"].values())

    def found(changed: bool, reason: str) -> Detection:
        return Detection(changed, reason, source, state, restat, pairs)

    if stores.current(spec) is None:
        return found(True, "no version is published")
    if previous is None:
        return found(True, "no earlier build recorded")
    for key, reason in (
        ("spec", "the spec changed"),
        ("sha256", "the source changed"),
        ("upstream", "an upstream collection changed"),
        ("key", "the privacy key changed"),
    ):
        if previous.get(key) != state[key]:
            return found(True, reason)
    return found(False, "source unchanged")
