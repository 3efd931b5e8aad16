"""Encodings: CSVs and DBFs that do not say theirs build right, and the report says it."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import pyogrio
import pytest
import shapely
import yaml
from gpsupport import cli_env, run_cli

NAMES = ["Béziers", "Saint-Étienne-de-Lugdarès", "Nîmes", "Sète", "Ariège"]
WIN = ["Œuvre « Cœur »", "Prix 5 €", "Aÿ – l’étang"]  # only Windows-1252 and Unicode have these


def spec(path: str, csv: dict | None, **source: object) -> dict:
    return {
        "title": "t",
        "description": "t",
        "licence": {"name": "Licence Ouverte 2.0"},
        "attribution": "test",
        "source": {"parts": [{"path": path}], "crs": "EPSG:4326", "csv": csv, **source},
        "conform": {
            "fields": [{"name": "code", "type": "string"}, {"name": "nom", "type": "string"}]
        },
        "feature_id": {"fields": ["code"]},
        "geometry": {"type": "Point", "promote_to_multi": False},
    }


def csv_text(names: list[str]) -> str:
    rows = [f"{i};{n};{3 + (i % 1000) / 1000};43.5" for i, n in enumerate(names, 1)]
    return "code;nom;lon;lat\r\n" + "\r\n".join(rows) + "\r\n"


LATE = [f"Rue numero {i} du quartier nord" for i in range(12_000)]
CSV_GEOMETRY = {"x": "lon", "y": "lat", "delimiter": ";"}
CASES = {
    # id: (file, bytes, names, reported)
    "latin1_csv": ("latin1.csv", "latin-1", NAMES, "cp1252"),
    "cp1252_csv": ("cp1252.csv", "cp1252", NAMES + WIN, "cp1252"),
    "utf8_bom_csv": ("bom.csv", "utf-8-sig", NAMES + WIN, "utf-8-sig"),
    "utf16_csv": ("utf16.csv", "utf-16", NAMES + WIN, "utf-16"),
    # accents only past the detection sample: the first guess (UTF-8) fails, the second fits
    "late_latin1_csv": ("late.csv", "latin-1", LATE + NAMES, "cp1252"),
}
DBFS = {
    "latin1_dbf": ("latin1/l.shp", "latin-1", NAMES, "cp1252"),
    "cp1252_dbf": ("cp1252/w.shp", "cp1252", NAMES + WIN, "cp1252"),
    "utf8_dbf": ("utf8/u.shp", "utf-8", NAMES + WIN, "utf-8"),
    "late_cp1252_dbf": ("late/l.shp", "cp1252", LATE[:4000] + WIN, "cp1252"),
}


def write_dbf_without_encoding(path: Path, names: list[str], encoding: str) -> None:
    """A shapefile whose DBF holds ``encoding`` bytes, with no .cpg and LDID 0."""
    path.parent.mkdir(parents=True)
    gdf = gpd.GeoDataFrame(
        {"code": [str(i) for i in range(1, len(names) + 1)], "nom": names},
        geometry=[shapely.Point(3 + (i % 1000) / 1000, 43.5) for i in range(1, len(names) + 1)],
        crs="EPSG:4326",
    )
    gdal = {"latin-1": "ISO-8859-1", "cp1252": "CP1252", "utf-8": "UTF-8"}[encoding]
    pyogrio.write_dataframe(gdf, path, encoding=gdal)
    path.with_suffix(".cpg").unlink(missing_ok=True)
    dbf = path.with_suffix(".dbf")
    raw = bytearray(dbf.read_bytes())
    raw[29] = 0
    dbf.write_bytes(bytes(raw))
    assert names[0].encode(encoding) in raw


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("enc")
    data = root / "data"
    data.mkdir()
    specs = root / "collections/test"
    specs.mkdir(parents=True)
    for cid, (name, codec, names, _) in CASES.items():
        (data / name).write_bytes(csv_text(names).encode(codec))
        content = spec(name, CSV_GEOMETRY)
        (specs / f"{cid}.yml").write_text(yaml.safe_dump(content, allow_unicode=True))
    for cid, (name, codec, names, _) in DBFS.items():
        write_dbf_without_encoding(data / name, names, codec)
        (specs / f"{cid}.yml").write_text(yaml.safe_dump(spec(name, None), allow_unicode=True))
    env = cli_env(root / "var", data, GEOPUBLISH_COLLECTIONS_DIR=str(root / "collections"))
    result = run_cli(env, "build")
    return {"root": root, "env": env, "result": result, "data": data}


def report(var: Path, cid: str) -> dict:
    files = sorted((var / "reports" / cid).glob("*.json"))
    return json.loads(files[-1].read_text())


@pytest.mark.parametrize("cid", [*CASES, *DBFS])
def test_undeclared_encoding_is_detected_and_reported(built, cid):
    assert built["result"].returncode == 0, built["result"].stderr
    name, _, names, reported = {**CASES, **DBFS}[cid]
    stored = gpd.read_file(built["root"] / f"var/store/{cid}/current.gpkg", layer=cid)
    assert dict(zip(stored["code"], stored["nom"], strict=True)) == {
        str(i): n for i, n in enumerate(names, 1)
    }
    encodings = report(built["root"] / "var", cid)["encodings"]
    assert list(encodings.values()) == [reported]
    assert list(encodings)[0].endswith(name)


def test_wrong_declared_encoding_is_one_line_naming_file_row_and_bytes(built):
    specs = built["root"] / "collections/test"
    content = spec("latin1.csv", CSV_GEOMETRY, encoding="utf-8")
    (specs / "wrong.yml").write_text(yaml.safe_dump(content, allow_unicode=True))
    try:
        result = run_cli(built["env"], "build", "wrong")
    finally:
        (specs / "wrong.yml").unlink()
    assert result.returncode == 1
    assert "Traceback" not in result.stderr + result.stdout
    lines = result.stderr.strip().splitlines()
    path = built["data"] / "latin1.csv"
    assert lines == [
        f"error: collection 'wrong': {str(path)!r} row 2: bytes b'1;B\\xe9ziers;3.' are not "
        "valid 'utf-8' (the declared source.encoding); set source.encoding to the file's "
        "encoding (e.g. 'cp1252', 'latin1', 'utf-16')"
    ]
