import math

from synth_assets.core.curation import CurationConfig, curate_corpus, unfit_for_corpus
from synth_assets.core.dedup import BenchmarkIndex

BENCH_Q = "A farmer plants seven rows of tulips with twelve bulbs in each row and then gives away nineteen bulbs to a neighbour"


def row(rid, instruction, origin="synthetic", verified=True, score=None, generation=1):
    return {"id": rid, "instruction": instruction, "response": "ok", "origin": origin, "verified": verified,
            "judge_score": score, "generation": 0 if origin == "human" else generation}


def test_each_step_removes_what_it_should_and_names_the_survivor():
    rows = [
        row("s1", "Explain how photosynthesis turns light into sugar inside the leaves of green plants today"),
        row("h1", "Explain how photosynthesis turns light into sugar inside the leaves of green plants today!", origin="human"),
        row("s2", "Explain how photosynthesis turns light into sugar inside the leaves of green plants tomorrow"),
        row("s3", f"Please solve: {BENCH_Q}. How many bulbs are left?"),
        row("s4", "Write a limerick about a cat who learns to play the violin badly"),
    ]
    outcome = curate_corpus(rows, CurationConfig(semantic=False), exact_duplicates={"s1": "h1"},
                            benchmark=BenchmarkIndex.build([("bench-7", BENCH_Q)]))
    assert [r["id"] for r in outcome.kept] == ["h1", "s4"]
    removed = {r["id"]: (r["reason"], r["related_id"]) for r in outcome.removed}
    assert removed == {
        "s1": ("exact_duplicate", "h1"),
        "s2": ("near_duplicate", "h1"),
        "s3": ("benchmark_contamination", "bench-7"),
    }
    assert outcome.steps_run == ["exact", "near", "decontaminate"]


def test_steps_can_be_turned_off():
    rows = [row("a", "same text here for both rows of the table"), row("b", "same text here for both rows of the table")]
    outcome = curate_corpus(rows, CurationConfig(exact=False, near=False, semantic=False, decontaminate=False))
    assert len(outcome.kept) == 2 and outcome.steps_run == []


def test_rows_the_corpus_gate_would_refuse_are_rejected_with_the_column_and_length():
    rows = [{**row("fine", "Explain tides."), "response": "x" * 50},
            {**row("long", "Explain tides."), "response": "x" * 51},
            {**row("blank", "Explain tides."), "response": "  \n"},
            {**row("null", "Explain tides."), "response": math.nan},  # a NULL read back through pandas
            {**row("long-instruction", "y" * 60), "response": ""}]
    rejected = {r["id"]: (r["reason"], r["detail"], r["score"]) for r in unfit_for_corpus(rows, max_text_chars=50)}
    assert rejected == {
        "long": ("text_too_long", "response has 51 characters, over the limit of 50 (SYNTH_MAX_TEXT_CHARS)", 51.0),
        "blank": ("empty_text", "response is empty", None),
        "null": ("empty_text", "response is empty", None),
        "long-instruction": ("text_too_long", "instruction has 60 characters, over the limit of 50 (SYNTH_MAX_TEXT_CHARS)", 60.0),
    }
