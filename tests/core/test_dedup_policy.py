"""The survivor policy: Python and DuckDB order rows alike."""

from __future__ import annotations

import itertools
import math

import duckdb
import pandas as pd

from synth_assets.core.dedup.policy import SURVIVOR_ORDER_SQL, survivor_sort_key


def _row(
    id: str,
    origin: str | None = "synthetic",
    verified: bool | None = None,
    judge_score: float | None = None,
    generation: int | None = 1,
) -> dict:
    return {"id": id, "origin": origin, "verified": verified, "judge_score": judge_score, "generation": generation}


def test_each_rule_in_order() -> None:
    rows = [
        _row("z-synthetic-verified-top-score", verified=True, judge_score=10.0, generation=1),
        _row("y-human", origin="human", generation=0),
        _row("a-synthetic-unverified", verified=False, judge_score=10.0),
        _row("b-verified-score-8", verified=True, judge_score=8.0),
        _row("c-verified-score-8-gen-2", verified=True, judge_score=8.0, generation=2),
        _row("d-verified-no-score", verified=True, judge_score=None),
        _row("a-verified-score-8", verified=True, judge_score=8.0),
    ]
    ordered = [r["id"] for r in sorted(rows, key=survivor_sort_key)]
    assert ordered == [
        "y-human",
        "z-synthetic-verified-top-score",
        "a-verified-score-8",
        "b-verified-score-8",
        "c-verified-score-8-gen-2",
        "d-verified-no-score",
        "a-synthetic-unverified",
    ]


def test_missing_values_rank_last() -> None:
    rows = [
        _row("nan-score", verified=True, judge_score=float("nan")),
        _row("na-score", verified=True, judge_score=pd.NA),
        _row("low-score", verified=True, judge_score=-5.0),
        _row("null-verified", verified=None, judge_score=9.0),
        _row("null-generation", verified=True, judge_score=-5.0, generation=None),
    ]
    ordered = [r["id"] for r in sorted(rows, key=survivor_sort_key)]
    assert ordered == ["low-score", "null-generation", "na-score", "nan-score", "null-verified"]


def test_python_and_sql_agree() -> None:
    ids = iter(f"{prefix}{n}" for n, prefix in enumerate(itertools.cycle(["a", "B", "é", "z", "Ω", "_"])))
    rows = [
        _row(next(ids), origin, verified, score, generation)
        for origin in ("human", "synthetic", None)
        for verified in (True, False, None)
        for score in (9.5, 1.0, -0.0, 0.0, None, math.nan)
        for generation in (0, 3, None)
    ]
    rows += [_row(same, verified=True, judge_score=1.0) for same in ("id-b", "id-a", "ID-c", "id-ä")]
    frame = pd.DataFrame(rows).astype({"verified": "boolean", "generation": "Int64", "judge_score": "float64"})
    con = duckdb.connect()
    con.register("frame", frame)
    con.execute(
        "CREATE TABLE rows AS SELECT id, origin, verified, judge_score, CAST(generation AS INTEGER) AS generation FROM frame"
    )
    # pandas NaN arrives in DuckDB as NULL; write the NaN rows back as NaN, since the SQL must handle both.
    nan_ids = [r["id"] for r in rows if isinstance(r["judge_score"], float) and math.isnan(r["judge_score"])]
    con.execute("UPDATE rows SET judge_score = 'NaN'::DOUBLE WHERE id IN (SELECT unnest(?))", [nan_ids])
    sql_order = [r[0] for r in con.execute(f"SELECT id FROM rows ORDER BY {SURVIVOR_ORDER_SQL}").fetchall()]
    python_order = [r["id"] for r in sorted(rows, key=survivor_sort_key)]
    assert con.execute("SELECT count(*) FROM rows WHERE isnan(judge_score)").fetchone()[0] == len(nan_ids) > 0
    assert sql_order == python_order
