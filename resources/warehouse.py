"""The DuckDB warehouse: one file holds every stage's table, the rejects, the quarantine and the
teacher's response cache.

DuckDB allows one writer process per file, so connections are short-lived (opened per operation)
and every asset that writes sits in the `warehouse` concurrency pool (limit 1 in dagster.yaml).

A damaged file is reported as `WarehouseCorrupt`, naming the file and how to recover. DuckDB keeps
a checksum in every 256 KiB block and checks it when it reads the block, so damage shows where a
query reads: opening reads only the headers and the catalog, and `count(*)` reads no data at all.
Every connection therefore costs one more check, cheap whatever the size (the file must be as
long as its block count says: a cut-off copy is caught there), and every DuckDB error that means
damage, whichever query meets it, is translated. `verify` reads every block of every table, at
the cost of a full scan (300 to 500 MB/s on 2 cores); `synth stats` runs it (docs/operations.md).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd

__all__ = ["Warehouse", "WarehouseCorrupt", "WarehouseError", "is_corruption"]

_LOCK_RETRY_SECONDS = 60.0
# A DuckDB file starts with a main header and two database headers of 4 KiB each, then the blocks.
_HEADER_BYTES = 3 * 4096
# What DuckDB's errors say when a file is damaged: a block's checksum, a read past the end of a cut
# file, metadata that is not there, headers that are not DuckDB's.
_CORRUPTION_SIGNS = ("corrupt", "checksum", "could not read enough bytes", "no more data remaining in metadatareader",
                     "failed to load metadata pointer", "not a valid duckdb database file")


class WarehouseError(Exception):
    """A table was written with columns its schema does not have, or could not be opened."""


class WarehouseCorrupt(WarehouseError):
    """The warehouse file is damaged (a bad block checksum, cut short, unreadable metadata)."""

    def __init__(self, path: str | Path, detail: str):
        self.path, self.detail = str(path), detail
        aside = f"{path}.corrupt"
        super().__init__(
            f"warehouse {path} is corrupt: {detail}\n"
            "Its numbers cannot be trusted. To recover, either\n"
            f"  - restore {path} from a backup, or\n"
            f"  - rebuild it from the inputs: `mv {path} {aside}`, then `synth run`.\n"
            "A rebuild makes every table again from the data folder, but the teacher's response cache "
            "(table teacher_cache) lives in this file too: without it every teacher request is asked "
            "again (seconds with the offline rules teacher; the whole generation cost, GPU time or API "
            f"spend, with a real model). To keep what is still readable of it, run `synth salvage-cache {aside}` "
            "after moving the file and before `synth run`."
        )


def is_corruption(exc: BaseException) -> bool:
    """Whether a DuckDB error means the database file is damaged."""
    return isinstance(exc, duckdb.Error) and any(sign in str(exc).lower() for sign in _CORRUPTION_SIGNS)


class Warehouse(dg.ConfigurableResource):
    """The embedded DuckDB file where every stage writes its table."""

    path: str = "data/warehouse/synth.duckdb"

    @contextmanager
    def connect(self, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        """A short-lived connection. Waits (up to a minute) while another process holds the lock.
        Raises `WarehouseCorrupt` when the file is cut short or a query meets a damaged block."""
        path = Path(self.path)
        if not read_only:
            path.parent.mkdir(parents=True, exist_ok=True)
        deadline = time.monotonic() + _LOCK_RETRY_SECONDS
        while True:
            try:
                con = duckdb.connect(str(path), read_only=read_only)
                break
            except duckdb.Error as exc:
                if is_corruption(exc):
                    raise WarehouseCorrupt(path, str(exc)) from exc
                if "lock" not in str(exc).lower() or time.monotonic() > deadline:
                    raise WarehouseError(f"cannot open warehouse {path}: {exc}") from exc
                time.sleep(0.5)
        try:
            _check_length(con, path)
            yield con
        except duckdb.Error as exc:
            if is_corruption(exc):
                raise WarehouseCorrupt(path, str(exc)) from exc
            raise
        finally:
            con.close()

    def verify(self) -> int:
        """Read every block of every table, so that DuckDB checks each block's checksum; raises
        `WarehouseCorrupt` at the first damaged one. A full scan: its cost grows with the file
        (300 to 500 MB/s on 2 cores). Returns the number of tables read (0 with no file yet)."""
        if not Path(self.path).exists():
            return 0
        with self.connect(read_only=True) as con:
            tables = [row[0] for row in con.execute(
                "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database()").fetchall()]
            for table in tables:  # hash reads every value of every column, so every data block
                con.execute(f'SELECT bit_xor(hash(COLUMNS(*))) FROM "{table}"').fetchall()
        return len(tables)

    def table_exists(self, name: str) -> bool:
        if not Path(self.path).exists():
            return False
        with self.connect(read_only=True) as con:
            found = con.execute(
                "SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [name]
            ).fetchone()
        return bool(found and found[0])

    def write_table(self, name: str, frame: pd.DataFrame, columns: Mapping[str, str]) -> int:
        """Replace table `name` with `frame`, typed by `columns`; an empty frame gives an empty table."""
        with self.connect() as con:
            con.execute("BEGIN TRANSACTION")
            con.execute(f'CREATE OR REPLACE TABLE "{name}" ({_column_ddl(columns)})')
            _insert(con, name, frame, columns)
            con.execute("COMMIT")
        return len(frame)

    def ensure_table(self, name: str, columns: Mapping[str, str]) -> None:
        """Create `name` empty with its schema if it is not there; add columns it lacks."""
        with self.connect() as con:
            _ensure_table(con, name, columns)

    def replace_stage_rows(self, name: str, stage: str, frame: pd.DataFrame, columns: Mapping[str, str]) -> int:
        """Replace the rows of one stage in a table shared by stages (`rejects`, `quarantine`)."""
        return self.replace_rows(name, frame.assign(stage=stage), columns, stage=stage)

    def replace_rows(self, name: str, frame: pd.DataFrame, columns: Mapping[str, str], **match: str) -> int:
        """Replace the rows of `name` whose columns equal `match` (one stage, one seed batch) with
        `frame`, in one transaction; other rows are untouched. Creates the table, and adds columns a
        table written by an older version lacks."""
        if not match:
            raise ValueError("replace_rows needs at least one column to match, or it would replace every row")
        where = " AND ".join(f'"{col}" = ?' for col in match)
        with self.connect() as con:
            con.execute("BEGIN TRANSACTION")
            _ensure_table(con, name, columns)
            con.execute(f'DELETE FROM "{name}" WHERE {where}', list(match.values()))
            _insert(con, name, frame, columns)
            con.execute("COMMIT")
        return len(frame)

    def delete_rows(self, names: Iterable[str], **match: str) -> dict[str, int]:
        """Delete the rows whose columns equal `match` from each existing table of `names`, in one
        transaction; the number deleted per table."""
        if not match:
            raise ValueError("delete_rows needs at least one column to match")
        where = " AND ".join(f'"{col}" = ?' for col in match)
        deleted: dict[str, int] = {}
        with self.connect() as con:
            con.execute("BEGIN TRANSACTION")
            existing = {row[0] for row in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
            for name in names:
                if name in existing:  # DuckDB's DELETE returns the number of rows it deleted
                    deleted[name] = int(con.execute(f'DELETE FROM "{name}" WHERE {where}', list(match.values())).fetchone()[0])
            con.execute("COMMIT")
        return deleted

    def read_table(self, name: str, where: str = "", params: list | None = None) -> pd.DataFrame:
        with self.connect(read_only=True) as con:
            return con.execute(f'SELECT * FROM "{name}" {where}', params or []).df()

    def query(self, sql: str, params: list | None = None) -> pd.DataFrame:
        with self.connect(read_only=True) as con:
            return con.execute(sql, params or []).df()


def _check_length(con: duckdb.DuckDBPyConnection, path: Path) -> None:
    """A file too short for the blocks it uses was cut off (a copy, a disk that ran out).

    Usually the file holds every block it counts, which costs one PRAGMA to see. DuckDB trims
    free blocks off the end of a file, so a shorter file is then checked against the last block
    in use by metadata or by a table's data (index blocks are not listed anywhere)."""
    total, block_size = con.execute("SELECT total_blocks, block_size FROM pragma_database_size() "
                                    "WHERE database_name = current_database()").fetchone()
    length = path.stat().st_size
    if length >= _HEADER_BYTES + total * block_size:
        return
    tables = [row[0] for row in con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database()").fetchall()]
    in_use = " UNION ALL ".join(["SELECT block_id FROM pragma_metadata_info()"]
                                + [f"SELECT block_id FROM pragma_storage_info('{_quoted(t)}')" for t in tables])
    last = con.execute(f"SELECT max(block_id) FROM ({in_use})").fetchone()[0]
    needed = _HEADER_BYTES + (int(last) + 1) * block_size if last is not None and last >= 0 else 0
    if length < needed:
        raise WarehouseCorrupt(path, f"the file is truncated: {length} bytes, where block {last}, in use, ends at {needed}")


def _quoted(name: str) -> str:
    return name.replace("'", "''")


def _column_ddl(columns: Mapping[str, str]) -> str:
    return ", ".join(f'"{col}" {sql_type}' for col, sql_type in columns.items())


def _ensure_table(con: duckdb.DuckDBPyConnection, name: str, columns: Mapping[str, str]) -> None:
    con.execute(f'CREATE TABLE IF NOT EXISTS "{name}" ({_column_ddl(columns)})')
    present = {row[0] for row in con.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_name = ?", [name]).fetchall()}
    for col, sql_type in columns.items():
        if col not in present:
            con.execute(f'ALTER TABLE "{name}" ADD COLUMN "{col}" {sql_type}')


def _insert(con: duckdb.DuckDBPyConnection, name: str, frame: pd.DataFrame, columns: Mapping[str, str]) -> None:
    unknown = sorted(set(frame.columns) - set(columns))
    if unknown:
        raise WarehouseError(f"table {name!r} has no columns {unknown}; its schema is {list(columns)}")
    if frame.empty:
        return
    # Columns the frame lacks are NULL; everything is cast to the schema's type.
    select = ", ".join(
        f'CAST("{col}" AS {sql_type})' if col in frame.columns else f"CAST(NULL AS {sql_type})"
        for col, sql_type in columns.items()
    )
    con.register("_incoming", frame)
    try:
        con.execute(f'INSERT INTO "{name}" SELECT {select} FROM _incoming')
    finally:
        con.unregister("_incoming")
