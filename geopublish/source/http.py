"""HTTP sources with conditional GET (ETag / Last-Modified) into a local cache."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import requests

from geopublish.errors import SourceError

_RUN: ContextVar[dict[str, Fetched] | None] = ContextVar("geopublish_fetches", default=None)


@dataclass(frozen=True)
class Fetched:
    """A downloaded file and whether the server said it had not changed."""

    path: Path
    not_modified: bool
    etag: str | None
    last_modified: str | None


@contextmanager
def fetch_once() -> Iterator[None]:
    """Within this block each URL is requested at most once (change check, then build)."""
    token = _RUN.set({})
    try:
        yield
    finally:
        _RUN.reset(token)


def fetch(url: str, cache: Path, *, timeout: float, collection: str) -> Fetched:
    """Download ``url`` into ``cache`` unless the server answers 304 Not Modified.

    The cached copy and its validators survive between runs; a failed or timed-out request
    is a SourceError and never replaces the cached copy.
    """
    memo = _RUN.get()
    if memo is not None and url in memo:
        return memo[url]
    fetched = _fetch(url, cache, timeout=timeout, collection=collection)
    if memo is not None:
        memo[url] = fetched
    return fetched


def _fetch(url: str, cache: Path, *, timeout: float, collection: str) -> Fetched:
    cache.mkdir(parents=True, exist_ok=True)
    key = hashlib.sha256(url.encode()).hexdigest()[:16]
    name = Path(urlparse(url).path).name or "download"
    target = cache / f"{key}-{name}"
    meta_path = cache / f"{key}.json"
    meta = json.loads(meta_path.read_text()) if meta_path.is_file() else {}
    headers = {"User-Agent": "geopublish"}
    if target.is_file():
        if meta.get("etag"):
            headers["If-None-Match"] = meta["etag"]
        if meta.get("last_modified"):
            headers["If-Modified-Since"] = meta["last_modified"]
    try:
        with requests.get(url, headers=headers, timeout=timeout, stream=True) as resp:
            if resp.status_code == 304 and target.is_file():
                return Fetched(target, True, meta.get("etag"), meta.get("last_modified"))
            if resp.status_code != 200:
                raise SourceError(
                    f"collection {collection!r}: GET {url} answered HTTP {resp.status_code}; "
                    "expected 200 (or 304 when cached)"
                )
            fd, tmp = tempfile.mkstemp(dir=cache, prefix=".part-")
            try:
                with os.fdopen(fd, "wb") as out:
                    for block in resp.iter_content(1 << 20):
                        out.write(block)
                _same_or_replace(Path(tmp), target)
            finally:
                if os.path.exists(tmp):
                    os.unlink(tmp)
            etag = resp.headers.get("ETag")
            last_modified = resp.headers.get("Last-Modified")
    except requests.RequestException as exc:
        raise SourceError(f"collection {collection!r}: GET {url} failed: {exc}") from exc
    meta_path.write_text(json.dumps({"url": url, "etag": etag, "last_modified": last_modified}))
    return Fetched(target, False, etag, last_modified)


def _same_or_replace(new: Path, target: Path) -> None:
    """Keep the cached file (and its mtime) when the download has the same bytes.

    That is the content-hash fallback for servers without validators: an identical
    download leaves size and mtime alone, so the change check sees nothing new.
    """
    if target.is_file() and target.stat().st_size == new.stat().st_size:
        if _sha256(target) == _sha256(new):
            return
    os.replace(new, target)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
