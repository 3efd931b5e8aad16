"""A treated layer leaks no raw value anywhere: store, downloads, HTTP, var/, logs (both stores)."""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
import subprocess
from pathlib import Path

import pandas as pd
import pytest
import requests
import yaml
from gpsupport import REPO, Server, cli_env, run_cli
from pgsupport import drop_schema, postgis_dsn  # noqa: F401
from privacydata import SPEC, individuals, write_register

KEY_A = "k3y-A-0123456789abcdef-not-a-real-secret"
KEY_B = "k3y-B-fedcba9876543210-another-secret"
COMMUNES = "admin_france_geojson_occitanie/communes-34-herault.geojson"
RAW_FIELDS = ("person_id", "name", "address", "birth_date", "amount", "comment")


def needles(rows: list[dict]) -> set[str]:
    """Every raw value, lower-cased, and its unkeyed SHA-1/SHA-256/MD5 hex."""
    out: set[str] = set()
    for row in rows:
        values = [str(row[f]) for f in RAW_FIELDS] + [f"{row['lon']:.6f}", f"{row['lat']:.6f}"]
        for value in values:
            for form in (value, value.lower()):
                out.add(form.lower())
                for algo in ("sha1", "sha256", "md5"):
                    out.add(hashlib.new(algo, form.encode()).hexdigest())
    return out


def hits(blob: bytes, where: str, found: list[str], words: set[str]) -> None:
    low = blob.lower()
    for word in words:
        if word.encode() in low:
            found.append(f"{where}: {word!r}")


def make_site(root: Path, data: Path, store: str, key: str, dsn: str | None) -> dict:
    src = root / "src"
    (src / "admin_france_geojson_occitanie").mkdir(parents=True)
    shutil.copy(data / COMMUNES, src / COMMUNES)  # a copy in the test's own source root
    write_register(src, individuals())
    (root / "collections/social").mkdir(parents=True)
    (root / "collections/social/grants.yml").write_text(yaml.safe_dump(SPEC, allow_unicode=True))
    keyfile = root / "secret" / "key"
    keyfile.parent.mkdir()
    keyfile.write_text(key)
    env = cli_env(
        root / "var",
        src,
        GEOPUBLISH_COLLECTIONS_DIR=str(root / "collections"),
        GEOPUBLISH_PRIVACY_KEY_FILE=str(keyfile),
    )
    schema = None
    if store == "postgis":
        schema = f"gp_priv_{root.name[-8:].lower().replace('-', '_')}"
        env.update(
            GEOPUBLISH_STORE="postgis", GEOPUBLISH_POSTGIS_DSN=dsn, GEOPUBLISH_POSTGIS_SCHEMA=schema
        )
    result = run_cli(env, "-vv", "build")
    assert result.returncode == 0, result.stderr
    return {
        "root": root,
        "env": env,
        "log": result.stdout + result.stderr,
        "schema": schema,
        "dsn": dsn,
        "store": store,
    }


@pytest.fixture(scope="module", params=["gpkg", "postgis"])
def site(request, shared_data, tmp_path_factory):
    dsn = request.getfixturevalue("postgis_dsn") if request.param == "postgis" else None
    built = make_site(
        tmp_path_factory.mktemp(f"priv{request.param}"), shared_data, request.param, KEY_A, dsn
    )
    server = Server(built["env"], workers=1)
    built["url"] = server.url
    yield built
    server.stop()
    if built["schema"]:
        drop_schema(dsn, built["schema"])


def features(url: str) -> list[dict]:
    body = requests.get(f"{url}/collections/grants/items?f=json&limit=10000", timeout=30).json()
    return body["features"]


def test_no_raw_value_reaches_store_downloads_http_var_or_logs(site):
    rows = individuals()
    words = needles(rows) | {KEY_A.lower()}
    found: list[str] = []
    url, var = site["url"], site["root"] / "var"
    paths = [
        "/collections?f=json",
        "/collections/grants?f=json",
        "/collections/grants?f=html",
        "/collections/grants/queryables?f=json",
        "/collections/grants/schema?f=json",
        "/collections/grants/items?f=json&limit=10000",
        "/collections/grants/items?f=html&limit=10000",
        "/collections/grants/items?f=jsonld&limit=10000",
        "/collections/grants/items?f=csv&limit=10000",
        "/reports/grants",
        "/collections/grants/changes",
        "/collections/grants/changes/1",
        "/collections/grants/history",
        "/downloads/grants.gpkg",
    ]
    feats = features(url)
    assert len(feats) > 20
    for feat in feats[:5]:
        for fmt in ("json", "html", "jsonld"):
            paths.append(f"/collections/grants/items/{feat['id']}?f={fmt}")
    for path in paths:
        response = requests.get(url + path, timeout=60)
        hits(response.content, path, found, words)
    for file in var.rglob("*"):
        if file.is_file() and "cache" not in file.relative_to(var).parts:
            hits(file.read_bytes(), str(file.relative_to(var)), found, words)
    hits(site["log"].encode(), "build log -vv", found, words)
    if site["store"] == "postgis":
        dump = subprocess.run(
            ["pg_dump", "-h", "127.0.0.1", "-U", "postgres", "-n", site["schema"], "test"],
            capture_output=True,
            check=True,
        ).stdout
        assert b"CREATE TABLE" in dump
        hits(dump, "pg_dump", found, words)
    assert found == []


def test_collection_document_shows_legal_basis_and_pseudonymisation(site):
    doc = requests.get(f"{site['url']}/collections/grants?f=json", timeout=30).json()
    assert "pseudonymisation" in doc["keywords"]
    assert "art. 6(1)(e) RGPD" in doc["description"]
    assert "pseudonymisation" in doc["description"]
    report = requests.get(f"{site['url']}/reports/grants", timeout=30).json()
    assert "pseudonymisation" in json.dumps(report, ensure_ascii=False)


def test_k_anonymity_holds_when_recounted(site):
    feats = features(site["url"])
    frame = pd.DataFrame(
        {
            "where": [json.dumps(f["geometry"]) for f in feats],
            "amount": [f["properties"]["amount"] for f in feats],
        }
    )
    sizes = frame.groupby(["where", "amount"], dropna=False).size()
    assert sizes.min() >= SPEC["privacy"]["k_anonymity"]["k"]
    assert len(frame) < len(individuals())  # rare combinations were suppressed
    report = requests.get(f"{site['url']}/reports/grants", timeout=30).json()
    kan = report["privacy"]["k_anonymity"]
    assert kan["k_achieved"] == int(sizes.min())
    assert kan["suppressed_rows"] == len(individuals()) - len(frame)


def pseudonyms(url: str) -> set[str]:
    return {f["properties"]["beneficiary"] for f in features(url)}


@pytest.fixture(scope="module")
def rebuilt(shared_data, tmp_path_factory) -> dict:
    """Two more GeoPackage builds of the same source: one with the same key, one with another."""
    root = tmp_path_factory.mktemp("privkeys")
    return {
        "again": make_site(root / "again", shared_data, "gpkg", KEY_A, None),
        "other": make_site(root / "other", shared_data, "gpkg", KEY_B, None),
    }


def stored(built: dict) -> set[str]:
    path = built["root"] / "var/store/grants/current.gpkg"
    with sqlite3.connect(path) as con:
        return {r[0] for r in con.execute("SELECT beneficiary FROM grants")}


def test_pseudonyms_stable_with_one_key_and_different_with_another(site, rebuilt):
    raw = {r["person_id"] for r in individuals()}
    mine = pseudonyms(site["url"])
    assert mine and not (mine & raw)
    assert stored(rebuilt["again"]) == mine
    assert not (stored(rebuilt["other"]) & mine)


def test_spec_publishing_free_text_or_qi_without_k_is_refused_by_check(tmp_path, shared_data):
    spec = json.loads(json.dumps(SPEC))
    spec["conform"]["fields"].append({"name": "comment"})
    bad_qi = json.loads(json.dumps(SPEC))
    del bad_qi["privacy"]["k_anonymity"]["k"]
    for name, content in (("a", spec), ("b", bad_qi)):
        folder = tmp_path / name / "collections/social"
        folder.mkdir(parents=True)
        (folder / "grants.yml").write_text(yaml.safe_dump(content, allow_unicode=True))
        env = cli_env(
            tmp_path / name / "var",
            shared_data,
            GEOPUBLISH_COLLECTIONS_DIR=str(tmp_path / name / "collections"),
        )
        result = run_cli(env, "check")
        assert result.returncode != 0
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, lines
        assert ("free-text field 'comment'" if name == "a" else "privacy.k_anonymity.k") in lines[0]


def test_key_never_on_disk(site):
    for file in (site["root"] / "var").rglob("*"):
        if file.is_file():
            assert KEY_A.encode() not in file.read_bytes(), file
    assert not any(KEY_A in p.read_text(errors="ignore") for p in REPO.glob("*.yml"))
