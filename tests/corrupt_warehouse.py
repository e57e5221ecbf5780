"""Real DuckDB warehouses, damaged the ways disks and copies damage them: bytes flipped inside one
data block, and files cut short (one DuckDB still opens, one it cannot)."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pandas as pd

from resources.teacher.base import Completion
from resources.teacher.cache import ResponseCache
from resources.warehouse import Warehouse
from synth_assets.core.schema import TABLE_COLUMNS

HEADER_BYTES = 3 * 4096
CACHE_ROWS = 12_000  # six vectors of 2,048 rows and more: some can be salvaged around a damaged block


def seeded_warehouse(path: Path, seeds: int = 3000) -> Warehouse:
    """Seed rows in two batches, and a teacher response cache of `CACHE_ROWS` answers."""
    warehouse = Warehouse(path=str(path))
    rows = pd.DataFrame({
        "id": [f"seed-{i:05d}" for i in range(seeds)],
        "root_id": [f"seed-{i:05d}" for i in range(seeds)],
        "origin": "human", "generation": 0, "technique": "seed", "operation": "seed", "domain": "math",
        "category": "arithmetic", "instruction": [f"Add {i} and {i * 7}; show each step. " * 4 for i in range(seeds)],
        "seed_batch": ["a" if i % 2 else "b" for i in range(seeds)],
    })
    warehouse.write_table("seeds", rows, TABLE_COLUMNS["seeds"])
    answers = [(f"key-{i:06d}", 0, Completion(f"answer {i}: " + "the sum is worked out step by step. " * 5,
                                               "stop", 10, 40)) for i in range(CACHE_ROWS)]
    ResponseCache(warehouse).put_many("rules:test", answers)
    return warehouse


def segments_of(path: Path, table: str, column: str) -> list[tuple[int, int]]:
    """(block id, offset in the block) of each stored segment of a column."""
    with duckdb.connect(str(path), read_only=True) as con:
        rows = con.execute(f"SELECT block_id, block_offset FROM pragma_storage_info('{table}') "
                           "WHERE column_name = ? AND segment_type != 'VALIDITY' AND block_id >= 0 "
                           "ORDER BY block_id, block_offset", [column]).fetchall()
    return [(int(block), int(offset)) for block, offset in rows]


def own_segments(path: Path, table: str, column: str) -> list[tuple[int, int]]:
    """The column's segments in blocks that hold nothing else of the table."""
    with duckdb.connect(str(path), read_only=True) as con:
        shared = {row[0] for row in con.execute(
            f"SELECT block_id FROM pragma_storage_info('{table}') WHERE column_name != ? OR segment_type = 'VALIDITY'",
            [column]).fetchall()}
    return [segment for segment in segments_of(path, table, column) if segment[0] not in shared]


def damage_segment(path: Path, segment: tuple[int, int], length: int = 64) -> None:
    """Overwrite `length` bytes at the start of a column's segment with bytes that all differ.

    Not a plain inversion: DuckDB's block checksum XORs a hash of each 8-byte word, so inverting an
    even number of equal words (zero padding, a run of one value) leaves it unchanged."""
    block, offset = segment
    with duckdb.connect(str(path), read_only=True) as con:
        block_size = con.execute("SELECT block_size FROM pragma_database_size() "
                                 "WHERE database_name = current_database()").fetchone()[0]
    where = HEADER_BYTES + block * block_size + max(offset, 8) + 8  # past the block's own checksum
    with path.open("r+b") as handle:
        handle.seek(where)
        data = handle.read(length)
        handle.seek(where)
        handle.write(bytes(b ^ ((i * 37 + 11) % 251 + 1) for i, b in enumerate(data)))


def truncate_half(path: Path) -> None:
    with path.open("r+b") as handle:
        handle.truncate(path.stat().st_size // 2)


def truncated_but_openable(path: Path) -> None:
    """A file DuckDB still opens although its end is gone: the live blocks are at the front and the
    end, with freed ones between (a big table replaced), and the cut takes the last one."""
    with duckdb.connect(str(path)) as con:
        con.execute("CREATE TABLE scratch AS SELECT range AS i, repeat(md5(range::VARCHAR), 20) AS s FROM range(50000)")
        con.execute("CHECKPOINT")
        con.execute("CREATE TABLE small AS SELECT range AS i FROM range(10)")
        con.execute("CHECKPOINT")
        con.execute("DROP TABLE scratch")
        con.execute("CHECKPOINT")
    with path.open("r+b") as handle:
        handle.truncate(path.stat().st_size - 4 * 262144)


def copy(path: Path, target: Path) -> Path:
    shutil.copy(path, target)
    return target
