"""A damaged warehouse file is reported as corrupt, with the file and the way to recover, wherever
it is met; and the readable part of the response cache can be salvaged. Real DuckDB files,
damaged on disk (tests/corrupt_warehouse.py)."""

from __future__ import annotations

import dagster as dg
import duckdb
import pytest

from resources.salvage import salvage_table
from resources.source_files import SourceFiles
from resources.teacher.cache import CACHE_TABLE, ensure_cache_table
from resources.warehouse import Warehouse, WarehouseCorrupt, WarehouseError
from synth_assets.assets.ingest import seeds
from tests.corrupt_warehouse import (
    CACHE_ROWS,
    damage_segment,
    own_segments,
    seeded_warehouse,
    segments_of,
    truncate_half,
    truncated_but_openable,
)


def _assert_explains_recovery(error: WarehouseCorrupt, path) -> None:
    text = str(error)
    assert "corrupt" in text and str(path) in text
    assert "backup" in text and f"mv {path} {path}.corrupt" in text and "synth run" in text
    assert "teacher_cache" in text and f"synth salvage-cache {path}.corrupt" in text


def test_a_healthy_warehouse_verifies(tmp_path):
    warehouse = seeded_warehouse(tmp_path / "synth.duckdb")
    assert warehouse.verify() == 2  # seeds and teacher_cache, every block read
    assert Warehouse(path=str(tmp_path / "absent.duckdb")).verify() == 0


def test_a_flipped_data_block_is_found_by_verify_and_by_any_read_of_it(tmp_path):
    path = tmp_path / "synth.duckdb"
    warehouse = seeded_warehouse(path)
    damage_segment(path, segments_of(path, "seeds", "instruction")[0])
    # DuckDB counts rows from metadata: the damage is invisible until a block is read
    assert len(warehouse.query("SELECT count(*) AS n FROM seeds")) == 1
    with pytest.raises(WarehouseCorrupt) as verified:
        warehouse.verify()
    _assert_explains_recovery(verified.value, path)
    assert "checksum" in verified.value.detail
    with pytest.raises(WarehouseCorrupt):
        warehouse.read_table("seeds")


@pytest.mark.parametrize("damage", [truncate_half, truncated_but_openable])
def test_a_truncated_file_is_corrupt_at_open(tmp_path, damage):
    path = tmp_path / "synth.duckdb"
    warehouse = seeded_warehouse(path)
    damage(path)
    with pytest.raises(WarehouseCorrupt) as opened:
        warehouse.table_exists("seeds")  # the cheapest thing a command does
    _assert_explains_recovery(opened.value, path)
    assert "truncated" in opened.value.detail or "Could not read enough bytes" in opened.value.detail


def test_the_openable_truncated_file_would_otherwise_report_counts(tmp_path):
    # what the length check on open is for: DuckDB itself opens this file and counts its rows
    path = tmp_path / "synth.duckdb"
    seeded_warehouse(path)
    truncated_but_openable(path)
    with duckdb.connect(str(path), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM small").fetchone()[0] == 10


def test_an_asset_that_opens_a_damaged_warehouse_fails_saying_so(tmp_path):
    data = tmp_path / "data"
    (data / "seeds").mkdir(parents=True)
    (data / "seeds" / "b.jsonl").write_text(
        '{"id": "s1", "domain": "general", "category": "writing", "instruction": "Write a haiku about rain."}\n')
    path = data / "warehouse" / "synth.duckdb"
    path.parent.mkdir()
    warehouse = seeded_warehouse(path)
    damage_segment(path, segments_of(path, "seeds", "seed_batch")[0])  # the seeds asset deletes its batch's rows first
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions("seed_batches", ["b"])
    result = dg.materialize([seeds], partition_key="b", instance=instance, raise_on_error=False,
                            resources={"warehouse": warehouse, "source_files": SourceFiles(root=str(data))})
    assert not result.success
    error = next(e for e in result.all_events if e.is_step_failure).step_failure_data.error
    while error.cls_name != "WarehouseCorrupt" and error.cause is not None:  # Dagster wraps what the step raised
        error = error.cause
    assert error.cls_name == "WarehouseCorrupt"
    assert "is corrupt" in error.message and str(path) in error.message


def test_the_readable_part_of_the_response_cache_is_salvaged(tmp_path):
    damaged = tmp_path / "synth.duckdb.corrupt"
    seeded_warehouse(damaged)
    with duckdb.connect(str(damaged), read_only=True) as con:
        original = dict(con.execute(f"SELECT key, text FROM {CACHE_TABLE}").fetchall())
    text_segments = own_segments(damaged, CACHE_TABLE, "text")
    assert text_segments, "the cache's answers should fill blocks of their own"
    damage_segment(damaged, text_segments[0])
    fresh = Warehouse(path=str(tmp_path / "synth.duckdb"))

    saved = salvage_table(damaged, fresh, CACHE_TABLE, ensure_cache_table)

    assert 0 < saved.copied < CACHE_ROWS and saved.lost > 0 and saved.copied + saved.lost == CACHE_ROWS
    copied = dict(fresh.query(f"SELECT key, text FROM {CACHE_TABLE}").itertuples(index=False))
    assert len(copied) == saved.copied
    assert all(original[key] == text for key, text in copied.items())  # what is copied is intact
    assert fresh.verify() == 1
    # the cache keeps its key: a second salvage adds nothing
    assert salvage_table(damaged, fresh, CACHE_TABLE, ensure_cache_table).copied == 0


def test_salvage_refuses_the_warehouse_itself_and_an_unreadable_file(tmp_path):
    path = tmp_path / "synth.duckdb"
    warehouse = seeded_warehouse(path)
    with pytest.raises(WarehouseError, match="move it aside first"):
        salvage_table(path, warehouse, CACHE_TABLE, ensure_cache_table)
    with path.open("r+b") as handle:  # the main header gone: DuckDB cannot open the file at all
        handle.write(b"\0" * 4096)
    with pytest.raises(WarehouseError, match=r"cannot read .* at all"):
        salvage_table(path, Warehouse(path=str(tmp_path / "new.duckdb")), CACHE_TABLE, ensure_cache_table)
