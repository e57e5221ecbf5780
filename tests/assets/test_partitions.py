"""Seed batches and the instance's partitions: what `synth run` adds and removes, on a real DuckDB
file and a real Dagster instance."""

from __future__ import annotations

import shutil

import dagster as dg
import pandas as pd
import pytest

from resources.batch_rows import held_batches
from resources.warehouse import Warehouse
from synth_assets.assets.partitions import sync_seed_batches
from synth_assets.core.batches import batch_key, seed_batch_files
from synth_assets.core.schema import TABLE_COLUMNS


def folder(root, *batches):
    (root / "seeds").mkdir(parents=True)
    for name in batches:
        (root / "seeds" / f"{name}.jsonl").write_text("{}\n")
    return root / "seeds", Warehouse(path=str(root / "warehouse" / "synth.duckdb"))


def rows_of(warehouse: Warehouse, batch: str, n: int = 2) -> None:
    frame = pd.DataFrame({"id": [f"{batch}-{i}" for i in range(n)], "seed_batch": batch})
    for table in ("seeds", "evolved_instructions"):
        warehouse.replace_rows(table, frame, TABLE_COLUMNS[table], seed_batch=batch)


def test_the_key_is_the_file_name_and_odd_names_are_refused(tmp_path):
    assert batch_key(tmp_path / "math-2026.v1.jsonl") == "math-2026.v1"
    with pytest.raises(ValueError, match="rename the file"):
        batch_key(tmp_path / "my seeds.jsonl")
    seeds, _ = folder(tmp_path, "b", "a")
    (seeds / "notes.md").write_text("not a batch")
    assert list(seed_batch_files(seeds)) == ["a", "b"]


def test_new_files_become_partitions_and_empty_batch_tables_exist(tmp_path):
    seeds, warehouse = folder(tmp_path, "a", "b")
    instance = dg.DagsterInstance.ephemeral()
    sync = sync_seed_batches(instance, seeds, warehouse)
    assert (sync.keys, sync.added, sync.removed) == (["a", "b"], ["a", "b"], [])
    assert instance.get_dynamic_partitions("seed_batches") == ["a", "b"]
    assert warehouse.read_table("verified_solutions").empty
    assert sync_seed_batches(instance, seeds, warehouse).added == []


def test_a_removed_file_takes_its_rows_and_partition_but_only_its_own(tmp_path):
    seeds, warehouse = folder(tmp_path, "a", "b")
    instance = dg.DagsterInstance.ephemeral()
    sync_seed_batches(instance, seeds, warehouse)
    rows_of(warehouse, "a")
    rows_of(warehouse, "b")
    (seeds / "a.jsonl").unlink()
    sync = sync_seed_batches(instance, seeds, warehouse)
    assert sync.removed == ["a"]
    assert (sync.rows_deleted["seeds"], sync.rows_deleted["evolved_instructions"]) == (2, 2)
    assert instance.get_dynamic_partitions("seed_batches") == ["b"]
    assert set(warehouse.read_table("seeds")["seed_batch"]) == {"b"}


def test_folders_sharing_an_instance_leave_each_others_batches_alone(tmp_path):
    # Two machines, each with its own data folder and warehouse, one shared Dagster instance.
    instance = dg.DagsterInstance.ephemeral()
    seeds_one, warehouse_one = folder(tmp_path / "one", "code")
    seeds_two, warehouse_two = folder(tmp_path / "two", "math")
    sync_seed_batches(instance, seeds_one, warehouse_one)
    rows_of(warehouse_one, "code")
    assert sync_seed_batches(instance, seeds_two, warehouse_two).removed == []
    assert sync_seed_batches(instance, seeds_one, warehouse_one).removed == []
    assert sorted(instance.get_dynamic_partitions("seed_batches")) == ["code", "math"]


def test_rows_written_before_seed_batches_are_dropped_once(tmp_path):
    seeds, warehouse = folder(tmp_path, "a")
    old = pd.DataFrame({"id": ["old-1", "old-2"], "instruction": "task"})  # no seed_batch: an older version's rows
    warehouse.write_table("seeds", old, {"id": "VARCHAR", "instruction": "VARCHAR"})
    sync = sync_seed_batches(dg.DagsterInstance.ephemeral(), seeds, warehouse)
    assert sync.rows_deleted == {"(written before seed batches)": 2}
    assert warehouse.read_table("seeds").empty and "seed_batch" in warehouse.read_table("seeds").columns


def test_the_rows_of_a_batch_without_a_file_leave_every_table_and_rows_without_a_batch_stay(tmp_path):
    from resources.batch_rows import drop_rows_of_other_batches, held_batches

    _, warehouse = folder(tmp_path, "a")
    for batch in ("a", "gone"):
        rows_of(warehouse, batch)
        for table in ("deduplicated_corpus", "mixed_training_set"):  # the union's rows carry their batch too
            frame = pd.DataFrame({"id": [f"{batch}-{table}"], "seed_batch": batch})
            warehouse.replace_rows(table, frame, TABLE_COLUMNS[table], seed_batch=batch)
        rejects = pd.DataFrame({"id": [f"{batch}-r"], "stage": "deduplicated_corpus", "seed_batch": batch})
        warehouse.replace_rows("rejects", rejects, TABLE_COLUMNS["rejects"], id=f"{batch}-r")
    human = pd.DataFrame({"id": ["h"], "origin": "human"})
    warehouse.replace_rows("mixed_training_set", human, TABLE_COLUMNS["mixed_training_set"], id="h")
    assert held_batches(warehouse) == {"a", "gone"}

    deleted = drop_rows_of_other_batches(warehouse, ["a"])
    assert deleted == {"seeds": 2, "evolved_instructions": 2, "deduplicated_corpus": 1, "mixed_training_set": 1,
                       "rejects": 1}
    assert held_batches(warehouse) == {"a"}
    assert sorted(warehouse.read_table("mixed_training_set")["id"]) == ["a-mixed_training_set", "h"]
    assert drop_rows_of_other_batches(warehouse, ["a"]) == {}  # nothing left to delete


def test_a_missing_seeds_folder_is_an_error_and_deletes_nothing(tmp_path):
    seeds, warehouse = folder(tmp_path, "a", "b")
    instance = dg.DagsterInstance.ephemeral()
    sync_seed_batches(instance, seeds, warehouse)
    for batch in ("a", "b"):
        rows_of(warehouse, batch)
    shutil.rmtree(seeds)  # a mistyped data folder or an unmounted share looks like this
    with pytest.raises(FileNotFoundError, match=r"seeds folder .* does not exist, so no seed batch's rows"):
        sync_seed_batches(instance, seeds, warehouse)
    assert held_batches(warehouse) == {"a", "b"}

    seeds.mkdir()  # an empty folder, on purpose: every batch goes
    assert sorted(sync_seed_batches(instance, seeds, warehouse).removed) == ["a", "b"]
    assert held_batches(warehouse) == set()
