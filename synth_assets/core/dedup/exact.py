"""Exact duplicates in DuckDB: rows whose normalised text hashes alike.

`register_udfs(con)` makes `normalize_text` callable from SQL as `sf_normalize_text`, so SQL and
Python normalise identically (DuckDB has no NFKC or casefold of its own). `exact_duplicates_sql`
then groups rows by the MD5 of their normalised text and keeps, in each group, the first row in
survivor order. The normalisation runs once per row, on Arrow vectors (one Python call per vector).
Rows whose text is NULL or normalises to nothing are left alone: they are not
duplicates of one another in any useful sense, and another filter can drop them with its reason.
"""

from __future__ import annotations

import re
from typing import Any

import pyarrow as pa

from synth_assets.core.dedup.normalize import normalize_text
from synth_assets.core.dedup.policy import SURVIVOR_ORDER_SQL

__all__ = ["NORMALIZE_UDF", "exact_duplicates_sql", "register_udfs"]

NORMALIZE_UDF = "sf_normalize_text"

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")


def _normalize_column(texts: pa.Array | pa.ChunkedArray) -> pa.Array:
    """`normalize_text` over a whole Arrow vector: one Python call per vector, not per row."""
    return pa.array([None if text is None else normalize_text(text) for text in texts.to_pylist()], type=pa.string())


def register_udfs(con: Any) -> None:
    """Register `sf_normalize_text(VARCHAR) -> VARCHAR` on a DuckDB connection (idempotent)."""
    query = "SELECT count(*) FROM duckdb_functions() WHERE function_name = ?"
    if con.execute(query, [NORMALIZE_UDF]).fetchone()[0]:
        return
    con.create_function(NORMALIZE_UDF, _normalize_column, ["VARCHAR"], "VARCHAR", type="arrow", side_effects=False)


def _checked(name: str, what: str) -> str:
    if not _IDENTIFIER.fullmatch(name):
        raise ValueError(f"{what} must be a plain SQL identifier, got {name!r}")
    return ".".join(f'"{part}"' for part in name.split("."))


def exact_duplicates_sql(table: str, text_column: str, *, order_by: str = SURVIVOR_ORDER_SQL) -> str:
    """A SELECT returning (id, kept_id) for every row that duplicates a preferred row.

    The table needs `id` and the columns `order_by` names (by default the survivor policy's:
    origin, verified, judge_score, generation). Call `register_udfs(con)` first.
    """
    source = _checked(table, "table")
    column = _checked(text_column, "text_column")
    # Filters sit after the window, not on the normalised column: DuckDB would otherwise push them
    # down by copying the UDF call, and normalise every row twice.
    return f"""
WITH normalized AS MATERIALIZED (
    SELECT *, {NORMALIZE_UDF}({column}) AS __normalized
    FROM {source}
    WHERE {column} IS NOT NULL
), ranked AS (
    SELECT id, __normalized = '' AS __empty,
           first_value(id) OVER (PARTITION BY md5_number(__normalized) ORDER BY {order_by}) AS kept_id
    FROM normalized
)
SELECT id, kept_id FROM ranked WHERE id <> kept_id AND NOT __empty ORDER BY kept_id, id
""".strip()
