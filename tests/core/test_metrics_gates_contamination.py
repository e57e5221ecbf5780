"""The decontamination gate: rows that share a 13-gram with a benchmark item, named with the item."""

import pandas as pd

from synth_assets.core.dedup import BenchmarkIndex
from synth_assets.core.metrics import check_decontamination

QUESTION = "A farmer has 17 sheep and all but 9 run away through a gap in the old stone wall; how many are left?"
INDEX = BenchmarkIndex.build([("bench-1", QUESTION)])


def _rows(instructions):
    return pd.DataFrame({"id": [f"r{i}" for i in range(len(instructions))], "instruction": instructions,
                         "response": ["Nine."] * len(instructions)})


def test_rows_without_a_shared_13_gram_pass():
    result = check_decontamination(_rows(["How many sheep does a farmer keep in winter?"]), INDEX)
    assert result.passed and result.value == 0.0
    assert result.detail == "0 of 1 rows share a 13-gram with 1 benchmark items"


def test_a_contaminated_row_is_named_with_the_item_and_what_to_do():
    result = check_decontamination(_rows(["Fine.", f"Quick one: {QUESTION}"]), INDEX)
    assert not result.passed and result.value == 1.0
    assert result.offenders[["id", "benchmark_id"]].to_dict("records") == [{"id": "r1", "benchmark_id": "bench-1"}]
    assert result.detail.startswith("1 of 2 rows share a 13-gram with 1 benchmark items: r1 with bench-1 ('")
    assert "when deduplicated_corpus runs with decontaminate on" in result.detail
    assert "a row of data/human that overlaps must be rewritten or removed there" in result.detail


def test_an_empty_frame_passes():
    assert check_decontamination(_rows([]), INDEX).passed
