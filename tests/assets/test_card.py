"""The dataset card: rendering rules on literal facts, then the asset on the whole graph, read back
the way the Hub and `datasets` read it."""

from __future__ import annotations

import base64
import json

import pandas as pd
import pytest
import yaml

from resources.stats import collect_stats
from synth_assets.core.dataset_card import (
    CardFacts,
    FunnelStage,
    GateFact,
    JudgeFilterFacts,
    ReviewFacts,
    StageFilter,
    diversity_png,
    funnel_png,
    funnel_segments,
    render_card,
    size_category,
    stage_diversity,
)
from tests.pipeline_fixtures import run_pipeline

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _rows(teacher: str = "rules:rule-based-v1") -> pd.DataFrame:
    return pd.DataFrame([
        {"id": "h1", "origin": "human", "generation": 0, "technique": "human", "teacher": None, "domain": "general",
         "instruction": "Explain tides.", "response": "The moon pulls the sea toward it."},
        {"id": "h2", "origin": "human", "generation": 0, "technique": "human", "teacher": None, "domain": "math",
         "instruction": "Add 2 and 3.", "response": "2 + 3 = 5."},
        {"id": "s1", "origin": "synthetic", "generation": 1, "technique": "evol_instruct", "teacher": teacher,
         "domain": "code", "instruction": "Write f.", "response": "def f():\n    return 1"},
    ])


def _facts(**overrides) -> CardFacts:
    base = {
        "rows": _rows(),
        "data_file": "training_set.parquet",
        "filters": [StageFilter("deduplicated_corpus", {"minhash.threshold": 0.8, "semantic_config.threshold": 0.9},
                                frozenset({"semantic_config.threshold"}), 10, 7, {"near_duplicate": 2, "exact_duplicate": 1})],
        "gates": [GateFact("refusal_rate", "mixed_training_set", "passed", 0.0,
                           {"max_rate": (0.02, "default: project heuristic")}),
                  GateFact("mix_ratio", "mixed_training_set", "failed", 0.6,
                           {"target": (0.8, "configured in mixed_training_set's run config (human_fraction)"),
                            "tolerance": (0.01, "default: one point")}),
                  GateFact("vendi_score", "mixed_training_set", "not evaluated")],
        "target_human_fraction": 0.7,
    }
    return CardFacts(**{**base, **overrides})


def _header(card: str) -> dict:
    assert card.startswith("---\n")
    return yaml.safe_load(card.split("---\n")[1])


@pytest.mark.parametrize(("rows", "label"), [(0, "n<1K"), (999, "n<1K"), (1_000, "1K<n<10K"), (250_000, "100K<n<1M")])
def test_size_categories_follow_the_hub_buckets(rows, label):
    assert size_category(rows) == label


def test_the_header_has_what_the_hub_reads():
    header = _header(render_card(_facts()))
    assert header["license"] == "apache-2.0"
    assert header["task_categories"] == ["text-generation"]
    assert header["language"] == ["en"]
    assert header["size_categories"] == ["n<1K"]
    assert header["configs"] == [{"config_name": "default", "data_files": [{"split": "train", "path": "training_set.parquet"}]}]


def test_the_preference_pairs_are_their_own_config_and_section_only_when_exported():
    assert "## Preference pairs" not in render_card(_facts())
    pairs = pd.DataFrame([
        {"operation": "verifier", "domain": "code", "prompt_origin": "human", "score_margin": None,
         "rejected_reason": "test_failure"},
        {"operation": "judge", "domain": "general", "prompt_origin": "synthetic", "score_margin": 5.0,
         "rejected_reason": "low_judge_score"},
    ])
    card = render_card(_facts(preferences=pairs, preference_file="preference_pairs.parquet"))
    header = _header(card)
    assert header["configs"][1] == {"config_name": "preference_pairs",
                                    "data_files": [{"split": "train", "path": "preference_pairs.parquet"}]}
    assert {"dpo", "preference"} <= set(header["tags"])
    assert "2 pairs: 1 on human-written prompts (50.0%), 1 on synthetic prompts." in card
    assert "| verifier | code | 1 |" in card and "| judge | general | 1 |" in card
    assert "score margin median 5" in card and "| test_failure | 1 | 50.0% |" in card


def test_every_filter_shows_its_settings_and_what_it_removed():
    card = render_card(_facts())
    assert "`minhash.threshold` = 0.8" in card
    assert "`semantic_config.threshold` = 0.9 (set for this run)" in card
    assert "10 rows in, 7 kept" in card
    assert "near_duplicate 2, exact_duplicate 1" in card


def test_the_gates_table_shows_each_threshold_in_force_and_where_it_came_from():
    card = render_card(_facts())
    assert "| refusal_rate | mixed_training_set | passed | 0 | max_rate | 0.02 | default: project heuristic |" in card
    assert ("| mix_ratio | mixed_training_set | failed | 0.6 | target | 0.8 | configured in mixed_training_set's "
            "run config (human_fraction) |") in card
    assert "|  |  |  |  | tolerance | 0.01 | default: one point |" in card  # the same check's next threshold
    assert "| vendi_score | mixed_training_set | not evaluated | - | - | - | - |" in card


def test_counts_mix_provenance_and_diversity_are_in_the_card():
    card = render_card(_facts())
    assert "3 rows: 2 human rows (66.7%) and 1 synthetic rows (33.3%) (target 70% human)" in card
    assert "| 1 | synthetic | evol_instruct | 1 |" in card
    assert "| rules:rule-based-v1 | 1 | 100.0% |" in card
    assert "| all | 3 |" in card and "| human | 2 |" in card and "| synthetic | 1 |" in card


def test_the_rules_teacher_is_named_as_not_a_language_model_and_only_then():
    assert "which is not a language model" in render_card(_facts())
    assert "not a language model" not in render_card(_facts(rows=_rows("openai:llama-3.1-8b")))


def test_the_review_section_says_whether_the_export_has_the_decisions():
    decided = ReviewFacts(queued=10, decided=4, accepted=2, rejected=1, edited=1, agreement=0.625, in_export=False)
    card = render_card(_facts(review=decided))
    assert "Agreement with the automatic gates: 62.5% (an accept counts 1, an edit 0.5, a reject 0)" in card
    assert "does not include them" in card
    assert "People reviewed 4 rows" in card
    waiting = render_card(_facts(review=ReviewFacts(10, 0, 0, 0, 0, None)))
    assert "10 synthetic rows are queued for review; nobody has decided on any yet." in waiting
    assert "No person has reviewed rows of this set yet." in waiting


def test_the_judge_section_counts_each_rule_and_reports_agreement_before_and_after_calibration():
    fit = {"domain": "general", "status": "calibrated", "default_threshold": 6.0, "threshold": 8.0, "decisions": 40,
           "accepted": 12, "rejected": 28, "agreement_default": 0.8, "agreement": 0.95, "agreement_ci_low": 0.835,
           "agreement_ci_high": 0.986, "precision": 1.0, "threshold_ci_low": 7.0, "threshold_ci_high": 8.0}
    few = {**fit, "domain": "code", "status": "too_few_decisions", "threshold": 6.0, "decisions": 3, "accepted": 1,
           "agreement": 0.667, "agreement_default": 0.667, "agreement_ci_low": None, "agreement_ci_high": None,
           "precision": None, "threshold_ci_low": None, "threshold_ci_high": None}
    judge = JudgeFilterFacts(6.0, 0.8, {"low_judge_score": 30, "below_top_fraction": 12, "sibling_selected": 5},
                             {"default": 20, "calibrated from 40 decisions": 90, "human review": 40}, [few, fit])
    card = render_card(_facts(judge=judge))
    assert "`judge_threshold` = 6" in card and "`keep_top_fraction` = 0.8" in card
    assert ("Rows removed by each rule: the judge threshold 30 (`low_judge_score`), the top fraction 12 "
            "(`below_top_fraction`), a reviewer's decision 0 (`human_rejected`).") in card
    assert "calibrated from 40 decisions 90, default 20, human review 40" in card
    assert "| general | 40 | 12 | calibrated | 6 -> 8 | 7 to 8 | 80.0% | 95.0% | 83.5% to 98.6% | 100.0% |" in card
    assert "| code | 3 | 1 | too_few_decisions | 6 -> 6 | - | 66.7% | 66.7% | - | - |" in card
    assert "The judge threshold of general (40 decisions) was calibrated" in card
    waiting = render_card(_facts(judge=JudgeFilterFacts(6.0, 1.0)))
    assert "No review decisions on judged rows yet: every domain used the default threshold." in waiting
    assert "was calibrated" not in waiting


def test_an_empty_export_still_renders():
    card = render_card(_facts(rows=_rows().iloc[0:0]))
    assert "0 rows: no rows" in card and _header(card)["size_categories"] == ["n<1K"]


def test_the_funnel_is_a_png():
    png = funnel_png([FunnelStage("seeds", 10, {"quarantined": 2}), FunnelStage("mix", 5, {"a": 1, "b": 2, "c": 3, "d": 4})])
    assert png.startswith(PNG_MAGIC)


def test_the_funnel_names_the_largest_reasons_and_lumps_only_the_smallest():
    # verified_solutions of the shipped data: "other" used to hold wrong_answer 160 and more
    stage = FunnelStage("verified_solutions", 483, {
        "sibling_selected": 981, "test_failure": 187, "low_judge_score": 186, "wrong_answer": 160,
        "disagrees_with_majority": 79, "truncated": 58, "timeout": 3, "memory": 3})
    segments = funnel_segments(stage)
    assert segments == [("sibling_selected", 981), ("test_failure", 187), ("low_judge_score", 186),
                        ("wrong_answer", 160), ("disagrees_with_majority", 79), ("truncated", 58), ("other", 6)]
    # nothing is lumped when the small reasons are not small next to the stage's rows
    assert funnel_segments(FunnelStage("mix", 5, {"a": 1, "b": 2, "c": 3, "d": 4})) == [
        ("d", 4), ("c", 3), ("b", 2), ("a", 1)]
    # a lone small reason keeps its name, and the largest reason is never lumped
    assert funnel_segments(FunnelStage("s", 1000, {"big": 500, "tiny": 1})) == [("big", 500), ("tiny", 1)]
    assert funnel_segments(FunnelStage("s", 1000, {"x": 5, "y": 2, "z": 1})) == [("x", 5), ("other", 3)]


def test_stage_diversity_compares_equal_samples_and_sees_repetition():
    varied = [f"task {i} about {w} and {v}" for i, (w, v) in enumerate(zip("abcdefghij" * 3, "klmnopqrst" * 3, strict=True))]
    repeated = ["write a function that adds two numbers"] * 40
    stages = stage_diversity({"varied": varied, "repeated": repeated, "empty": []})
    assert [s.stage for s in stages] == ["varied", "repeated"]  # an empty stage is left out
    assert {s.rows for s in stages} == {30}  # the smaller stage's size, for both
    by_stage = {s.stage: s for s in stages}
    assert by_stage["varied"].distinct_2 > by_stage["repeated"].distinct_2
    assert by_stage["varied"].compression_ratio < by_stage["repeated"].compression_ratio
    assert diversity_png(stages).startswith(PNG_MAGIC)


# --- the asset, on the whole graph --------------------------------------------------------------


@pytest.fixture(scope="module")
def built(shipped_run, tmp_path_factory):
    """The card of the session's shared run (its run config sets the semantic threshold), then, on a
    copy of its folder, a reviewer rejects one queued row of the mix (the queue may also hold rows
    the mix does not) and the decisions and the card are rebuilt, not the export."""
    card = (shipped_run.data_dir / "exports" / "README.md").read_text(encoding="utf-8")
    data_dir, resources = shipped_run.copy(tmp_path_factory.mktemp("card") / "data")
    mix = set(resources["warehouse"].read_table("mixed_training_set")["id"])
    queue = [json.loads(line) for line in (data_dir / "review" / "review_queue.jsonl").read_text().splitlines()]
    queued = next(line for line in queue if line["id"] in mix)
    (data_dir / "review" / "decisions.jsonl").write_text(json.dumps({**queued, "decision": "reject"}) + "\n")
    second = run_pipeline(resources, select=["review_decisions", "reviewed_training_set", "dataset_card"])
    return {"first": shipped_run.result, "second": second, "card": card, "data_dir": data_dir,
            "warehouse": resources["warehouse"]}


def test_the_card_describes_the_export(built):
    assert built["first"].success
    card, warehouse = built["card"], built["warehouse"]
    mix = warehouse.read_table("mixed_training_set")
    header = _header(card)
    assert header["configs"][0]["data_files"][0]["path"] == "training_set.parquet"
    assert f"{len(mix)} rows: {int((mix['origin'] == 'human').sum())} human rows" in card
    assert "`semantic_config.threshold` = 0.95 (set for this run)" in card
    assert "`minhash.threshold` = 0.8," in card
    assert "| mix_ratio | mixed_training_set | passed |" in card
    assert "| target | 0.7 | default of mixed_training_set's human_fraction: MixConfig.human_fraction" in card
    sibling = int(warehouse.query("SELECT count(*) AS n FROM rejects WHERE stage = 'verified_solutions' "
                                  "AND reason = 'sibling_selected'")["n"].iloc[0])
    assert f"sibling_selected {sibling}" in card
    low = int(warehouse.query("SELECT count(*) AS n FROM rejects WHERE stage = 'verified_solutions' "
                              "AND reason = 'low_judge_score'")["n"].iloc[0])
    assert f"Rows removed by each rule: the judge threshold {low} (`low_judge_score`), the top fraction 0" in card
    assert "No review decisions on judged rows yet: every domain used the default threshold." in card
    assert "which is not a language model" in card
    assert "| general | rules:rule-judge-v1 | no: a different model |" in card  # the offline judge is its own model
    assert "Rows per seed batch" in card and "| code |" in card and "| (none) |" in card
    assert (built["data_dir"] / "exports" / "funnel.png").read_bytes().startswith(PNG_MAGIC)


def test_each_stage_is_in_the_card_once_and_the_funnel_names_its_large_reasons(built):
    card = (built["data_dir"] / "exports" / "README.md").read_text(encoding="utf-8")
    for stage in ("seeds", "verified_solutions", "deduplicated_corpus", "mixed_training_set", "reviewed_training_set"):
        assert card.count(f"- **{stage}**") == 1, stage
    stats, _ = collect_stats(built["warehouse"])
    for stage in stats:
        segments = dict(funnel_segments(FunnelStage(stage.stage, stage.rows, stage.dropped)))
        lumped = {reason: n for reason, n in stage.dropped.items() if reason not in segments}
        if lumped:  # what "other" holds is smaller than every reason named
            assert segments["other"] == sum(lumped.values())
            assert all(n > segments["other"] for reason, n in segments.items() if reason != "other"), stage


def test_the_funnel_is_in_the_asset_metadata_as_a_data_uri(built):
    metadata = built["first"].asset_materializations_for_node("dataset_card")[0].metadata
    markdown = metadata["funnel"].value
    prefix = "![rows through the stages](data:image/png;base64,"
    assert markdown.startswith(prefix) and markdown.endswith(")")
    assert base64.b64decode(markdown[len(prefix):-1]).startswith(PNG_MAGIC)


def test_the_diversity_of_each_stage_is_pictured_in_the_metadata(built):
    metadata = built["first"].asset_materializations_for_node("dataset_card")[0].metadata
    picture, table = metadata["diversity_per_stage"].value.split("\n\n", 1)
    prefix = "![diversity per stage](data:image/png;base64,"
    assert picture.startswith(prefix) and base64.b64decode(picture[len(prefix):-1]).startswith(PNG_MAGIC)
    for stage in ("seeds", "evolved_instructions", "verified_solutions", "mixed_training_set"):
        assert f"| {stage} " in table, stage
    assert (built["data_dir"] / "exports" / "diversity.png").read_bytes().startswith(PNG_MAGIC)


def test_datasets_loads_the_export_through_the_card(built, tmp_path):
    from datasets import load_dataset

    exports = built["data_dir"] / "exports"
    # The card's `configs` name the Parquet file: the JSONL beside it is not read twice.
    dataset = load_dataset(str(exports), split="train", cache_dir=str(tmp_path))
    assert len(dataset) == len(built["warehouse"].read_table("mixed_training_set"))
    assert [m["role"] for m in dataset[0]["messages"]] == ["user", "assistant"]


def test_the_card_reports_the_review_and_that_the_export_predates_it(built):
    assert built["second"].success
    card = (built["data_dir"] / "exports" / "README.md").read_text(encoding="utf-8")
    assert "and 1 decided: 0 accepted, 1 rejected" in card
    assert "Agreement with the automatic gates: 0.0%" in card
    assert "does not include them" in card
    assert "- **reviewed_training_set**" in card and "human_rejected 1" in card
