"""The shared row helpers: ids, provenance a derived row inherits, and reject rows with a known reason."""

from __future__ import annotations

import pytest

from resources.sandbox import Outcome
from synth_assets.core.rows import RejectReason, derived_row, reject_fields, reject_row, root_row, row_id

SEED = root_row("seed", "s1", "Add two numbers.", "a + b", domain="math", category="arithmetic", generation=0)


def test_a_root_row_is_its_own_root_and_its_id_hashes_its_key_and_content():
    assert SEED["id"] == SEED["root_id"] == row_id("seed", "s1", "Add two numbers.", "a + b")
    assert SEED["parent_id"] is None and SEED["technique"] == SEED["operation"] == "seed" and SEED["round"] == 0
    assert root_row("seed", "s1", "Add two numbers.", "a - b")["id"] != SEED["id"]


def test_a_derived_row_inherits_root_domain_category_and_the_next_generation():
    child = derived_row(SEED, "evol_instruct", "deepen", "1", "Add two big numbers.", technique="evol_instruct")
    assert child["id"] == row_id("evol_instruct", SEED["id"], "deepen", "1", "Add two big numbers.")
    assert (child["parent_id"], child["root_id"]) == (SEED["id"], SEED["id"])
    assert (child["origin"], child["generation"], child["domain"], child["category"]) == ("synthetic", 1, "math", "arithmetic")
    grandchild = derived_row(child, "candidate", "0", "42", inherit=("technique",))
    assert grandchild["generation"] == 1 and grandchild["technique"] == "evol_instruct"  # one pass, one generation


def test_what_a_step_sets_wins_over_what_it_inherits():
    row = derived_row(SEED, "edit", "x", inherit=SEED.keys(), origin="human", generation=0, response="x")
    assert (row["origin"], row["generation"], row["response"], row["instruction"]) == ("human", 0, "x", SEED["instruction"])
    assert row["id"] != SEED["id"] and row["parent_id"] == SEED["id"]


def test_a_reject_row_keeps_the_row_and_records_the_decision():
    rejected = reject_row(SEED, RejectReason.NOT_NOVEL, "ROUGE-L 0.9", related_id="other", score=0.9)
    assert rejected == {**SEED, "reason": "not_novel", "detail": "ROUGE-L 0.9", "related_id": "other", "score": 0.9}
    assert type(rejected["reason"]) is str  # stored as plain text
    assert reject_fields("too_short")["reason"] == "too_short"


def test_a_reason_outside_the_enum_fails_loudly_naming_it():
    with pytest.raises(ValueError, match="reject reason 'too_weird' is not a RejectReason"):
        reject_row(SEED, "too_weird")


def test_every_failed_sandbox_outcome_is_a_reject_reason():
    assert {str(o) for o in Outcome if o != Outcome.PASSED} <= {str(r) for r in RejectReason}
