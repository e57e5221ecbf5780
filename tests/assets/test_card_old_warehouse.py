"""A warehouse written before per-row judge thresholds existed still gets a card."""

from __future__ import annotations

import pandas as pd

from resources.warehouse import Warehouse
from synth_assets.assets.card import _judge_facts


def test_the_judge_facts_of_a_warehouse_without_threshold_columns(tmp_path):
    warehouse = Warehouse(path=str(tmp_path / "synth.duckdb"))
    warehouse.write_table("verified_solutions", pd.DataFrame({"id": ["a"], "judge_score": [7.0]}),
                          {"id": "VARCHAR", "judge_score": "DOUBLE"})
    facts = _judge_facts(warehouse, {"judge_threshold": 6.0}, {"confidence": 0.95})
    assert facts.decided_by == {} and facts.removed == {} and facts.judge_threshold == 6.0
    assert "judge_threshold_source" not in warehouse.read_table("verified_solutions").columns  # only read


def test_the_judge_facts_count_what_decided_each_judged_row_kept_or_rejected(tmp_path):
    warehouse = Warehouse(path=str(tmp_path / "synth.duckdb"))
    columns = {"id": "VARCHAR", "judge_threshold_source": "VARCHAR"}
    warehouse.write_table("verified_solutions", pd.DataFrame(
        {"id": ["a", "b", "c"], "judge_threshold_source": ["default", "human review", None]}), columns)
    warehouse.write_table("rejects", pd.DataFrame(
        {"id": ["d", "e"], "stage": ["verified_solutions", "deduplicated_corpus"],
         "judge_threshold_source": ["default", "default"], "reason": ["low_judge_score", "near_duplicate"]}),
        {**columns, "stage": "VARCHAR", "reason": "VARCHAR"})
    facts = _judge_facts(warehouse, {"judge_threshold": 6.0}, {"confidence": 0.95})
    assert facts.decided_by == {"default": 2, "human review": 1}
    assert facts.removed == {"low_judge_score": 1}
