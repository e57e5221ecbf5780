"""`synth merge`: the one-off import of old DuckDB warehouse files (one machine's, or several
machines' from before the shared lake) into a DuckLake. Real DuckDB files, a real lake (SQLite catalog)."""

from __future__ import annotations

import pandas as pd
import pytest

from resources.merge import merge_batches
from resources.teacher.base import Completion
from resources.teacher.cache import ResponseCache
from resources.warehouse import Warehouse
from synth_assets.core.schema import REJECT_COLUMNS, TABLE_COLUMNS


def machine(tmp_path, name: str, batch: str, rows: int) -> Warehouse:
    warehouse = Warehouse(path=str(tmp_path / name / "synth.duckdb"))
    frame = pd.DataFrame({"id": [f"{batch}-{i}" for i in range(rows)], "seed_batch": batch, "instruction": "task"})
    for table in ("seeds", "evolved_instructions", "verified_solutions"):
        warehouse.replace_rows(table, frame, TABLE_COLUMNS[table], seed_batch=batch)
    rejects = pd.DataFrame({"id": [f"{batch}-x", f"{batch}-y"], "seed_batch": batch,
                            "stage": ["verified_solutions", "deduplicated_corpus"], "reason": "test_failure"})
    warehouse.replace_rows("rejects", rejects, REJECT_COLUMNS, seed_batch=batch)
    ResponseCache(warehouse).put_many("rules:x", [(f"key-{batch}", 0, Completion(f"answer {batch}", "stop", 1, 1))])
    return warehouse


def lake(tmp_path) -> Warehouse:
    return Warehouse.in_folder(tmp_path / "lake", "ducklake")


def test_every_batch_of_every_source_arrives_with_its_cache(tmp_path):
    one, two = machine(tmp_path, "one", "code", 3), machine(tmp_path, "two", "math", 2)
    target = lake(tmp_path)
    merged = merge_batches(target, [one.path, two.path])
    assert [(m.batch, m.rows["seeds"], m.rows["verified_solutions"]) for m in merged] == [("code", 3, 3), ("math", 2, 2)]
    assert sorted(target.read_table("evolved_instructions")["id"]) == ["code-0", "code-1", "code-2", "math-0", "math-1"]
    # Only the per-batch stages' rejects: the union's are rebuilt by the union's own run.
    assert set(target.read_table("rejects")["stage"]) == {"verified_solutions"}
    assert ResponseCache(target).get_many(["key-code", "key-math"])["key-math"].text == "answer math"

    again = merge_batches(target, [one.path, two.path])  # merging again replaces, never doubles
    assert [m.rows["seeds"] for m in again] == [3, 2]
    assert len(target.read_table("seeds")) == 5


def test_a_batch_in_two_sources_is_refused(tmp_path):
    one, other = machine(tmp_path, "one", "code", 3), machine(tmp_path, "two", "code", 1)
    target = lake(tmp_path)
    with pytest.raises(ValueError, match="seed batch 'code' is in both"):
        merge_batches(target, [one.path, other.path])
    assert len(target.read_table("seeds")) == 3  # the first source's batch, all of it; nothing of the second


def test_the_file_warehouse_is_no_target(tmp_path):
    one = machine(tmp_path, "one", "code", 1)
    target = Warehouse(path=str(tmp_path / "other" / "synth.duckdb"))
    with pytest.raises(ValueError, match=r"into a DuckLake.*SYNTH_WAREHOUSE=ducklake"):
        merge_batches(target, [one.path])
