"""Merging seed batches made elsewhere: the warehouses of machines that each ran some batches.

Each machine runs the per-batch assets on its own data folder and warehouse (docs/scaling.md);
`merge_batches` copies every batch of their warehouses into this one, replacing each batch's rows
in the batch tables, in `rejects` and `quarantine`, and adding their teacher responses to the cache.
The union (dedup, mix, export) is then run here once, over every batch.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from resources.batch_rows import batch_stage_rows
from resources.teacher.cache import CACHE_TABLE, ensure_cache_table
from resources.warehouse import Warehouse
from synth_assets.core.batches import BATCH_TABLES, SHARED_TABLES
from synth_assets.core.schema import TABLE_COLUMNS

__all__ = ["MergedBatch", "merge_batches"]


@dataclass(frozen=True)
class MergedBatch:
    batch: str
    source: str
    rows: dict[str, int]  # per table


def merge_batches(warehouse: Warehouse, sources: Iterable[str | Path]) -> list[MergedBatch]:
    """Copy every seed batch of each source warehouse into `warehouse`, in one transaction per
    source. A batch found in two sources is an error (which copy is right is not ours to guess)."""
    merged: list[MergedBatch] = []
    seen: dict[str, str] = {}
    for table in (*BATCH_TABLES, *SHARED_TABLES):
        warehouse.ensure_table(table, TABLE_COLUMNS[table])
    for source in sources:
        source = str(Path(source).resolve())
        if source == str(Path(warehouse.path).resolve()):
            raise ValueError(f"{source} is this warehouse; merge other machines' warehouses into it")
        # Every block of the source, checked first: the merge reads most of it anyway, and damage
        # met while attached would be reported against this warehouse, not the source.
        Warehouse(path=source).verify()
        with warehouse.connect() as con:
            con.execute(f"ATTACH '{_quoted(source)}' AS source (READ_ONLY)")  # ATTACH takes no parameters
            batches = [row[0] for row in con.execute(
                "SELECT DISTINCT seed_batch FROM source.seeds WHERE seed_batch IS NOT NULL ORDER BY 1").fetchall()]
            for batch in batches:
                if batch in seen:
                    raise ValueError(f"seed batch {batch!r} is in both {seen[batch]} and {source}")
                seen[batch] = source
            present = {row[0] for row in con.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_catalog = 'source'").fetchall()}
            con.execute("BEGIN TRANSACTION")
            counts: dict[str, dict[str, int]] = {batch: {} for batch in batches}
            for table in (*BATCH_TABLES, *SHARED_TABLES):
                if table not in present:
                    continue
                columns = ", ".join(f'"{c}"' for c in TABLE_COLUMNS[table])
                where = batch_stage_rows(table)  # the union's own rows are rebuilt here
                for batch in batches:
                    con.execute(f'DELETE FROM "{table}" WHERE {where}', [batch])
                    con.execute(f'INSERT INTO "{table}" ({columns}) SELECT {columns} FROM source."{table}" WHERE {where}',
                                [batch])
                    counts[batch][table] = con.execute(f'SELECT count(*) FROM "{table}" WHERE {where}', [batch]).fetchone()[0]
            if CACHE_TABLE in present:
                ensure_cache_table(con)
                con.execute(f"INSERT OR IGNORE INTO {CACHE_TABLE} SELECT * FROM source.{CACHE_TABLE}")
            con.execute("COMMIT")
            con.execute("DETACH source")
        merged += [MergedBatch(batch, source, counts[batch]) for batch in batches]
    return merged


def _quoted(path: str) -> str:
    return path.replace("'", "''")
