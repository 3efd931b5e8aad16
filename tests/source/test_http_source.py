"""Conditional GET and change fingerprints against a real local HTTP server."""

from __future__ import annotations

import pytest
from httpfiles import FileServer

from geopublish.errors import SourceError
from geopublish.source.http import fetch, fetch_once
from geopublish.source.resolve import fingerprint_files


@pytest.fixture
def site(tmp_path):
    server = FileServer(tmp_path / "site")
    for mode in ("etag", "lm", "none"):
        (tmp_path / "site" / mode).mkdir(parents=True)
        (tmp_path / "site" / mode / "a.txt").write_text("one")
    yield server, tmp_path
    server.stop()


@pytest.mark.parametrize(("mode", "second"), [("etag", 304), ("lm", 304), ("none", 200)])
def test_second_fetch_is_conditional_and_keeps_the_cached_file(site, mode, second):
    server, tmp = site
    url = f"{server.url}/{mode}/a.txt"
    first = fetch(url, tmp / "cache", timeout=5, collection="c")
    stamp = first.path.stat().st_mtime_ns
    again = fetch(url, tmp / "cache", timeout=5, collection="c")
    assert server.gets(f"/{mode}/a.txt") == [200, second]
    assert again.not_modified == (second == 304)
    assert again.path.read_text() == "one"
    assert again.path.stat().st_mtime_ns == stamp  # identical bytes: cache untouched


def test_failed_request_names_collection_and_keeps_cache(site):
    server, tmp = site
    url = f"{server.url}/etag/a.txt"
    cached = fetch(url, tmp / "cache", timeout=5, collection="c").path
    server.fail = 500
    with pytest.raises(SourceError, match=r"^collection 'c': GET .* answered HTTP 500"):
        fetch(url, tmp / "cache", timeout=5, collection="c")
    assert cached.read_text() == "one"


def test_one_request_per_url_within_a_run(site):
    server, tmp = site
    url = f"{server.url}/none/a.txt"
    with fetch_once():
        fetch(url, tmp / "cache", timeout=5, collection="c")
        fetch(url, tmp / "cache", timeout=5, collection="c")
    assert server.gets("/none/a.txt") == [200]


def test_fingerprint_reuses_hash_while_size_and_mtime_hold(tmp_path):
    path = tmp_path / "a.txt"
    path.write_text("one")
    first = fingerprint_files([path])
    again = fingerprint_files([path], first["files"])
    assert again["sha256"] == first["sha256"]
    assert again["files"][str(path)]["hashed"] is False
    path.write_text("two")
    changed = fingerprint_files([path], first["files"])
    assert changed["files"][str(path)]["hashed"] is True
    assert changed["sha256"] != first["sha256"]
