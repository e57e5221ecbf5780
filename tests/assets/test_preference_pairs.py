"""The preference pairs of a whole run with the rules teacher (the session's shipped run), their
export, and a DPO trainer that trains on that export: TRL's DPOTrainer, a few steps on CPU, with a
tiny model built here."""

from __future__ import annotations

import json
import math

import dagster as dg
import pandas as pd
import pytest

from synth_assets.core.export import PREFERENCE_FIELDS
from synth_assets.core.preferences import VERIFIER_FAILURES, PreferenceConfig


@pytest.fixture
def built(shipped_run):
    assert shipped_run.result.success
    return shipped_run.data_dir, shipped_run.resources, shipped_run.instance


def _table(resources, sql: str) -> pd.DataFrame:
    return resources["warehouse"].query(sql)


def test_the_rules_teacher_yields_pairs_of_both_kinds_on_prompts_the_corpus_kept(built):
    _, resources, _ = built
    pairs = _table(resources, "SELECT * FROM preference_pairs")
    assert set(pairs["operation"]) == {"verifier", "judge"}
    assert {"code", "math"} <= set(pairs.loc[pairs["operation"] == "verifier", "domain"])
    assert pairs["prompt_id"].is_unique  # one pair per prompt
    corpus_tasks = set(_table(resources, "SELECT parent_id FROM deduplicated_corpus")["parent_id"])
    assert set(pairs["prompt_id"]) <= corpus_tasks
    assert (pairs["instruction"].str.strip() != "").all() and (pairs["response"] != pairs["rejected_response"]).all()


def test_each_side_is_a_real_candidate_with_its_verdict(built):
    _, resources, _ = built
    pairs = _table(resources, "SELECT * FROM preference_pairs")
    kept = _table(resources, "SELECT id, parent_id, response, verified, judge_score FROM verified_solutions").set_index("id")
    rejects = _table(resources, "SELECT id, parent_id, response, reason, judge_score FROM rejects "
                                "WHERE stage = 'verified_solutions'").set_index("id")
    for pair in pairs.itertuples():
        chosen = kept.loc[pair.chosen_id] if pair.chosen_id in kept.index else rejects.loc[pair.chosen_id]
        assert chosen["parent_id"] == pair.prompt_id and chosen["response"] == pair.response
        if pair.chosen_id in rejects.index:  # a passing sibling of the kept answer
            assert rejects.loc[pair.chosen_id, "reason"] == "sibling_selected"
        other = rejects.loc[pair.rejected_id]
        assert other["parent_id"] == pair.prompt_id and other["response"] == pair.rejected_response
        assert other["reason"] == pair.rejected_reason
        if pair.operation == "verifier":
            assert pair.rejected_reason in VERIFIER_FAILURES
        else:
            assert pair.score_margin == pair.chosen_score - pair.rejected_score >= PreferenceConfig().min_score_margin
            assert pair.chosen_score == chosen["judge_score"]


def test_the_mix_human_fraction_applies_and_every_dropped_pair_is_in_rejects(built):
    _, resources, instance = built
    pairs = _table(resources, "SELECT prompt_origin, generation FROM preference_pairs")
    human = (pairs["prompt_origin"] == "human").mean()
    assert abs(human - 0.70) < 0.02 and (pairs["generation"] <= 1).all()
    dropped = _table(resources, "SELECT reason, count(*) AS n FROM rejects WHERE stage = 'preference_pairs' GROUP BY 1")
    assert "over_quota" in set(dropped["reason"])
    record = instance.get_latest_materialization_event(dg.AssetKey("preference_pairs")).asset_materialization
    assert record.metadata["rows_in"].value == len(pairs) + int(dropped["n"].sum())
    assert record.metadata["mix_human_fraction"].value == 0.70
    assert record.metadata["mix_settings_source"].value == "mixed_training_set's latest materialization"


def test_the_export_is_trl_conversational_preference_format_with_provenance(built):
    from datasets import load_dataset

    data_dir, resources, _ = built
    pairs = _table(resources, "SELECT * FROM preference_pairs").set_index("id")
    parquet = load_dataset("parquet", data_files=str(data_dir / "exports" / "preference_pairs.parquet"), split="train")
    lines = (data_dir / "exports" / "preference_pairs.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(parquet) == len(lines) == len(pairs) > 0
    assert set(parquet.column_names) == {"prompt", "chosen", "rejected", *PREFERENCE_FIELDS}
    for record in [*parquet, *(json.loads(line) for line in lines)]:
        pair = pairs.loc[record["id"]]
        assert record["prompt"] == [{"role": "user", "content": pair["instruction"]}]
        assert record["chosen"] == [{"role": "assistant", "content": pair["response"]}]
        assert record["rejected"] == [{"role": "assistant", "content": pair["rejected_response"]}]
        assert (record["chosen_id"], record["rejected_id"], record["teacher"]) == (
            pair["chosen_id"], pair["rejected_id"], pair["teacher"])


def test_the_card_describes_the_preference_pairs_as_their_own_config(built):
    data_dir, resources, _ = built
    card = (data_dir / "exports" / "README.md").read_text(encoding="utf-8")
    header = card.split("---\n")[1]
    assert "config_name: preference_pairs" in header and "path: preference_pairs.parquet" in header
    count = len(_table(resources, "SELECT id FROM preference_pairs"))
    assert "## Preference pairs" in card and f"{count} pairs:" in card


def test_dpo_trainer_trains_a_tiny_model_on_the_export(built, tiny_model_dir, tmp_path):
    import torch
    from datasets import load_dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import DPOConfig, DPOTrainer

    data_dir, _, _ = built
    dataset = load_dataset("parquet", data_files=str(data_dir / "exports" / "preference_pairs.parquet"),
                           split="train", cache_dir=str(tmp_path / "hf-cache")).select(range(8))
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    before = [p.detach().clone() for p in model.parameters()]
    args = DPOConfig(output_dir=str(tmp_path / "dpo"), max_steps=3, per_device_train_batch_size=2, learning_rate=1e-3,
                     max_length=256, logging_steps=1, save_strategy="no", report_to=[], use_cpu=True, seed=0)
    trainer = DPOTrainer(model=model, args=args, train_dataset=dataset, processing_class=tokenizer)
    result = trainer.train()
    assert result.global_step == 3
    losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
    assert len(losses) == 3 and all(math.isfinite(loss) for loss in losses)
    assert losses[0] == pytest.approx(math.log(2), abs=1e-3)  # policy == reference at step one: -log sigmoid(0)
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))


def test_the_mix_run_config_is_the_one_source_of_the_human_fraction(shipped_run, tmp_path):
    """It rebuilds the mix and the pairs at another human fraction, on a copy of the run."""
    from synth_assets.assets.curation import mixed_training_set
    from synth_assets.assets.preferences import preference_assets

    data_dir, resources = shipped_run.copy(tmp_path / "data")
    instance = dg.DagsterInstance.ephemeral()
    # The assets alone, without the mix's gates: a fraction of 0.5 fails relative_diversity on this data.
    again = dg.materialize([mixed_training_set, *preference_assets], instance=instance, resources=resources,
                           run_config={"ops": {"mixed_training_set": {"config": {"human_fraction": 0.5}}}})
    assert again.success
    pairs = _table(resources, "SELECT prompt_origin FROM preference_pairs")
    assert abs((pairs["prompt_origin"] == "human").mean() - 0.5) < 0.02
    record = instance.get_latest_materialization_event(dg.AssetKey("preference_pairs")).asset_materialization
    assert record.metadata["mix_human_fraction"].value == 0.5
    exported = (data_dir / "exports" / "preference_pairs.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(exported) == len(pairs)
