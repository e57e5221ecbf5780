"""The exported training set, loaded the way a trainer loads it: `datasets` reading the Parquet."""

from __future__ import annotations

import pytest

from synth_assets.core.export import PROVENANCE_FIELDS


@pytest.fixture(scope="module")
def exported(shipped_run, tmp_path_factory):
    """The export of the session's shared run of the shipped data (read only)."""
    from datasets import load_dataset

    parquet = shipped_run.data_dir / "exports" / "training_set.parquet"
    dataset = load_dataset("parquet", data_files=str(parquet), split="train",
                           cache_dir=str(tmp_path_factory.mktemp("hf-cache")))
    return shipped_run.result, dataset, shipped_run.warehouse.read_table("mixed_training_set")


def test_the_export_holds_every_row_of_the_mix_once(exported):
    result, dataset, mix = exported
    assert result.success
    assert len(dataset) == len(mix) > 0
    assert sorted(dataset["id"]) == sorted(mix["id"])


def test_every_row_is_a_user_turn_then_an_assistant_turn(exported):
    _, dataset, mix = exported
    by_id = mix.set_index("id")
    for row in dataset:
        assert [m["role"] for m in row["messages"]] == ["user", "assistant"]
        assert all(m["content"].strip() for m in row["messages"])
        assert row["messages"][0]["content"] == by_id.loc[row["id"], "instruction"]
        assert row["messages"][1]["content"] == by_id.loc[row["id"], "response"]


def test_the_provenance_columns_are_there_and_typed(exported):
    _, dataset, _ = exported
    assert set(dataset.column_names) == {"messages", *PROVENANCE_FIELDS}
    assert dataset.features["generation"].dtype == "int64"
    for column in ("id", "root_id", "origin", "generation", "technique", "operation", "domain", "category"):
        assert None not in dataset[column], column
    assert set(dataset["origin"]) == {"human", "synthetic"}
    synthetic = dataset.filter(lambda row: row["origin"] == "synthetic")
    assert len(synthetic) > 0
    for column in ("parent_id", "teacher", "template_version"):
        assert None not in synthetic[column], column
    assert set(synthetic["generation"]) == {1}
    assert set(dataset.filter(lambda row: row["origin"] == "human")["generation"]) == {0}
