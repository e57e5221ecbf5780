"""The two warehouse backends behind one resource: the DuckDB file and a DuckLake (SQLite catalog,
Parquet in a local folder). The same writes give the same reads on both; several writes are one
transaction; several processes write one lake at once without losing a row."""

from __future__ import annotations

import multiprocessing

import dagster as dg
import duckdb
import pandas as pd
import pytest

from resources.teacher.base import Completion
from resources.teacher.cache import ResponseCache
from resources.warehouse import RowReplacement, Warehouse, WarehouseError
from synth_assets.definitions import build_resources
from synth_assets.graph_run import run_graph

COLUMNS = {"id": "VARCHAR", "seed_batch": "VARCHAR", "stage": "VARCHAR", "n": "INTEGER"}


@pytest.fixture(params=["duckdb", "ducklake"])
def warehouse(request, tmp_path) -> Warehouse:
    return Warehouse.in_folder(tmp_path, request.param)


def rows(batch: str, count: int) -> pd.DataFrame:
    return pd.DataFrame({"id": [f"{batch}-{i}" for i in range(count)], "seed_batch": batch, "n": range(count)})


def test_rows_of_one_batch_are_replaced_and_the_others_kept(warehouse):
    assert not warehouse.exists() and not warehouse.table_exists("t")
    warehouse.replace_rows("t", rows("a", 3), COLUMNS, seed_batch="a")
    warehouse.replace_rows("t", rows("b", 2), COLUMNS, seed_batch="b")
    warehouse.replace_rows("t", rows("a", 1), COLUMNS, seed_batch="a")
    assert warehouse.exists() and warehouse.table_exists("t")
    assert sorted(warehouse.read_table("t")["id"]) == ["a-0", "b-0", "b-1"]
    assert warehouse.delete_rows(["t", "absent"], seed_batch="b") == {"t": 2}
    warehouse.write_table("empty", rows("x", 0), COLUMNS)  # an empty frame still makes the table
    assert list(warehouse.read_table("empty").columns) == list(COLUMNS)
    assert warehouse.verify() == 2


def test_replacements_together_are_written_all_or_none(warehouse):
    warehouse.replace_rows("t", rows("a", 2), COLUMNS, seed_batch="a")
    broken = RowReplacement("u", rows("a", 1).assign(stage="s"), {**COLUMNS, "stage": "INTEGER"}, {"seed_batch": "a"})
    with pytest.raises(duckdb.ConversionException):  # 's' is no INTEGER: the second write fails
        warehouse.replace_many([RowReplacement("t", rows("a", 5), COLUMNS, {"seed_batch": "a"}), broken])
    assert len(warehouse.read_table("t")) == 2  # the first write was rolled back with it
    with pytest.raises(WarehouseError, match="no columns"):
        warehouse.replace_many([RowReplacement("t", rows("a", 1).assign(extra=1), COLUMNS, {"seed_batch": "a"})])


def test_the_response_cache_keeps_one_answer_per_key(warehouse):
    cache = ResponseCache(warehouse)
    cache.put_many("rules:x", [("k1", 0, Completion("one", "stop", 1, 1)), ("k2", 0, Completion("two", "stop", 1, 1))])
    cache.put_many("rules:x", [("k1", 0, Completion("uno", "stop", 1, 1))])  # the same key: replaced, not added
    found = cache.get_many(["k1", "k2", "k3"])
    assert {k: c.text for k, c in found.items()} == {"k1": "uno", "k2": "two"}
    assert len(warehouse.read_table("teacher_cache")) == 2


def _write_batch(folder: str, batch: str) -> None:
    warehouse = Warehouse.in_folder(folder, "ducklake")  # resources do not pickle: each process builds its own
    for round_ in range(4):  # each round replaces the batch's rows in two tables at once
        frame = rows(batch, 50 + round_)
        warehouse.replace_many([RowReplacement("t", frame, COLUMNS, {"seed_batch": batch}),
                                RowReplacement("r", frame.assign(stage="s"), COLUMNS, {"stage": "s", "seed_batch": batch})])


def test_four_processes_write_one_lake_at_once(tmp_path):
    lake = Warehouse.in_folder(tmp_path, "ducklake")
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_write_batch, args=(str(tmp_path), f"b{i}")) for i in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(300)
    assert [w.exitcode for w in workers] == [0, 0, 0, 0]
    for table in ("t", "r"):
        counts = lake.query(f"SELECT seed_batch, count(*) AS n, count(DISTINCT id) AS d FROM {table} GROUP BY 1 ORDER BY 1")
        assert counts.values.tolist() == [[f"b{i}", 53, 53] for i in range(4)], table


def test_the_settings_are_checked_when_the_resource_is_built(tmp_path):
    with pytest.raises(Exception, match="backend must be one of"):
        Warehouse(backend="lake")
    with pytest.raises(Exception, match="needs both `catalog`"):
        Warehouse(backend="ducklake", catalog=str(tmp_path / "c.sqlite"))


def test_parallel_batches_are_refused_on_the_file(tmp_path):
    with pytest.raises(ValueError, match="need the ducklake warehouse"):
        run_graph(dg.DagsterInstance.ephemeral(), build_resources(tmp_path), parallel=2)
    lake = build_resources(tmp_path, warehouse=Warehouse.in_folder(tmp_path, "ducklake"))
    with pytest.raises(ValueError, match="not an ephemeral one"):
        run_graph(dg.DagsterInstance.ephemeral(), lake, parallel=2)


def test_reading_the_caches_writes_nothing_and_the_first_put_creates_them(warehouse):
    # On the lake a CREATE is a write, and two processes' first reads used to collide on the
    # catalog ("database is locked"): a read of a cache that is not there yet finds nothing.
    import numpy as np

    from resources.embedding_cache import EMBEDDING_CACHE_TABLE, EmbeddingCache
    from resources.teacher.cache import CACHE_TABLE

    warehouse.write_table("seeds", rows("a", 1), {"id": "VARCHAR", "seed_batch": "VARCHAR", "n": "BIGINT"})
    teacher, embeddings = ResponseCache(warehouse), EmbeddingCache(warehouse, "tiny")
    assert teacher.get_many(["k"]) == {} and embeddings.get_many(["a text"]) == {}
    assert not warehouse.table_exists(CACHE_TABLE) and not warehouse.table_exists(EMBEDDING_CACHE_TABLE)
    teacher.put_many("rules:x", [("k", 0, Completion("answer", "stop", 1, 1))])
    embeddings.put_many(["a text"], np.ones((1, 3), dtype=np.float32))
    assert teacher.get_many(["k"])["k"].text == "answer"
    assert embeddings.get_many(["a text"])[0].tolist() == [1.0, 1.0, 1.0]
