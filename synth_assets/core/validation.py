"""Schema and value validation of instruction rows with Great Expectations 1.x.

`validate_rows` runs one expectation suite over a pandas DataFrame: required columns present and not
null, `origin` and `domain` in their allowed sets, `generation` >= 0, instruction and response
lengths in bounds, unique ids. dagster-ge does not support GX 1.x, so the asset checks call this.

Cost: importing great_expectations takes seconds, so it happens on the first call, not when this
module is imported. The ephemeral context, its pandas data source and the whole-dataframe batch
definition are built once per process (lru_cache; a few milliseconds, but they are the same every
time) and suites are cached per set of parameters; a validation of a small frame then costs tens
of milliseconds. Progress bars are off and analytics disabled, so the checks' logs stay quiet.
"""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import pandas as pd

from synth_assets.core.metrics.thresholds import DEFAULT_THRESHOLDS
from synth_assets.core.text import shorten

__all__ = [
    "ALLOWED_DOMAINS",
    "ALLOWED_ORIGINS",
    "REQUIRED_COLUMNS",
    "ExpectationFailure",
    "ValidationReport",
    "validate_rows",
]

ALLOWED_DOMAINS = ("code", "math", "general")
ALLOWED_ORIGINS = ("human", "synthetic")
# parent_id is empty for seeds and human rows; the rest every row must carry.
REQUIRED_COLUMNS = ("id", "root_id", "origin", "generation", "domain", "instruction", "response")
LENGTH_COLUMNS = ("instruction", "response")
_SAMPLE_VALUES = 5
_SAMPLE_CHARS = 60
_LOCK = threading.Lock()  # one shared data source: validate one frame at a time per process


class ExpectationFailure(NamedTuple):
    """One failed expectation: its GX type, the column, how many values failed, some of them, and
    what was expected of them.

    `unexpected_count` is None when GX could not evaluate the expectation at all (a column of the
    wrong type, say); `sample` then holds GX's error message.
    """

    expectation: str
    column: str
    unexpected_count: int | None
    sample: tuple[str, ...]
    expected: str = ""


@dataclass(frozen=True)
class ValidationReport:
    """What `validate_rows` found: passed, how many rows and expectations, the failures, and a note."""

    passed: bool
    rows: int
    expectations: int
    failures: tuple[ExpectationFailure, ...] = ()
    note: str = ""

    @property
    def detail(self) -> str:
        """One sentence for a check's description."""
        if self.note:
            return self.note
        if self.passed:
            return f"all {self.expectations} expectations hold on {self.rows} rows"
        names = "; ".join(
            f"{f.expectation}({f.column}): "
            + (f"{f.unexpected_count} row{'' if f.unexpected_count == 1 else 's'}" if f.unexpected_count is not None
               else "not evaluated")
            + (f", e.g. {f.sample[0]}" if f.sample else "")
            + (f" (expected {f.expected})" if f.expected else "")
            for f in self.failures
        )
        return (f"{len(self.failures)} of {self.expectations} expectations fail on {self.rows} rows: {names}. "
                "Fix the rows at the stage that made them (the failures table has samples of their values)")

    def failures_frame(self) -> pd.DataFrame:
        """The failures as a table: expectation, column, unexpected_count, sample."""
        return pd.DataFrame(
            [(f.expectation, f.column, f.unexpected_count, "; ".join(f.sample)) for f in self.failures],
            columns=["expectation", "column", "unexpected_count", "sample"],
        ).astype({"unexpected_count": "Int64"})


@functools.lru_cache(maxsize=1)
def _batch_definition() -> Any:
    """A whole-dataframe batch definition on a quiet ephemeral GX context, built once per process."""
    os.environ.setdefault(
        "GX_ANALYTICS_ENABLED", "False"
    )  # older GX reads it; 1.x also takes the config flag
    import great_expectations as gx
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )

    config = DataContextConfig(
        store_backend_defaults=InMemoryStoreBackendDefaults(init_temp_docs_sites=False),
        analytics_enabled=False,
        progress_bars=ProgressBarsConfig(globally=False, metric_calculations=False),
    )
    context = gx.get_context(mode="ephemeral", project_config=config)
    asset = context.data_sources.add_pandas("synth_rows").add_dataframe_asset("rows")
    return asset.add_batch_definition_whole_dataframe("all_rows")


@functools.lru_cache(maxsize=32)
def _suite(
    present: frozenset[str],
    required: tuple[str, ...],
    allowed_domains: tuple[str, ...],
    allowed_origins: tuple[str, ...],
    min_len: int,
    max_len: int,
) -> Any:
    """The expectation suite for a frame with the `present` columns.

    Expectations on a column that is missing are left out: its ExpectColumnToExist already fails,
    and GX would only add an error per expectation.
    """
    _batch_definition()  # a suite needs an active context before it takes expectations
    import great_expectations as gx
    import great_expectations.expectations as gxe

    suite = gx.ExpectationSuite(name="synth_rows")
    for column in required:
        suite.add_expectation(gxe.ExpectColumnToExist(column=column))
        if column in present:
            suite.add_expectation(gxe.ExpectColumnValuesToNotBeNull(column=column))
    value_sets = {"origin": allowed_origins, "domain": allowed_domains}
    for column, values in value_sets.items():
        if column in present:
            suite.add_expectation(gxe.ExpectColumnValuesToBeInSet(column=column, value_set=list(values)))
    if "generation" in present:
        suite.add_expectation(gxe.ExpectColumnValuesToBeBetween(column="generation", min_value=0))
    for column in LENGTH_COLUMNS:
        if column in present:
            suite.add_expectation(
                gxe.ExpectColumnValueLengthsToBeBetween(column=column, min_value=min_len, max_value=max_len)
            )
    if "id" in present:
        suite.add_expectation(gxe.ExpectColumnValuesToBeUnique(column="id"))
    return suite


def _failure(result: Any) -> ExpectationFailure:
    """Translate one failed GX ExpectationValidationResult into an ExpectationFailure."""
    config = result.expectation_config
    column = str(config.kwargs.get("column", ""))
    errors = [
        info.get("exception_message")
        for info in (result.exception_info or {}).values()
        if isinstance(info, dict)
    ]
    if result.exception_info and result.exception_info.get("raised_exception"):
        errors.append(result.exception_info.get("exception_message"))
    errors = [str(e) for e in errors if e]
    details = result.result or {}
    if "unexpected_count" not in details:
        if config.type == "expect_column_to_exist":
            return ExpectationFailure(config.type, column, None, ("column is missing",))
        return ExpectationFailure(
            config.type, column, None, tuple(dict.fromkeys(errors)) or ("GX gave no result",)
        )
    counts = details.get("partial_unexpected_counts") or [
        {"value": v, "count": 1} for v in details.get("partial_unexpected_list", [])
    ]
    lengths = config.type == "expect_column_value_lengths_to_be_between"
    sample = tuple(
        shorten(repr(c["value"]), _SAMPLE_CHARS, "\u2026")
        + (f" ({len(str(c['value']))} characters)" if lengths else "")
        + (f" (x{c['count']})" if c.get("count", 1) > 1 else "")
        for c in counts[:_SAMPLE_VALUES]
    )
    return ExpectationFailure(config.type, column, int(details["unexpected_count"]), sample, _expected(config.kwargs))


def _expected(kwargs: Any) -> str:
    """What an expectation asked of a value, in words: "1 to 20000", "one of ['human', 'synthetic']"."""
    if "value_set" in kwargs:
        return f"one of {sorted(kwargs['value_set'])}"
    low, high = (f"{v:g}" if isinstance(v, float) else v for v in (kwargs.get("min_value"), kwargs.get("max_value")))
    if low is not None and high is not None:
        return f"{low} to {high}"
    if low is not None:
        return f"at least {low}"
    if high is not None:
        return f"at most {high}"
    return ""


def validate_rows(
    frame: pd.DataFrame,
    *,
    allowed_domains: Sequence[str] = ALLOWED_DOMAINS,
    allowed_origins: Sequence[str] = ALLOWED_ORIGINS,
    min_len: int = int(DEFAULT_THRESHOLDS["text_min_len"].value),
    max_len: int = int(DEFAULT_THRESHOLDS["text_max_len"].value),
    required: Sequence[str] = REQUIRED_COLUMNS,
) -> ValidationReport:
    """Validate instruction rows against the row schema with Great Expectations 1.x.

    Required columns must exist and hold no nulls; `origin` and `domain` take only the allowed
    values; `generation` is >= 0; `instruction` and `response`, where present, are `min_len` to
    `max_len` characters long; `id` is unique. A frame with no rows passes with a note and is not
    handed to GX: there is nothing to validate, and its columns may not have been set yet.
    """
    if min_len < 0 or max_len < min_len:
        raise ValueError(f"need 0 <= min_len <= max_len, got min_len={min_len}, max_len={max_len}")
    if len(frame) == 0:
        return ValidationReport(True, 0, 0, (), "no rows to validate (columns not checked)")
    suite = _suite(
        frozenset(str(c) for c in frame.columns),
        tuple(required),
        tuple(allowed_domains),
        tuple(allowed_origins),
        int(min_len),
        int(max_len),
    )
    with _LOCK:
        batch = _batch_definition().get_batch(batch_parameters={"dataframe": frame})
        result = batch.validate(suite, result_format="SUMMARY")
    failures = tuple(
        sorted(
            (_failure(r) for r in result.results if not r.success), key=lambda f: (f.column, f.expectation)
        )
    )
    return ValidationReport(not failures, len(frame), len(result.results), failures)
