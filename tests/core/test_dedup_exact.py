"""Exact duplicates in DuckDB: normalised text, survivor policy, and the UDF."""

from __future__ import annotations

import duckdb
import pandas as pd
import pytest

from synth_assets.core.dedup.exact import (
    NORMALIZE_UDF,
    exact_duplicates_sql,
    register_udfs,
)
from synth_assets.core.dedup.normalize import normalize_text
from tests.core.test_dedup_normalize import TRICKY


@pytest.fixture
def con() -> duckdb.DuckDBPyConnection:
    connection = duckdb.connect()
    register_udfs(connection)
    return connection


def _corpus(con: duckdb.DuckDBPyConnection, rows: list[tuple]) -> None:
    frame = pd.DataFrame(rows, columns=["id", "origin", "verified", "judge_score", "generation", "text"])
    con.register("frame", frame)
    con.execute(
        "CREATE TABLE corpus AS SELECT id, origin, CAST(verified AS BOOLEAN) AS verified, "
        "CAST(judge_score AS DOUBLE) AS judge_score, CAST(generation AS INTEGER) AS generation, text FROM frame"
    )


def test_planted_exact_duplicates(con: duckdb.DuckDBPyConnection) -> None:
    _corpus(
        con,
        [
            ("s1", "synthetic", True, 9.0, 1, "Write a function that reverses a list."),
            ("s2", "synthetic", True, 7.0, 1, "write a FUNCTION that reverses a list"),  # case, punctuation
            ("h1", "human", None, None, 0, "Write a function that   reverses a list!"),  # human wins
            ("s3", "synthetic", False, 9.9, 1, "Ｗｒｉｔｅ a function that reverses a list."),  # NFKC
            ("s4", "synthetic", True, 8.0, 2, "What is 2 + 2?"),
            ("s5", "synthetic", True, 8.0, 1, "what is 2 2"),  # generation 1 beats 2
            ("s6", "synthetic", True, 8.0, 1, "What is 2 + 3?"),  # different
            ("p1", "synthetic", True, 1.0, 1, "!!!"),  # normalises to nothing: left alone
            ("p2", "synthetic", True, 1.0, 1, "???"),
            ("n1", "synthetic", True, 1.0, 1, None),
        ],
    )
    removed = con.execute(exact_duplicates_sql("corpus", "text")).fetchall()
    assert sorted(removed) == [("s1", "h1"), ("s2", "h1"), ("s3", "h1"), ("s4", "s5")]


def test_custom_order(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("CREATE TABLE t AS SELECT * FROM (VALUES ('b', 'Same text'), ('a', 'same text.')) v(id, body)")
    assert con.execute(exact_duplicates_sql("t", "body", order_by="id")).fetchall() == [("b", "a")]
    assert con.execute(exact_duplicates_sql("t", "body", order_by="id DESC")).fetchall() == [("a", "b")]


def test_no_duplicates_and_empty_table(con: duckdb.DuckDBPyConnection) -> None:
    _corpus(con, [("a", "human", True, 1.0, 0, "one"), ("b", "human", True, 1.0, 0, "two")])
    assert con.execute(exact_duplicates_sql("corpus", "text")).fetchall() == []
    con.execute("DELETE FROM corpus")
    assert con.execute(exact_duplicates_sql("corpus", "text")).fetchall() == []


@pytest.mark.parametrize("text", TRICKY)
def test_sql_normalisation_matches_python(con: duckdb.DuckDBPyConnection, text: str) -> None:
    assert con.execute(f"SELECT {NORMALIZE_UDF}(?)", [text]).fetchone()[0] == normalize_text(text)


def test_register_udfs_twice_is_harmless(con: duckdb.DuckDBPyConnection) -> None:
    register_udfs(con)
    assert con.execute(f"SELECT {NORMALIZE_UDF}('A, B')").fetchone()[0] == "a b"


@pytest.mark.parametrize(
    ("table", "column", "field"), [("t; DROP TABLE x", "text", "table"), ("t", 'te"xt', "text_column")]
)
def test_identifiers_are_checked(table: str, column: str, field: str) -> None:
    with pytest.raises(ValueError, match=field):
        exact_duplicates_sql(table, column)


def test_each_row_is_normalised_once(monkeypatch: pytest.MonkeyPatch) -> None:
    from synth_assets.core.dedup import exact

    calls = []
    monkeypatch.setattr(exact, "normalize_text", lambda text: calls.append(text) or normalize_text(text))
    connection = duckdb.connect()
    register_udfs(connection)
    connection.execute(
        "CREATE TABLE t AS SELECT 'r' || i AS id, 'synthetic' AS origin, true AS verified, 1.0 AS judge_score, "
        "1 AS generation, CASE WHEN i % 7 = 0 THEN '!!' ELSE 'Text ' || (i % 100) END AS text FROM range(3000) r(i)"
    )
    removed = connection.execute(exact_duplicates_sql("t", "text")).fetchall()
    assert len(calls) == 3000
    with_text = sum(1 for i in range(3000) if i % 7)  # '!!' normalises to nothing: never removed
    assert len(removed) == with_text - 100  # one survivor for each of the 100 distinct texts
