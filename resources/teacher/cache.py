"""The response cache shared by every backend, stored in the warehouse.

Keyed by (backend:model, rendered prompt, sampling parameters, sample index), see
`GenerationRequest.cache_key`. The teacher resource writes each batch as soon as it arrives, so a
run killed mid-stage loses at most the batch in flight, and a re-run never asks twice.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from resources.teacher.base import Completion
from resources.warehouse import Warehouse, has_table

__all__ = ["CACHE_KEY", "CACHE_TABLE", "CACHE_WRITTEN", "ResponseCache", "ensure_cache_table"]

CACHE_TABLE = "teacher_cache"

_CACHE_COLUMNS = """
    key VARCHAR,
    teacher VARCHAR,
    sample_index INTEGER,
    text VARCHAR,
    finish_reason VARCHAR,
    prompt_tokens INTEGER,
    completion_tokens INTEGER,
    created_at TIMESTAMP DEFAULT current_timestamp
"""
CACHE_KEY = ("key",)
CACHE_WRITTEN = ("key", "teacher", "sample_index", "text", "finish_reason", "prompt_tokens", "completion_tokens")


def ensure_cache_table(con, warehouse: Warehouse | None = None) -> None:
    """Create the cache table, with its key, on a warehouse connection if it is not there (keyed as
    `warehouse`'s backend allows; the file's, without one)."""
    con.execute((warehouse or Warehouse()).keyed_table_sql(CACHE_TABLE, _CACHE_COLUMNS, CACHE_KEY))


class ResponseCache:
    def __init__(self, warehouse: Warehouse):
        self._warehouse = warehouse

    def get_many(self, keys: Sequence[str]) -> dict[str, Completion]:
        if not keys:
            return {}
        with self._warehouse.connect() as con:
            if not has_table(con, CACHE_TABLE):  # nothing cached yet; the first put creates it
                return {}
            con.register("_wanted", pd.DataFrame({"key": list(keys)}))
            rows = con.execute(
                f"SELECT c.key, c.text, c.finish_reason, c.prompt_tokens, c.completion_tokens "
                f"FROM {CACHE_TABLE} c JOIN _wanted w USING (key)"
            ).fetchall()
        return {key: Completion(text, reason, p_tok, c_tok) for key, text, reason, p_tok, c_tok in rows}

    def put_many(self, teacher: str, entries: Sequence[tuple[str, int, Completion]]) -> None:
        """Store (key, sample_index, completion) triples; a key already there is replaced.

        One connection for the whole call (reopening the warehouse checkpoints the key index, at a
        cost that grows with the cache), `_PUT_CHUNK` rows per insert, each committed on its own:
        one transaction for a million rows held them all in memory until the commit. On the lake
        each chunk is one transaction, run again if another writer's conflicts with it."""
        if not entries:
            return
        upsert = self._warehouse.upsert_sql(CACHE_TABLE, "_new", CACHE_KEY, CACHE_WRITTEN)

        def put(con, start: int) -> None:
            ensure_cache_table(con, self._warehouse)
            con.register("_new", _frame(teacher, entries[start : start + _PUT_CHUNK]))
            con.execute(upsert)
            con.unregister("_new")

        starts = range(0, len(entries), _PUT_CHUNK)
        if self._warehouse.is_lake:
            for start in starts:
                self._warehouse.transaction(lambda con, start=start: put(con, start))
            return
        with self._warehouse.connect() as con:
            for start in starts:
                put(con, start)


_PUT_CHUNK = 50_000


def _frame(teacher: str, entries: Sequence[tuple[str, int, Completion]]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "key": [key for key, _, _ in entries],
            "teacher": teacher,
            "sample_index": [index for _, index, _ in entries],
            "text": [c.text for _, _, c in entries],
            "finish_reason": [c.finish_reason for _, _, c in entries],
            "prompt_tokens": [c.prompt_tokens for _, _, c in entries],
            "completion_tokens": [c.completion_tokens for _, _, c in entries],
        }
    )
