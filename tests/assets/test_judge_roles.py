"""A teacher per role, through real runs of one seed batch with the rules teachers: the judge's model
is in the provenance of every row it judged, and a judge that is also the generator is warned about
in the stage's log and metadata and in the dataset card."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from resources.lineage import format_trace, trace_row
from synth_assets.assets.card import _judge_models
from synth_assets.core.dataset_card import CardFacts, render_card
from synth_assets.core.verify.judge import ASPECTS, parse_judgment
from synth_assets.definitions import build_resources
from synth_assets.graph_run import GraphRun, run_graph
from tests.pipeline_fixtures import copy_inputs

# The general seed batch: its answers are the ones only the judge can check.
STAGES = ["seeds", "candidate_solutions", "verified_solutions"]


def judge_general_batch(tmp_path: Path) -> tuple[GraphRun, dg.DagsterInstance, dict]:
    resources = build_resources(copy_inputs(tmp_path / "data", plant_bad_seeds=False))
    instance = dg.DagsterInstance.ephemeral()
    outcome = run_graph(instance, resources, select=STAGES, batches=["general"])
    assert outcome.success
    return outcome, instance, resources


def card_of(instance: dg.DagsterInstance) -> str:
    return render_card(CardFacts(rows=pd.DataFrame(columns=["origin", "teacher"]), data_file="training_set.parquet",
                                 filters=[], gates=[], judges=_judge_models(instance)))


def judged_rows(resources: dict) -> pd.DataFrame:
    warehouse = resources["warehouse"]
    kept = warehouse.query("SELECT * FROM verified_solutions WHERE verifier = 'judge'")
    dropped = warehouse.query("SELECT * FROM rejects WHERE stage = 'verified_solutions' AND verifier = 'judge' "
                              "AND reason <> 'truncated'")  # a cut-off answer fails before the judge sees it
    return pd.concat([kept.assign(reason=None), dropped], ignore_index=True)


def test_by_default_a_separate_rules_judge_scores_and_is_in_every_judged_rows_provenance(tmp_path: Path) -> None:
    outcome, instance, resources = judge_general_batch(tmp_path)

    metadata = outcome.asset_materializations_for_node("verified_solutions")[0].metadata
    assert metadata["judge_model"].value == "rules:rule-judge-v1" and metadata["teacher_role"].value == "judging"
    assert metadata["self_preference"].value is False and metadata["self_preference_warning"].value == ""
    answers = outcome.asset_materializations_for_node("candidate_solutions")[0].metadata
    assert answers["teacher"].value.startswith("rules:rule-based-v1") and answers["teacher_role"].value == "answering"

    rows = judged_rows(resources)
    assert len(rows) > 10 and set(rows["reason"].dropna()) >= {"low_judge_score", "sibling_selected"}
    assert (rows["judge_model"] == "rules:rule-judge-v1").all() and (rows["teacher"] == "rules:rule-based-v1").all()
    scored = rows[rows["reason"] != "judge_unparseable"]
    for aspects, score in zip(scored["judge_aspects"], scored["judge_score"], strict=True):
        assert list(json.loads(aspects)) == list(ASPECTS)
        assert score == pytest.approx(parse_judgment(aspects).overall)  # the 1-10 mean of the aspects
    unparseable = rows[rows["reason"] == "judge_unparseable"]
    assert unparseable["judge_score"].isna().all() and unparseable["score"].isna().all()

    kept = rows[rows["reason"].isna()].iloc[0]
    trace = format_trace(trace_row(resources["warehouse"], kept["id"]))
    assert "judge_model: rules:rule-judge-v1" in trace and "judge_aspects: {" in trace

    card = card_of(instance)
    assert "## Judge" in card and "| general | rules:rule-judge-v1 | no: a different model |" in card
    assert "judged by a separate judge (rules:rule-judge-v1)" in card and "Warning" not in card


def test_a_judge_that_is_the_generator_is_warned_about_in_the_metadata_and_the_card(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JUDGE_BACKEND", "rules")
    monkeypatch.setenv("JUDGE_MODEL", "rule-based-v1")  # the generating rules model

    outcome, instance, resources = judge_general_batch(tmp_path)

    metadata = outcome.asset_materializations_for_node("verified_solutions")[0].metadata
    assert metadata["judge_model"].value == "rules:rule-based-v1" and metadata["self_preference"].value is True
    warning = metadata["self_preference_warning"].value
    assert "self-preference" in warning and "rules:rule-based-v1" in warning
    logged = [entry.user_message for run_id in outcome.run_ids for entry in instance.all_logs(run_id)
              if entry.level == logging.WARNING]
    assert any(warning in message for message in logged)
    rows = judged_rows(resources)
    assert len(rows) > 10 and (rows["judge_model"] == rows["teacher"]).all()

    card = card_of(instance)
    assert f"| general | rules:rule-based-v1 | {warning} |" in card
    assert "**Warning: the judge also wrote what it judged in some seed batches.**" in card
    assert "**General-domain answers of seed batches general were judged by the model that wrote them**" in card
