"""Row validation with Great Expectations 1.x: a table that passes, tables that fail, and edge cases."""

import pandas as pd
import pytest

from synth_assets.core.validation import ExpectationFailure, validate_rows


def _rows(**overrides):
    frame = pd.DataFrame(
        {
            "id": ["a", "b", "c"],
            "parent_id": [None, "a", "b"],
            "root_id": ["a", "a", "a"],
            "origin": ["human", "synthetic", "synthetic"],
            "generation": [0, 1, 1],
            "domain": ["code", "math", "general"],
            "category": ["lists", "rates", "writing"],
            "instruction": ["Sum a list.", "Find the speed.", "Write a haiku."],
            "response": ["sum(xs)", "72 km/h", "Quiet pond..."],
        }
    )
    return frame.assign(**overrides)


def test_valid_rows_pass():
    report = validate_rows(_rows())
    assert report.passed and report.failures == ()
    assert report.rows == 3
    assert report.expectations == 20  # 7 exist + 7 not null + 2 in set + 1 between + 2 lengths + 1 unique
    assert report.detail == "all 20 expectations hold on 3 rows"


def test_each_broken_rule_is_reported_with_its_column_count_and_values():
    report = validate_rows(
        _rows(
            id=["a", "a", "c"],
            origin=["human", "robot", "synthetic"],
            domain=["code", "math", "poetry"],
            generation=[0, -1, 1],
            response=["sum(xs)", "", None],
        )
    )
    assert not report.passed
    assert set(report.failures) == {
        ExpectationFailure("expect_column_values_to_be_unique", "id", 2, ("'a' (x2)",)),
        ExpectationFailure("expect_column_values_to_be_in_set", "origin", 1, ("'robot'",),
                           "one of ['human', 'synthetic']"),
        ExpectationFailure("expect_column_values_to_be_in_set", "domain", 1, ("'poetry'",),
                           "one of ['code', 'general', 'math']"),
        ExpectationFailure("expect_column_values_to_be_between", "generation", 1, ("-1",), "at least 0"),
        ExpectationFailure("expect_column_value_lengths_to_be_between", "response", 1, ("'' (0 characters)",),
                           "1 to 20000"),
        ExpectationFailure("expect_column_values_to_not_be_null", "response", 1, ("None",)),
    }
    # the message names each rule, how many rows break it, one value, and what was expected
    assert "expect_column_values_to_be_in_set(origin): 1 row, e.g. 'robot' (expected one of ['human', 'synthetic'])" \
        in report.detail
    assert "expect_column_value_lengths_to_be_between(response): 1 row, e.g. '' (0 characters) (expected 1 to 20000)" \
        in report.detail
    table = report.failures_frame()
    assert list(table.columns) == ["expectation", "column", "unexpected_count", "sample"]
    assert len(table) == 6


def test_a_missing_column_fails_once_without_errors_from_its_other_expectations():
    report = validate_rows(_rows().drop(columns=["domain"]))
    assert report.failures == (
        ExpectationFailure("expect_column_to_exist", "domain", None, ("column is missing",)),
    )


def test_text_length_bounds_and_allowed_domains_are_parameters():
    report = validate_rows(_rows(), max_len=13, allowed_domains=("code", "math", "general", "poetry"))
    (failure,) = report.failures
    assert (failure.column, failure.unexpected_count) == (
        "instruction",
        2,
    )  # "Find the speed." and "Write a haiku."
    assert validate_rows(_rows(domain=["poetry"] * 3), allowed_domains=("poetry",)).passed


def test_a_text_generation_column_is_reported_not_raised():
    report = validate_rows(_rows(generation=["0", "1", "1"]))
    (failure,) = report.failures
    assert failure.column == "generation" and failure.unexpected_count is None
    assert "same type" in failure.sample[0]


def test_empty_frames_pass_with_a_note():
    for frame in (pd.DataFrame(), _rows().iloc[0:0]):
        report = validate_rows(frame)
        assert report.passed and report.rows == 0
        assert report.detail == "no rows to validate (columns not checked)"


def test_bounds_are_validated():
    with pytest.raises(ValueError, match="min_len <= max_len"):
        validate_rows(_rows(), min_len=5, max_len=2)
