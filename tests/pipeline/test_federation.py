"""Federated layers from the real publisher files: counts computed by hand, download valid.

The expected counts come from the files read with the csv/json modules and rules written
here (COG membership, territory, SIREN/SIRET Luhn, placeholders, masks, required columns),
not from the code under test.
"""

from __future__ import annotations

import csv
import json
import re
import shutil
from pathlib import Path

import geopandas as gpd
import pytest
from frictionless import Resource, Schema
from gpsupport import REPO, cli_env, run_cli

pytestmark = pytest.mark.data
FED = "federation"
LAYERS = {
    "covoiturage_federe": "lieux_covoiturage/schema/published/0.3.1/schema.json",
    "irve_federe": "irve_statique/schema/schema-statique.json",
    "stationnement_federe": "stationnement/schema/schema.json",
}


def luhn(digits: str) -> bool:
    """The Luhn checksum, written out."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        n = int(ch) * (2 if i % 2 else 1)
        total += n - 9 if n > 9 else n
    return total % 10 == 0


@pytest.fixture(scope="module")
def built(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    var = tmp_path_factory.mktemp("fedvar")
    env = cli_env(var, shared_data)
    result = run_cli(env, "build", *LAYERS)
    assert result.returncode == 0, result.stderr
    return {"var": var, "env": env, "data": shared_data}


@pytest.fixture(scope="module")
def cog(shared_data: Path) -> dict:
    communes = json.loads((shared_data / "admin_reference_decoupage_administratif/communes.json")
                          .read_text())  # fmt: skip
    epci = json.loads((shared_data / "admin_reference_decoupage_administratif/epci.json")
                      .read_text())  # fmt: skip
    current = [c for c in communes if c["type"] in ("commune-actuelle", "arrondissement-municipal")]
    return {
        "codes": {c["code"] for c in current},
        "dep": {c["code"]: c["departement"] for c in current},
        "epci": {e["code"]: {m["code"] for m in e["membres"]} for e in epci},
    }


def publisher(var: Path, layer: str, slug: str) -> dict:
    return json.loads((var / FED / layer / slug / "state.json").read_text())["summary"]


def rows(path: Path) -> list[dict]:
    text = path.read_text(encoding="utf-8-sig")
    return list(csv.DictReader(text.splitlines()))


def osm_hours(value: str) -> bool:
    day = "(Mo|Tu|We|Th|Fr|Sa|Su)"
    return value in ("", "24/7") or bool(
        re.fullmatch(
            rf"{day}(-{day})? \d\d:\d\d-\d\d:\d\d(, ?{day}(-{day})? \d\d:\d\d-\d\d:\d\d)*", value
        )
    )


@pytest.mark.parametrize(
    ("slug", "file", "territory"),
    [
        ("cd31_haute_garonne", "cd31_haute_garonne/bnlc_rows_removed_in_37518d2.csv", {"31"}),
        ("cd66_pyrenees_orientales", "cd66_pyrenees_orientales/bnlc_rows_removed_in_b64dd75.csv",
         {"66"}),
        ("collectivite_de_corse", "collectivite_de_corse/bnlc_rows_removed_in_ff3e45c.csv",
         {"2A", "2B"}),
        ("grenoble_alpes_metropole", "grenoble_alpes_metropole/covoiturage.csv",
         ("200040715", "200018166", "243800984")),
    ],
)  # fmt: skip
def test_carpooling_counts_match_hand_rules(built, cog, slug, file, territory):
    src = rows(built["data"] / FED / "lieux_covoiturage/publishers" / file)
    if isinstance(territory, tuple):
        allowed = set().union(*(cog["epci"][e] for e in territory))
    else:
        allowed = {c for c, d in cog["dep"].items() if d in territory}
    by_rule = {"insee_cog": 0, "territoire": 0, "horaires_osm": 0, "siren": 0}
    bad = 0
    for row in src:
        rules = set()
        if row["insee"] not in cog["codes"]:
            rules.add("insee_cog")
        elif row["insee"] not in allowed:
            rules.add("territoire")
        if not osm_hours(row["horaires"]):
            rules.add("horaires_osm")
        if row["source"] and not luhn(row["source"]):
            rules.add("siren")
        bad += bool(rules)
        for r in rules:
            by_rule[r] += 1
    got = publisher(built["var"], "covoiturage_federe", slug)
    assert got["read"] == len(src)
    assert got["quarantined"] == bad
    assert got["valid"] == len(src) - bad
    assert got["rows_by_rule"] == {k: v for k, v in by_rule.items() if v}


def test_grenoble_carpooling_quarantines_the_postcode_and_the_french_hours(built):
    got = publisher(built["var"], "covoiturage_federe", "grenoble_alpes_metropole")
    assert got["by_reason"] == {"horaires:horaires_osm": 1, "insee:insee_cog": 1}
    quarantine = json.loads((built["var"] / FED / "covoiturage_federe" /
                             "grenoble_alpes_metropole" / "quarantine.json").read_text())  # fmt: skip
    reasons = [r for row in quarantine for r in row["reasons"]]
    assert {"field": "insee", "value": "38920", "rule": "insee_cog"}.items() <= reasons[1].items()
    for reason in reasons:
        assert reason["field"] and reason["value"] and reason["rule"]


def test_irve_counts_match_hand_rules(built, cog):
    base = built["data"] / FED / "irve_statique/publishers"
    smmag = rows(base / "smmag_normalise_etalab/irve_normalise_etalab.csv")
    allowed = set().union(*(cog["epci"][e] for e in ("200040715", "200018166", "243800984")))
    bad = {"valeur_factice": 0, "territoire": 0}
    invalid = 0
    for row in smmag:
        rules = set()
        if row["siren_amenageur"] == "123456789":
            rules.add("valeur_factice")
        if row["code_insee_commune"] and row["code_insee_commune"] not in allowed:
            rules.add("territoire")
        invalid += bool(rules)
        for r in rules:
            bad[r] += 1
    got = publisher(built["var"], "irve_federe", "smmag_normalise_etalab")
    assert (got["read"], got["quarantined"]) == (len(smmag), invalid)
    assert got["rows_by_rule"] == {k: v for k, v in bad.items() if v}
    # The portal extracts lack required schema columns (id_pdc_itinerance, …): all refused.
    for slug, file in (("grenoble_alpes_metropole", "irve_metropole.csv"),
                       ("cc_le_gresivaudan", "irve_gresivaudan.csv")):  # fmt: skip
        src = rows(base / slug / file)
        assert "id_pdc_itinerance" not in src[0]
        got = publisher(built["var"], "irve_federe", slug)
        assert (got["read"], got["valid"], got["quarantined"]) == (len(src), 0, len(src))


def test_parking_counts_match_hand_rules(built):
    records = json.loads((built["data"] / FED / "stationnement/publishers/toulouse_metropole/"
                          "parking.json").read_text())  # fmt: skip
    valid = 0
    masked = 0
    for rec in records:
        siret = rec["num_siret"] or ""
        if re.fullmatch(r"\d+X+", siret):
            masked += 1
        ok = bool(re.fullmatch(r"\d{14}", siret)) and luhn(siret) and rec["hauteur_max"] is not None
        valid += ok
    got = publisher(built["var"], "stationnement_federe", "toulouse_metropole")
    assert (got["read"], got["valid"]) == (len(records), valid)
    assert got["rows_by_rule"]["valeur_masquee"] == masked == 7


@pytest.mark.parametrize("layer", LAYERS)
def test_download_validates_with_frictionless_and_holds_only_valid_rows(built, layer):
    folder = built["var"] / FED / layer
    csvs = sorted((folder / "downloads").glob("*.csv"))
    descriptor = json.loads((built["data"] / FED / LAYERS[layer]).read_text())
    schema = Schema.from_descriptor(
        {k: descriptor[k] for k in ("fields", "primaryKey", "missingValues") if k in descriptor}
    )
    report = Resource(path=csvs[-1].name, basepath=str(csvs[-1].parent), schema=schema).validate()
    assert report.valid, [e.message for e in report.tasks[0].errors[:5]]
    summary = json.loads((folder / "layer.json").read_text())
    expected = sum(s["valid"] for s in summary["publishers"].values())
    expected -= len(summary["duplicates"])
    if schema.primary_key:
        expected -= len(summary["collisions"])
    assert len(rows(csvs[-1])) == expected
    served = gpd.read_file(built["var"] / "store" / layer / "current.gpkg", layer=layer)
    assert len(served) == expected
    refused = set()
    for slug in summary["publishers"]:
        for row in json.loads((folder / slug / "quarantine.json").read_text()):
            refused.add((slug, row["source_row"]))
    assert refused and not refused & set(
        zip(served["publisher"], served["source_row"], strict=True)
    )


def test_repeated_charging_point_ids_are_reported_and_suffixed(built):
    src = rows(built["data"] / FED / "irve_statique/publishers/smmag_normalise_etalab/"
               "irve_normalise_etalab.csv")  # fmt: skip
    refused = {
        r["source_row"]
        for r in json.loads(
            (built["var"] / FED / "irve_federe/smmag_normalise_etalab/quarantine.json").read_text()
        )
    }
    seen: dict[str, int] = {}
    repeats = 0
    for n, row in enumerate(src, start=1):
        if n in refused:
            continue
        repeats += row["id_pdc_itinerance"] in seen
        seen[row["id_pdc_itinerance"]] = seen.get(row["id_pdc_itinerance"], 0) + 1
    collisions = json.loads((built["var"] / FED / "irve_federe/layer.json").read_text())[
        "collisions"
    ]
    assert len(collisions) == repeats > 0
    served = gpd.read_file(built["var"] / "store/irve_federe/current.gpkg", layer="irve_federe")
    assert served["id_federe"].is_unique
    assert all(c["given"] in set(served["id_federe"]) for c in collisions)


def test_check_names_file_and_field_of_a_bad_publisher(built, tmp_path):
    collections = tmp_path / "collections"
    shutil.copytree(REPO / "collections" / FED, collections / FED)
    bad = collections / FED / "covoiturage_federe" / "bad_one.yml"
    bad.write_text("name: X\nsiren: '123456789'\nterritory: {departements: ['3']}\nparts: []\n")
    unknown = collections / FED / "covoiturage_federe" / "unknown_place.yml"
    unknown.write_text(
        "name: Y\nsiren: '223100017'\nterritory: {departements: ['99'], communes: ['31999']}\n"
        "parts: [{path: x.csv}]\n"
    )
    env = {**built["env"], "GEOPUBLISH_COLLECTIONS_DIR": str(collections)}
    result = run_cli(env, "check")
    assert result.returncode == 1
    assert f"{bad}: siren:" in result.stderr
    assert f"{bad}: parts:" in result.stderr
    assert f"{bad}: territory:" in result.stderr
    assert f"{unknown}: territory.communes: ['31999'] not in the COG" in result.stderr
    assert f"{unknown}: territory.departements: ['99'] not in the COG" in result.stderr


def test_same_places_from_two_publishers_are_paired_and_the_first_priority_kept(
    shared_data, tmp_path
):
    import yaml

    layer = REPO / "collections" / FED
    specs = tmp_path / "collections" / FED
    (specs / "covoiturage_federe").mkdir(parents=True)
    spec = yaml.safe_load((layer / "covoiturage_federe.yml").read_text())
    spec["federation"]["priorities"] = ["cd66_pyrenees_orientales"]
    (specs / "covoiturage_federe.yml").write_text(yaml.safe_dump(spec, allow_unicode=True))
    own = layer / "covoiturage_federe" / "cd66_pyrenees_orientales.yml"
    shutil.copy(own, specs / "covoiturage_federe")
    second = yaml.safe_load(own.read_text())  # a syndicat re-publishing the same places
    second.update(name="Syndicat des mobilités (test)", siren="253800825")
    (specs / "covoiturage_federe" / "a_syndicat.yml").write_text(
        yaml.safe_dump(second, allow_unicode=True)
    )
    var = tmp_path / "var"
    env = {**cli_env(var, shared_data), "GEOPUBLISH_COLLECTIONS_DIR": str(tmp_path / "collections")}
    result = run_cli(env, "build", "covoiturage_federe")
    assert result.returncode == 0, result.stderr
    src = rows(shared_data / FED / "lieux_covoiturage/publishers/cd66_pyrenees_orientales/"
               "bnlc_rows_removed_in_b64dd75.csv")  # fmt: skip
    summary = json.loads((var / FED / "covoiturage_federe/layer.json").read_text())
    pairs = summary["duplicates"]
    assert len(pairs) == len(src)
    assert {p["kept"]["publisher"] for p in pairs} == {"cd66_pyrenees_orientales"}
    assert all(p["kept"]["source_row"] == p["dropped"]["source_row"] for p in pairs)
    served = gpd.read_file(
        var / "store/covoiturage_federe/current.gpkg", layer="covoiturage_federe"
    )
    assert len(served) == len(src) and set(served["publisher"]) == {"cd66_pyrenees_orientales"}
