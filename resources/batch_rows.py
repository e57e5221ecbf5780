"""The rows of one seed batch in the warehouse: which rows are a batch's, and deleting them."""

from __future__ import annotations

from collections.abc import Iterable

from resources.warehouse import Warehouse
from synth_assets.core.batches import BATCH_TABLES, SHARED_TABLES

__all__ = ["batch_stage_rows", "drop_batch_rows", "drop_unbatched_rows"]


def batch_stage_rows(table: str, batch_condition: str = "seed_batch = ?") -> str:
    """The SQL condition for the rows the per-batch stages wrote in `table` for one batch: in the
    shared tables, other stages (dedup, the mix) also keep rows that carry a batch, and are not these."""
    stages = f" AND stage IN {tuple(BATCH_TABLES)}" if table in SHARED_TABLES else ""
    return batch_condition + stages


def drop_batch_rows(warehouse: Warehouse, key: str, tables: Iterable[str] = (*BATCH_TABLES, *SHARED_TABLES)) -> dict[str, int]:
    """Delete every row of one seed batch from the batch tables and the shared ones."""
    return warehouse.delete_rows(tables, seed_batch=key)


def drop_unbatched_rows(warehouse: Warehouse) -> int:
    """Delete the rows of the batch stages that have no batch: a version before seed batches wrote
    them, and the batches' own runs replace them. The number of rows deleted."""
    with warehouse.connect() as con:  # DuckDB's DELETE returns the number of rows it deleted
        return sum(con.execute(f'DELETE FROM "{table}" WHERE {batch_stage_rows(table, "seed_batch IS NULL")}')
                   .fetchone()[0] for table in (*BATCH_TABLES, *SHARED_TABLES))
