"""Turn a spec part into a local path GDAL can open, plus its fingerprint.

A part names its file twice: ``path`` in the local mirror (GEOPUBLISH_SOURCE_ROOT) and ``url``
at the producer. ``source_mode=auto`` takes the mirror when the file is there, else the URL,
so one catalogue works offline and online.
"""

from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from geopublish.catalog.models import Part, is_pattern
from geopublish.errors import SourceError
from geopublish.settings import Settings
from geopublish.source.http import Fetched, fetch

LOG = logging.getLogger("geopublish.source")


@dataclass(frozen=True)
class Resolved:
    """A part ready to read: the file on disk, the GDAL path and where it came from."""

    file: Path
    gdal_path: str
    origin: str
    member: str | None = None
    fetched: Fetched | None = None


def _split_member(ref: str) -> tuple[str, str | None]:
    if "!" in ref:
        archive, member = ref.split("!", 1)
        return archive, member.lstrip("/")
    return ref, None


def _gdal_path(file: Path, member: str | None) -> str:
    if member is not None:
        return f"/vsizip/{file}/{member}"
    return str(file)


def _local(path: str, settings: Settings, collection: str = "?") -> Path:
    candidate = Path(path)
    if not candidate.is_absolute():
        candidate = settings.source_root / candidate
    return contain(candidate, settings, collection, path)


def contain(path: Path, settings: Settings, collection: str, given: str) -> Path:
    """``path`` with symlinks and '..' resolved; SourceError when outside the source roots."""
    resolved = path.resolve()
    roots = settings.source_roots
    if not any(resolved.is_relative_to(root) for root in roots):
        shown = given if len(given) <= 120 else given[:117] + "..."
        raise SourceError(
            f"collection {collection!r}: source path {shown!r} resolves to "
            f"{str(resolved)!r}, outside the source root {str(roots[0])!r}; local reads stay "
            "inside it (GEOPUBLISH_SOURCE_ALLOW widens it explicitly)"
        )
    return resolved


def expand_parts(parts: list[Part], settings: Settings, collection: str) -> list[Part]:
    """Replace each part whose ``path`` is a glob pattern by one part per matching file.

    Matches come in name order; a file that another part of the list names explicitly is
    read once, where that part stands. A pattern matching no file is logged and skipped
    when other parts remain (extra files that may be dropped in later), an error when
    nothing would be left to read.
    """
    named = {
        _local(_split_member(p.path)[0], settings, collection)
        for p in parts
        if p.path and not is_pattern(p.path)
    }
    expanded: list[Part] = []
    unmatched: list[str] = []
    for part in parts:
        if not (part.path and is_pattern(part.path)):
            expanded.append(part)
            continue
        pattern = Path(part.path)
        if not pattern.is_absolute():
            pattern = settings.source_root / pattern
        anchor = Path(pattern.anchor)
        found = sorted(anchor.glob(str(pattern.relative_to(anchor))))
        matches = [contain(m, settings, collection, str(m)) for m in found]
        if not matches:
            unmatched.append(part.path)
        for match in matches:
            if match.resolve() not in named:
                named.add(match.resolve())
                expanded.append(part.model_copy(update={"path": str(match)}))
    if unmatched and not expanded:
        raise SourceError(
            f"collection {collection!r}: no source file matches {unmatched[0]!r} "
            f"(source root: {settings.source_root})"
        )
    for path in unmatched:
        LOG.warning("%s: no source file matches %r; reading the other parts", collection, path)
    return expanded


def resolve_part(
    part: Part, settings: Settings, collection: str, *, folders: bool = False
) -> Resolved:
    """Find ``part`` locally or download it; raise SourceError naming what is missing.

    With ``folders``, a local ``path`` may be a folder (an unzipped GTFS feed).
    """
    if folders and part.path and not part.url:
        folder = _local(part.path, settings, collection)
        if folder.is_dir():
            return Resolved(folder, str(folder), str(folder))
    local: Path | None = None
    member: str | None = None
    if part.path:
        ref, member = _split_member(part.path)
        local = _local(ref, settings, collection)
    use_local = local is not None and (
        settings.source_mode == "local" or (settings.source_mode == "auto" and local.exists())
    )
    if settings.source_mode == "remote" and not part.url:
        use_local = local is not None
    if use_local or not part.url:
        assert local is not None
        if not local.is_file():
            hint = " and no url to fetch it from" if not part.url else ""
            raise SourceError(
                f"collection {collection!r}: source file {str(local)!r} not found{hint} "
                f"(source root: {settings.source_root})"
            )
        origin = f"{local}!{member}" if member else str(local)
        return Resolved(local, _gdal_path(local, member), origin, member)
    url, url_member = _split_member(part.url)
    member = member or url_member
    if urlparse(url).scheme not in ("http", "https"):
        raise SourceError(
            f"collection {collection!r}: url {url[:120]!r}: only http(s) URLs are fetched; "
            "a local file is a `path` inside the source root"
        )
    cache = settings.var_dir / "cache" / collection
    fetched = fetch(url, cache, timeout=settings.http_timeout, collection=collection)
    file = fetched.path
    origin = f"{url}!{member}" if member else url
    return Resolved(file, _gdal_path(file, member), origin, member, fetched)


def _files(path: Path) -> list[Path]:
    return sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]


def stat_key(path: Path) -> str:
    """Digest of (name, size, mtime_ns) of every file of ``path``: changes when one does."""
    digest = hashlib.sha256()
    for file in _files(path):
        stat = os.stat(file)
        digest.update(f"{file}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def file_fingerprint(path: Path, known: dict | None = None) -> dict:
    """Size, mtime and SHA-256 of one file (folders: of every file inside, sorted).

    ``known`` is an earlier fingerprint of the same path: when its ``stat`` key still
    matches, its hash is reused and no byte is read.
    """
    key = stat_key(path)
    if known and known.get("stat") == key and known.get("sha256"):
        return {**known, "hashed": False}
    files = _files(path)
    digest = hashlib.sha256()
    size = 0
    mtime = 0.0
    for file in files:
        stat = file.stat()
        size += stat.st_size
        mtime = max(mtime, stat.st_mtime)
        digest.update(str(file.relative_to(path) if path.is_dir() else file.name).encode())
        with open(file, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return {"size": size, "mtime": mtime, "sha256": digest.hexdigest(), "stat": key, "hashed": True}


def fingerprint_files(paths: list[Path], known: dict[str, dict] | None = None) -> dict:
    """One fingerprint for several inputs; ``sha256`` changes when any byte changes.

    ``known`` maps path -> earlier per-file fingerprint (see :func:`file_fingerprint`).
    """
    known = known or {}
    parts = {str(p): file_fingerprint(p, known.get(str(p))) for p in paths}
    combined = hashlib.sha256("".join(v["sha256"] for v in parts.values()).encode())
    return {"sha256": combined.hexdigest(), "files": parts}
