"""Copying what can still be read of one table out of a damaged DuckDB file into the warehouse.

DuckDB checks a block's checksum when a scan reads it, and a scan limited to a range of row ids
reads only the blocks that hold those rows (in vectors of 2,048 rows). So the table is copied
range by range: a range that meets a damaged block is halved until the damage is fenced into
ranges of one vector, which are counted as lost; every other row is copied. Only worth doing for
what cannot be rebuilt cheaply from the inputs: the teacher's response cache (`synth salvage-cache`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import duckdb

from resources.warehouse import Warehouse, WarehouseError, is_corruption

__all__ = ["Salvage", "salvage_table"]

VECTOR_ROWS = 2048  # DuckDB scans a column 2,048 rows at a time: the smallest range worth trying


@dataclass(frozen=True)
class Salvage:
    table: str
    copied: int  # rows now in the warehouse's table (a key already there is not copied twice)
    lost: int  # rows of the damaged file in ranges that could not be read


def salvage_table(
    damaged: str | Path, warehouse: Warehouse, table: str, create: Callable[[duckdb.DuckDBPyConnection], None]
) -> Salvage:
    """Copy every readable row of `table` in the `damaged` file into `warehouse` (whose `table`
    `create` makes, with its key, if it is not there). Rows whose key is already there are kept."""
    damaged = Path(damaged).resolve()
    if warehouse.is_lake:
        raise WarehouseError("synth salvage-cache copies into the DuckDB file warehouse: run it without "
                             "SYNTH_WAREHOUSE=ducklake, then import that file into the lake with `synth merge`")
    if damaged == Path(warehouse.path).resolve():
        raise WarehouseError(f"{damaged} is the warehouse itself: move it aside first "
                             f"(`mv {damaged} {damaged}.corrupt`) and salvage from the moved file")
    if not damaged.is_file():
        raise WarehouseError(f"no file {damaged} to salvage from")
    with warehouse.connect() as con:
        create(con)
        try:
            con.execute(f"ATTACH '{str(damaged).replace(chr(39), chr(39) * 2)}' AS damaged (READ_ONLY)")
            top = con.execute(f'SELECT max(rowid) FROM damaged."{table}"').fetchone()[0]
        except duckdb.Error as exc:
            raise WarehouseError(f"cannot read {damaged} at all, so nothing in it can be salvaged ({exc}); "
                                 "restore it from a backup, or rebuild without it") from exc
        copied = lost = 0
        pending = [] if top is None else [(0, int(top))]
        while pending:
            low, high = pending.pop()
            where = f'FROM damaged."{table}" WHERE rowid BETWEEN {low} AND {high}'
            try:
                copied += con.execute(f'INSERT OR IGNORE INTO "{table}" BY NAME SELECT * {where}').fetchone()[0]
            except duckdb.Error as exc:
                if not is_corruption(exc):
                    raise
                vectors = (high - low) // VECTOR_ROWS + 1  # `low` is always a vector's first row
                if vectors == 1:  # the damage is fenced in: these rows are lost
                    lost += con.execute(f"SELECT count(*) {where}").fetchone()[0]
                else:  # halve at a vector boundary; the lower half first, so rows keep their order
                    middle = low + vectors // 2 * VECTOR_ROWS
                    pending += [(middle, high), (low, middle - 1)]
        con.execute("DETACH damaged")
    return Salvage(table, copied, lost)
