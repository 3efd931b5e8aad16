"""Every real spec loads; the loader reports every problem with file and field."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import yaml
from gpsupport import REPO, cli_env, run_cli

from geopublish.catalog import load_catalog
from geopublish.catalog.loader import json_schema

SPEC = {
    "title": "T",
    "description": "D",
    "licence": {"name": "Licence Ouverte"},
    "attribution": "A",
    "source": {"parts": [{"path": "x.geojson"}]},
}


def write(folder: Path, name: str, spec: dict) -> Path:
    path = folder / "theme" / f"{name}.yml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(spec, allow_unicode=True))
    return path


def test_every_real_spec_is_valid_with_unique_ids_equal_to_stems():
    catalog = load_catalog(REPO / "collections")
    assert catalog.problems == []
    files = sorted((REPO / "collections").glob("*/*.yml"))
    assert len(catalog.specs) == len(files) >= 7
    for cid, path in catalog.files.items():
        assert path.stem == cid


def test_real_specs_validate_against_the_emitted_json_schema():
    schema = json.loads(json_schema())
    for path in sorted((REPO / "collections").glob("*/*.yml")):
        jsonschema.validate(yaml.safe_load(path.read_text()), schema)


def test_committed_json_schema_is_up_to_date():
    assert (REPO / "config" / "collection.schema.json").read_text() == json_schema()


def test_typo_key_is_named_with_its_file(tmp_path):
    spec = dict(SPEC, conform={"fields": [{"name": "code", "tpye": "string"}]})
    path = write(tmp_path, "layer", spec)
    catalog = load_catalog(tmp_path)
    assert catalog.problems == [f"{path}: conform.fields[0].tpye: unknown key (typo?)"]


def test_all_problems_of_all_files_are_reported(tmp_path):
    write(tmp_path, "one", {**SPEC, "colour": "red"})
    write(tmp_path, "two", {k: v for k, v in SPEC.items() if k != "title"})
    write(tmp_path, "three", {**SPEC, "id": "other"})
    problems = load_catalog(tmp_path).problems
    assert len(problems) == 3
    assert any("one.yml: colour: unknown key" in p for p in problems)
    assert any("two.yml: title: Field required" in p for p in problems)
    assert any(
        "three.yml: id: 'other' differs from the file name stem 'three'" in p for p in problems
    )


def test_cross_file_references_are_checked(tmp_path):
    spec = {
        **SPEC,
        "source": {
            "kind": "derived",
            "derived": {"operation": "epci", "from_collection": "nowhere"},
        },
    }
    write(tmp_path, "epci", spec)
    spec2 = dict(SPEC, conform={"fields": [{"name": "code"}]}, feature_id={"fields": ["cdoe"]})
    write(tmp_path, "other", spec2)
    problems = load_catalog(tmp_path).problems
    assert any(
        "source.derived.from_collection: unknown collection 'nowhere'" in p for p in problems
    )
    assert any(
        "feature_id.fields: ['cdoe'] not among conform.fields ['code']" in p for p in problems
    )


def test_yaml_on_key_pitfall_is_avoided_by_dedupe_fields(tmp_path):
    write(
        tmp_path,
        "layer",
        dict(SPEC, dedupe={"fields": ["code"]}, conform={"fields": [{"name": "code"}]}),
    )
    assert load_catalog(tmp_path).problems == []


def test_check_command_exits_1_and_lists_problems(tmp_path):
    write(tmp_path, "layer", {**SPEC, "colour": "red"})
    env = cli_env(tmp_path / "var", tmp_path, GEOPUBLISH_COLLECTIONS_DIR=str(tmp_path))
    result = run_cli(env, "check")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"error: {tmp_path}/theme/layer.yml: colour: unknown key (typo?)"
    ]


def test_check_command_accepts_the_default_catalogue(tmp_path):
    result = run_cli(cli_env(tmp_path, tmp_path), "check")
    assert result.returncode == 0, result.stderr
    assert "spec(s) valid" in result.stdout
