"""Importing old DuckDB warehouse files into a DuckLake, once (`synth merge`).

Machines now share one DuckLake and write their seed batches into it directly (docs/scaling.md),
so there is nothing to merge day to day. What is left is the way over: `merge_batches` copies
every seed batch of DuckDB warehouse files made before (one machine's, or several machines'
from the time each had its own file) into the lake, replacing each batch's rows in the batch
tables, in `rejects` and `quarantine`, and adds their teacher responses to the cache. The union
(dedup, mix, export) is then run once over every batch (`synth run --skip-batches`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from resources.batch_rows import batch_stage_rows
from resources.teacher.cache import CACHE_KEY, CACHE_TABLE, CACHE_WRITTEN, ensure_cache_table
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
    """Copy every seed batch of each source DuckDB file into the lake `warehouse`, in one
    transaction per source. A batch found in two sources is an error (which copy is right is not
    ours to guess). Run it while nothing else writes the lake: it is a one-off import."""
    if not warehouse.is_lake:
        raise ValueError(f"synth merge imports old DuckDB warehouse files into a DuckLake, and the warehouse here is the "
                         f"file {warehouse.path}: set SYNTH_WAREHOUSE=ducklake (docs/scaling.md). Machines now write "
                         "one shared lake, so nothing else needs merging")
    merged: list[MergedBatch] = []
    seen: dict[str, str] = {}
    for table in (*BATCH_TABLES, *SHARED_TABLES):
        warehouse.ensure_table(table, TABLE_COLUMNS[table])
    for source in sources:
        source = str(Path(source).resolve())
        if not Path(source).is_file():
            raise ValueError(f"no DuckDB warehouse file {source} to import")
        # Every block of the source, checked first: the merge reads most of it anyway, and damage
        # met while attached would be reported against this warehouse, not the source.
        Warehouse(path=source).verify()
        with warehouse.connect() as con:
            # ATTACH takes no parameters. The lake's connections share one database: DETACH after.
            con.execute(f"ATTACH '{_quoted(source)}' AS source (READ_ONLY)")
            try:
                counts = _copy_batches(con, warehouse, source, seen)
            finally:
                con.execute("DETACH source")
        merged += [MergedBatch(batch, source, rows) for batch, rows in counts.items()]
    return merged


def _copy_batches(con, warehouse: Warehouse, source: str, seen: dict[str, str]) -> dict[str, dict[str, int]]:
    batches = [row[0] for row in con.execute(
        "SELECT DISTINCT seed_batch FROM source.seeds WHERE seed_batch IS NOT NULL ORDER BY 1").fetchall()]
    for batch in batches:
        if batch in seen:
            raise ValueError(f"seed batch {batch!r} is in both {seen[batch]} and {source}")
        seen[batch] = source
    present = {row[0] for row in con.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_catalog = 'source'").fetchall()}
    con.execute("BEGIN TRANSACTION")
    try:
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
        if CACHE_TABLE in present:  # a key already in the lake holds the same answer
            ensure_cache_table(con, warehouse)
            con.execute(warehouse.upsert_sql(CACHE_TABLE, f"source.{CACHE_TABLE}", CACHE_KEY, CACHE_WRITTEN))
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return counts


def _quoted(path: str) -> str:
    return path.replace("'", "''")
