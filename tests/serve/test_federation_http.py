"""A federated layer over HTTP, on both stores: a new publisher, a broken one, the pages."""

from __future__ import annotations

import csv
import subprocess

import pytest
import requests
from fedsupport import LAYER, federated_site
from gpsupport import run_cli
from pgsupport import postgis_dsn  # noqa: F401  (the fixture)

pytestmark = pytest.mark.data
HEADER = (
    "id_local,nom_lieu,ad_lieu,com_lieu,insee,type,date_maj,ouvert,source,Xlong,Ylat,"
    "nbre_pl,nbre_pmr,duree,horaires,proprio,lumiere,comm"
)
GERS = [  # three places in Gers communes (not among the shared files)
    "A1,Aire d'Auch,,Auch,32013,Aire de covoiturage,2024-01-10,true,,0.5860,43.6460,20,1,,24/7,,true,",
    "A2,Aire de Condom,,Condom,32107,Aire de covoiturage,2024-01-10,vrai,,0.3720,43.9580,12,,,,,,",
    "A3,Aire de Fleurance,,Fleurance,32132,Parking,2024-01-10,TRUE,,0.6630,43.8480,8,0,,,,,",
]


def items(url: str, **params: object) -> dict:
    r = requests.get(f"{url}/collections/{LAYER}/items", params={"f": "json", **params}, timeout=60)
    assert r.status_code == 200, r.text
    return r.json()


def matched(url: str, publisher: str) -> int:
    return items(url, publisher=publisher, limit=1)["numberMatched"]


@pytest.fixture(scope="module", params=["gpkg", "postgis"])
def site(request, shared_data, tmp_path_factory):
    """The carpooling layer with two shared publishers, in a writable source root."""
    yield from federated_site(request, shared_data, tmp_path_factory)


def test_new_publisher_appears_then_a_broken_file_keeps_its_last_good_rows(site):
    url = site["url"]
    assert matched(url, "cd31_haute_garonne") == 41
    assert matched(url, "cd66_pyrenees_orientales") == 25
    file = site["data"] / "local" / "gers.csv"
    file.write_text("\n".join([HEADER, *GERS]) + "\n", encoding="utf-8")
    (site["specs"] / LAYER / "cd32_gers.yml").write_text(
        "name: Département du Gers\nsiren: '223200015'\nterritory: {departements: ['32']}\n"
        "parts:\n  - path: local/gers.csv\n"
    )
    result = run_cli(site["env"], "refresh")
    assert result.returncode == 0, result.stderr
    assert matched(url, "cd32_gers") == 3
    assert matched(url, "cd31_haute_garonne") == 41
    registry = requests.get(f"{url}/federation/{LAYER}/publishers?f=json", timeout=30).json()
    outcomes = {p["publisher"]: p["outcome"] for p in registry["publishers"]}
    assert outcomes == {  # the others were not read nor validated again
        "cd31_haute_garonne": "unchanged",
        "cd66_pyrenees_orientales": "unchanged",
        "cd32_gers": "published",
    }
    latest = requests.get(f"{url}/collections/{LAYER}/changes?f=json", timeout=30).json()["latest"]
    change = requests.get(f"{url}/collections/{LAYER}/changes/{latest}", timeout=30).json()
    assert change["publishers"]["cd32_gers"] == "published" and change["counts"]["added"] == 3
    assert change["counts"] == {"added": 3, "modified": 0, "removed": 0}
    # Only the new publisher's rows were written: the version derives from the served one.
    path = requests.get(f"{url}/reports/{LAYER}", timeout=30).json()["build_path"]
    assert (path["mode"], path["replaced"]) == ("incremental", ["cd32_gers"])
    assert len(items(url, limit=1000)["features"]) == 41 + 25 + 3
    before = {f["id"] for f in items(url, publisher="cd31_haute_garonne", limit=100)["features"]}
    file.write_bytes(b"\x00\xff garbage, not a table\n")  # the publisher breaks its file
    result = run_cli(site["env"], "refresh")
    assert result.returncode == 0, result.stderr
    assert matched(url, "cd32_gers") == 3  # its last good rows
    after = {f["id"] for f in items(url, publisher="cd31_haute_garonne", limit=100)["features"]}
    assert after == before and matched(url, "cd66_pyrenees_orientales") == 25
    path = requests.get(f"{url}/reports/{LAYER}", timeout=30).json()["build_path"]
    assert (path["mode"], path["replaced"]) == ("incremental", [])  # every row kept as served
    report = requests.get(f"{url}/federation/{LAYER}/publishers/cd32_gers?f=json", timeout=30)
    body = report.json()
    # Unreadable as the schema: no valid row left, a sharp drop -> refused, rows kept.
    assert body["outcome"] == "refused" and body["error"]
    assert [t["outcome"] for t in body["trend"]] == ["published", "refused"]
    history = requests.get(f"{url}/collections/{LAYER}/history?f=json", timeout=30).json()
    last = history["runs"][0]["publishers"]
    assert last["cd32_gers"]["outcome"] == "refused"
    assert last["cd31_haute_garonne"]["outcome"] == "unchanged"
    download = requests.get(f"{url}/federation/{LAYER}/download.csv", timeout=30)
    assert download.status_code == 200
    assert len(list(csv.DictReader(download.text.splitlines()))) == 41 + 25 + 3


def test_publisher_page_in_french_renders_offline_in_chromium(site):
    url = f"{site['url']}/federation/{LAYER}/publishers/cd66_pyrenees_orientales"
    html = requests.get(url, timeout=30).text
    assert 'lang="fr"' in html and "Lignes en quarantaine" in html
    links = [p for p in html.split('"') if p.startswith(("http://", "https://", "//"))]
    assert all(p.startswith(site["url"] + "/") for p in links)  # nothing from elsewhere
    assert "/assets/vendor/bootstrap/" in html
    profile = site["root"] / "chromium"
    dom = subprocess.run(
        ["/usr/bin/chromium", "--headless", "--no-sandbox", "--disable-gpu",
         f"--user-data-dir={profile}", "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
         "--dump-dom", url],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert "Part de lignes valides" in dom.stdout and "100.0%" in dom.stdout
    css = requests.get(site["url"] + "/assets/vendor/bootstrap/dist/css/bootstrap.min.css",
                       timeout=30)  # fmt: skip
    assert css.status_code == 200
    registry = requests.get(f"{site['url']}/federation/{LAYER}/publishers?f=json", timeout=30)
    assert {p["publisher"] for p in registry.json()["publishers"]} >= {
        "cd31_haute_garonne",
        "cd66_pyrenees_orientales",
    }
