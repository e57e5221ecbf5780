"""The rows of the seed batches in the warehouse: which rows are a batch's, and deleting the rows
of batches whose seed file is gone."""

from __future__ import annotations

from collections.abc import Iterable

import duckdb

from resources.warehouse import Warehouse
from synth_assets.core.batches import BATCH_TABLES, SHARED_TABLES

__all__ = ["batch_stage_rows", "drop_rows_of_other_batches", "drop_unbatched_rows", "held_batches"]


def batch_stage_rows(table: str, batch_condition: str = "seed_batch = ?") -> str:
    """The SQL condition for the rows the per-batch stages wrote in `table` for one batch: in the
    shared tables, other stages (dedup, the mix) also keep rows that carry a batch, and are not these."""
    stages = f" AND stage IN {tuple(BATCH_TABLES)}" if table in SHARED_TABLES else ""
    return batch_condition + stages


def held_batches(warehouse: Warehouse) -> set[str]:
    """Every seed batch some table of the warehouse holds rows of (none without a warehouse file)."""
    if not warehouse.exists():
        return set()
    with warehouse.connect(read_only=True) as con:
        tables = _tables_with_batches(con)
        if not tables:
            return set()
        union = " UNION ".join(f'SELECT DISTINCT seed_batch FROM "{t}" WHERE seed_batch IS NOT NULL' for t in tables)
        return {row[0] for row in con.execute(union).fetchall()}


def drop_rows_of_other_batches(warehouse: Warehouse, keep: Iterable[str]) -> dict[str, int]:
    """Delete, from every table with a `seed_batch` column (the batch tables, `rejects`,
    `quarantine`, the corpus, the mix, ...), the rows of every batch not in `keep`, in one
    transaction; the rows deleted per table, only where there were some. Rows with no batch (human
    rows, documents) stay. Cheap when there is nothing to delete: one read of the batch columns."""
    keep = sorted(set(keep))
    if not held_batches(warehouse) - set(keep):
        return {}

    def work(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
        deleted: dict[str, int] = {}
        for table in _tables_with_batches(con):  # DuckDB's DELETE returns the number of rows it deleted
            count = con.execute(f'DELETE FROM "{table}" WHERE seed_batch IS NOT NULL AND NOT '
                                "list_contains($keep::VARCHAR[], seed_batch)", {"keep": keep}).fetchone()[0]
            if count:
                deleted[table] = int(count)
        return deleted

    return warehouse.transaction(work)


def _tables_with_batches(con: duckdb.DuckDBPyConnection) -> list[str]:
    return [row[0] for row in con.execute(
        "SELECT c.table_name FROM information_schema.columns c JOIN information_schema.tables t "
        "USING (table_catalog, table_schema, table_name) WHERE c.column_name = 'seed_batch' "
        "AND t.table_type = 'BASE TABLE' AND t.table_schema = current_schema() "
        "AND t.table_catalog = current_database() ORDER BY 1").fetchall()]


def drop_unbatched_rows(warehouse: Warehouse) -> int:
    """Delete the rows of the batch stages that have no batch: a version before seed batches wrote
    them, and the batches' own runs replace them. The number of rows deleted."""
    return warehouse.transaction(  # DuckDB's DELETE returns the number of rows it deleted
        lambda con: sum(con.execute(f'DELETE FROM "{table}" WHERE {batch_stage_rows(table, "seed_batch IS NULL")}')
                        .fetchone()[0] for table in (*BATCH_TABLES, *SHARED_TABLES)))
