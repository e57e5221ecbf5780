"""Attribute samplers in a real Dagster run: conditioned generation rows keep their combination
through verification, re-runs draw the same ones, a bad file stops the stage naming the field, and
the card shows the joint coverage."""

from __future__ import annotations

import shutil

import pytest

from synth_assets.core.attributes import coverage_lines, decode, joint_coverage, load_attributes
from synth_assets.core.dataset_card import render_card
from synth_assets.definitions import build_resources
from tests.assets.test_card import _facts
from tests.pipeline_fixtures import REPO, run_pipeline

SELECT = ["seeds", "evolved_instructions", "self_instruct_tasks", "candidate_solutions", "verified_solutions"]
RUN_CONFIG = {"ops": {"evolved_instructions": {"config": {"rounds": 1}},
                      "self_instruct_tasks": {"config": {"steps": 1, "prompts_per_step": 4}}}}


def _data(tmp_path, attributes: str | None = None):
    data = tmp_path / "data"
    (data / "seeds").mkdir(parents=True)
    shutil.copy(REPO / "data" / "seeds" / "general.jsonl", data / "seeds" / "general.jsonl")
    if attributes is None:
        shutil.copy(REPO / "data" / "attributes.yaml", data / "attributes.yaml")
    else:
        (data / "attributes.yaml").write_text(attributes, encoding="utf-8")
    return data


@pytest.fixture(scope="module")
def conditioned(tmp_path_factory):
    data = _data(tmp_path_factory.mktemp("attributes"))
    resources = build_resources(data)
    first = run_pipeline(resources, RUN_CONFIG, select=SELECT)
    warehouse = resources["warehouse"]
    tables = {t: warehouse.read_table(t) for t in ("evolved_instructions", "self_instruct_tasks", "verified_solutions")}
    second = run_pipeline(resources, RUN_CONFIG, select=SELECT)
    return first, second, tables, warehouse, data


def test_every_generated_row_holds_a_declared_combination(conditioned):
    first, _, tables, _, data = conditioned
    assert first.success
    space = load_attributes(data / "attributes.yaml")
    declared = {a.name: set(a.values) for a in space.attributes}
    for table in ("evolved_instructions", "self_instruct_tasks"):
        rows = tables[table]
        assert len(rows) > 0, table
        for cell in rows["attributes"]:
            combo = decode(cell)
            assert set(combo) == set(declared) and all(combo[k] in declared[k] for k in combo)
    assert len({tuple(sorted(decode(c).items())) for c in tables["evolved_instructions"]["attributes"]}) > 10


def test_answers_keep_the_combination_and_seeds_have_none(conditioned):
    _, _, tables, _, _ = conditioned
    verified = tables["verified_solutions"]
    evolved = tables["evolved_instructions"].set_index("id")["attributes"]
    from_evolved = verified[verified["parent_id"].isin(evolved.index)]
    assert len(from_evolved) > 0
    assert (from_evolved["attributes"].to_numpy() == evolved.loc[from_evolved["parent_id"]].to_numpy()).all()
    assert verified[verified["technique"] == "seed"]["attributes"].isna().all()


def test_a_rerun_draws_the_same_combinations(conditioned):
    _, second, tables, warehouse, _ = conditioned
    assert second.success
    again = warehouse.read_table("evolved_instructions")
    assert dict(zip(again["id"], again["attributes"], strict=True)) == dict(
        zip(tables["evolved_instructions"]["id"], tables["evolved_instructions"]["attributes"], strict=True))


def test_a_bad_attribute_file_stops_generation_naming_file_line_and_field(tmp_path):
    data = _data(tmp_path, "persona:\n  a student: 2\n  a nurse: -1\n")
    result = run_pipeline(build_resources(data), RUN_CONFIG, select=SELECT)
    assert not result.success
    failures = [e for run in result.results for e in run.all_events if e.is_step_failure]
    message = failures[0].step_failure_data.error.to_string()
    assert f"{data / 'attributes.yaml'}:3: field persona.'a nurse': the weight must be a positive number, got '-1'" \
        in message


def test_the_card_shows_the_joint_coverage(conditioned):
    *_, tables, _, data = conditioned
    space = load_attributes(data / "attributes.yaml")
    lines = coverage_lines(joint_coverage(tables["verified_solutions"]["attributes"], space), space.source)
    card = render_card(_facts(attribute_coverage=tuple(lines)))
    section = card.split("## Attributes\n", 1)[1]
    assert "possible combinations appear" in section and "| persona x audience |" in section
    assert "## Attributes" not in render_card(_facts())
