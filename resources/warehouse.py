"""The warehouse: every stage's table, the rejects, the quarantine and the teacher's response cache.

Two backends behind the one resource (`backend`):

- `duckdb` (the default): one embedded DuckDB file (`path`). DuckDB allows one writer process per
  file, so connections are short-lived (opened per operation) and every asset that writes sits in
  the `warehouse` concurrency pool (limit 1 in dagster.yaml).
- `ducklake`: a DuckLake, for many writers at once (docs/scaling.md). Its catalog (`catalog`) is a
  SQLite file (several processes on one machine) or a PostgreSQL database (`postgres:` followed by a
  libpq DSN or URL, for many machines); its rows are Parquet files under `data_path` (a folder, or
  an S3-compatible URL). Each write is one ACID transaction, retried when another writer's
  transaction conflicts with it. The extensions come from PyPI wheels
  (`duckdb-extension-ducklake`, `-sqlite`, `-postgres`), so nothing is downloaded at run time.

A damaged file is reported as `WarehouseCorrupt`, naming the file and how to recover. DuckDB keeps
a checksum in every 256 KiB block and checks it when it reads the block, so damage shows where a
query reads: opening reads only the headers and the catalog, and `count(*)` reads no data at all.
Every connection therefore costs one more check, cheap whatever the size (the file must be as
long as its block count says: a cut-off copy is caught there), and every DuckDB error that means
damage, whichever query meets it, is translated. `verify` reads every block of every table, at
the cost of a full scan (300 to 500 MB/s on 2 cores); `synth stats` runs it (docs/operations.md).
"""

from __future__ import annotations

import fcntl
import os
import random
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import dagster as dg
import duckdb
import pandas as pd
from pydantic import PrivateAttr, model_validator

__all__ = [
    "WAREHOUSE_BACKENDS",
    "RowReplacement",
    "Warehouse",
    "WarehouseCorrupt",
    "WarehouseError",
    "has_table",
    "is_corruption",
]

WAREHOUSE_BACKENDS = ("duckdb", "ducklake")
_LAKE = "lake"  # the name the lake is attached under in every connection
_POSTGRES_PREFIX = "postgres:"
_LOCK_RETRY_SECONDS = 60.0
# Two lake writers whose transactions touch the same rows (or both create a table) conflict: the
# later commit fails and the whole transaction is run again, from a fresh snapshot.
_CONFLICT_SIGNS = ("conflict", "database is locked", "could not serialize")
_CONFLICT_RETRY_SECONDS = 120.0
_T = TypeVar("_T")
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


@dataclass(frozen=True)
class RowReplacement:
    """Replace the rows of `table` whose columns equal `match` with `frame` (typed by `columns`)."""

    table: str
    frame: pd.DataFrame
    columns: Mapping[str, str]
    match: dict[str, str] = field(default_factory=dict)


class Warehouse(dg.ConfigurableResource):
    """Where every stage writes its table: the embedded DuckDB file, or a DuckLake."""

    backend: str = "duckdb"
    path: str = "data/warehouse/synth.duckdb"  # the DuckDB file (backend duckdb)
    catalog: str = ""  # backend ducklake: a SQLite file, or `postgres:` + a libpq DSN or URL
    data_path: str = ""  # backend ducklake: the folder (or s3:// URL) of its Parquet files

    _lake: tuple[int, duckdb.DuckDBPyConnection] | None = PrivateAttr(default=None)  # (pid, the lake attached)

    @model_validator(mode="after")
    def _valid_backend(self) -> Warehouse:
        if self.backend not in WAREHOUSE_BACKENDS:
            raise ValueError(f"warehouse backend must be one of {list(WAREHOUSE_BACKENDS)}, got {self.backend!r}")
        if self.backend == "ducklake" and not (self.catalog and self.data_path):
            raise ValueError("the ducklake warehouse needs both `catalog` (a SQLite file or postgres:DSN) "
                             f"and `data_path` (a folder); got catalog={self.catalog!r}, data_path={self.data_path!r}")
        return self

    @classmethod
    def in_folder(cls, data_dir: str | Path, backend: str = "duckdb", catalog: str = "", data_path: str = "") -> Warehouse:
        """The warehouse of a data folder: `warehouse/synth.duckdb`, or a lake whose catalog and
        data path default to `warehouse/lake.sqlite` and `warehouse/lake/` there."""
        folder = Path(data_dir) / "warehouse"
        if backend != "ducklake":
            return cls(backend=backend, path=str(folder / "synth.duckdb"))
        return cls(backend=backend, path=str(folder / "synth.duckdb"), catalog=catalog or str(folder / "lake.sqlite"),
                   data_path=data_path or str(folder / "lake"))

    @property
    def is_lake(self) -> bool:
        return self.backend == "ducklake"

    @property
    def location(self) -> str:
        """Where the warehouse is, for messages: the file, or the lake's catalog and data path."""
        if self.is_lake:
            return f"DuckLake (catalog {self.catalog}, data {self.data_path})"
        return self.path

    def exists(self) -> bool:
        """Whether there is a warehouse yet: the file, or the lake's catalog (a PostgreSQL catalog
        is taken to be there: the lake makes its tables in that database when first attached)."""
        if not self.is_lake:
            return Path(self.path).exists()
        return self.catalog.startswith(_POSTGRES_PREFIX) or Path(self.catalog).exists()

    @contextmanager
    def connect(self, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        """A short-lived connection. Waits (up to a minute) while another process holds the lock.
        Raises `WarehouseCorrupt` when the file is cut short or a query meets a damaged block.
        On the lake, the connection's current database is the lake, so unqualified table names
        and `current_database()` mean the lake's."""
        if self.is_lake:
            with self._connect_lake(read_only) as con:
                yield con
            return
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

    @contextmanager
    def _connect_lake(self, read_only: bool) -> Iterator[duckdb.DuckDBPyConnection]:
        """A cursor on this process's in-memory DuckDB that has the lake attached. Loading the
        extensions costs about 0.3 s each, so it is done once per process, not per connection;
        every cursor is a connection of its own, with its own transactions. `read_only` is not
        enforced here: the lake is attached once, writable."""
        base = self._lake_base()
        con = base.cursor()
        try:
            con.execute(f"USE {_LAKE}")
            yield con
        finally:
            con.close()

    def _lake_base(self) -> duckdb.DuckDBPyConnection:
        held = self._lake
        if held is not None and held[0] == os.getpid():  # a forked child opens its own
            return held[1]
        postgres = self.catalog.startswith(_POSTGRES_PREFIX)
        con = duckdb.connect()
        _load_lake_extensions(con, postgres=postgres)
        if postgres:
            catalog = self.catalog
        else:
            _sqlite_catalog(Path(self.catalog))
            catalog = f"sqlite:{Path(self.catalog).resolve()}"
        if "://" not in self.data_path:
            Path(self.data_path).mkdir(parents=True, exist_ok=True)
        data_path = self.data_path if "://" in self.data_path else str(Path(self.data_path).resolve())
        deadline = time.monotonic() + _LOCK_RETRY_SECONDS
        while True:  # ATTACH takes no parameters
            try:
                con.execute(f"ATTACH '{_quoted('ducklake:' + catalog)}' AS {_LAKE} "
                            f"(DATA_PATH '{_quoted(data_path.rstrip('/') + '/')}')")
                break
            except duckdb.Error as exc:
                if not _is_conflict(exc) or time.monotonic() > deadline:
                    con.close()
                    raise WarehouseError(f"cannot open warehouse {self.location}: {exc}") from exc
                time.sleep(0.2)
        self._lake = (os.getpid(), con)
        return con

    @contextmanager
    def _writer_turn(self) -> Iterator[None]:
        """With a SQLite catalog, the writers of this machine take turns (a lock file beside the
        catalog): SQLite answers a second writer's commit with "database is locked" at once, and
        four processes retrying each other's commits spent most of their time failing. Readers
        never wait, and the work between writes (the stages' computing) runs in parallel."""
        if not self.is_lake or self.catalog.startswith(_POSTGRES_PREFIX):
            yield
            return
        lock = Path(f"{self.catalog}.writer.lock")
        lock.parent.mkdir(parents=True, exist_ok=True)
        with open(lock, "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def transaction(self, work: Callable[[duckdb.DuckDBPyConnection], _T]) -> _T:
        """Run `work(con)` in one transaction and commit. On the lake, a transaction that
        conflicts with another writer's is rolled back and run again from the start (for up to
        two minutes), so `work` must do all its reading and writing on `con`."""
        deadline = time.monotonic() + _CONFLICT_RETRY_SECONDS
        while True:
            try:
                with self._writer_turn(), self.connect() as con:
                    con.execute("BEGIN TRANSACTION")
                    try:
                        result = work(con)
                        con.execute("COMMIT")
                    except BaseException:
                        _rollback(con)
                        raise
                return result
            except duckdb.Error as exc:
                if not (self.is_lake and _is_conflict(exc)) or time.monotonic() > deadline:
                    raise
                # A short random pause, so that two writers that met do not meet again at once.
                time.sleep(random.uniform(0.01, 0.2))

    def keyed_table_sql(self, name: str, columns: str, key: Sequence[str]) -> str:
        """`CREATE TABLE IF NOT EXISTS name (columns)` with `key` as its primary key in the file.
        DuckLake has no constraints: there the key stays unique because every write is an `upsert_sql`."""
        keyed = "" if self.is_lake else f", PRIMARY KEY ({', '.join(key)})"
        return f'CREATE TABLE IF NOT EXISTS "{name}" ({columns}{keyed})'

    def upsert_sql(self, table: str, source: str, key: Sequence[str], columns: Sequence[str]) -> str:
        """Insert the rows of `source` (a registered frame or a query, one row per key) into `table`,
        replacing the rows whose `key` is already there: `INSERT OR REPLACE` on the file's primary
        key, `MERGE INTO` on the key columns in the lake."""
        names = ", ".join(columns)
        if not self.is_lake:
            return f'INSERT OR REPLACE INTO "{table}" ({names}) SELECT {names} FROM {source}'
        on = " AND ".join(f'"{table}".{k} = _src.{k}' for k in key)
        updates = ", ".join(f"{c} = _src.{c}" for c in columns if c not in key)
        return (f'MERGE INTO "{table}" USING (SELECT {names} FROM {source}) AS _src ON ({on}) '
                f"WHEN MATCHED THEN UPDATE SET {updates} "
                f"WHEN NOT MATCHED THEN INSERT ({names}) VALUES ({', '.join('_src.' + c for c in columns)})")

    def verify(self) -> int:
        """Read every block of every table, so that DuckDB checks each block's checksum; raises
        `WarehouseCorrupt` at the first damaged one. A full scan: its cost grows with the file
        (300 to 500 MB/s on 2 cores). Returns the number of tables read (0 with no file yet)."""
        if not self.exists():
            return 0
        with self.connect(read_only=True) as con:
            tables = [row[0] for row in con.execute(
                "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database()").fetchall()]
            for table in tables:  # hash reads every value of every column, so every data block
                con.execute(f'SELECT bit_xor(hash(COLUMNS(*))) FROM "{table}"').fetchall()
        return len(tables)

    def table_exists(self, name: str) -> bool:
        if not self.exists():
            return False
        with self.connect(read_only=True) as con:
            return has_table(con, name)

    def write_table(self, name: str, frame: pd.DataFrame, columns: Mapping[str, str]) -> int:
        """Replace table `name` with `frame`, typed by `columns`; an empty frame gives an empty table."""
        def work(con: duckdb.DuckDBPyConnection) -> None:
            con.execute(f'CREATE OR REPLACE TABLE "{name}" ({_column_ddl(columns)})')
            _insert(con, name, frame, columns)

        self.transaction(work)
        return len(frame)

    def ensure_table(self, name: str, columns: Mapping[str, str]) -> None:
        """Create `name` empty with its schema if it is not there; add columns it lacks."""
        self.transaction(lambda con: _ensure_table(con, name, columns))

    def replace_stage_rows(self, name: str, stage: str, frame: pd.DataFrame, columns: Mapping[str, str]) -> int:
        """Replace the rows of one stage in a table shared by stages (`rejects`, `quarantine`)."""
        return self.replace_rows(name, frame.assign(stage=stage), columns, stage=stage)

    def replace_rows(self, name: str, frame: pd.DataFrame, columns: Mapping[str, str], **match: str) -> int:
        """Replace the rows of `name` whose columns equal `match` (one stage, one seed batch) with
        `frame`, in one transaction; other rows are untouched. Creates the table, and adds columns a
        table written by an older version lacks."""
        return self.replace_many([RowReplacement(name, frame, columns, dict(match))])[0]

    def replace_many(self, replacements: Sequence[RowReplacement]) -> list[int]:
        """Several `replace_rows` in one transaction: all of them are written, or none (a stage's
        rows, its rejects and its quarantine for one seed batch). The rows written per replacement."""
        for item in replacements:
            if not item.match:
                raise ValueError(f"replacing rows of {item.table!r} needs at least one column to match, "
                                 "or it would replace every row")
            unknown = sorted(set(item.frame.columns) - set(item.columns))
            if unknown:
                raise WarehouseError(f"table {item.table!r} has no columns {unknown}; its schema is {list(item.columns)}")

        def work(con: duckdb.DuckDBPyConnection) -> None:
            for item in replacements:
                where = " AND ".join(f'"{col}" = ?' for col in item.match)
                _ensure_table(con, item.table, item.columns)
                con.execute(f'DELETE FROM "{item.table}" WHERE {where}', list(item.match.values()))
                _insert(con, item.table, item.frame, item.columns)

        self.transaction(work)
        return [len(item.frame) for item in replacements]

    def delete_rows(self, names: Iterable[str], **match: str) -> dict[str, int]:
        """Delete the rows whose columns equal `match` from each existing table of `names`, in one
        transaction; the number deleted per table."""
        if not match:
            raise ValueError("delete_rows needs at least one column to match")
        where = " AND ".join(f'"{col}" = ?' for col in match)

        def work(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
            deleted: dict[str, int] = {}
            existing = {row[0] for row in con.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_catalog = current_database()").fetchall()}
            for name in names:
                if name in existing:  # DuckDB's DELETE returns the number of rows it deleted
                    deleted[name] = int(con.execute(f'DELETE FROM "{name}" WHERE {where}', list(match.values())).fetchone()[0])
            return deleted

        return self.transaction(work)

    def read_table(self, name: str, where: str = "", params: list | None = None) -> pd.DataFrame:
        with self.connect(read_only=True) as con:
            return con.execute(f'SELECT * FROM "{name}" {where}', params or []).df()

    def query(self, sql: str, params: list | None = None) -> pd.DataFrame:
        with self.connect(read_only=True) as con:
            return con.execute(sql, params or []).df()


def _load_lake_extensions(con: duckdb.DuckDBPyConnection, postgres: bool) -> None:
    """Install the DuckLake extension and its catalog's from their PyPI wheels (a local file
    copied once into DuckDB's extension folder) and load them: never from the network."""
    import duckdb_extensions

    for wheel in ("ducklake", "postgres" if postgres else "sqlite"):
        try:
            duckdb_extensions.import_extension(wheel, con=con)
        except ModuleNotFoundError as exc:
            raise WarehouseError(f"the ducklake warehouse needs the package duckdb-extension-{wheel}=={duckdb.__version__} "
                                 "(pip install '.[lake]')") from exc
        con.execute(f"LOAD {wheel}")


def _sqlite_catalog(path: Path) -> None:
    """Put the SQLite catalog in write-ahead-log mode (kept in the file): in SQLite's default mode
    every process's open read transaction blocks the others' commits ("database is locked")."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with closing(sqlite3.connect(path, timeout=_LOCK_RETRY_SECONDS)) as db:
        if db.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
            db.execute("PRAGMA journal_mode=WAL")


def _is_conflict(exc: BaseException) -> bool:
    return isinstance(exc, duckdb.Error) and any(sign in str(exc).lower() for sign in _CONFLICT_SIGNS)


def _rollback(con: duckdb.DuckDBPyConnection) -> None:
    try:
        con.execute("ROLLBACK")
    except duckdb.Error:  # the failed statement already ended the transaction
        pass


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


def has_table(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    """Whether the connection's current database holds table `name`. A reader asks this instead of
    creating a missing table: on the lake a CREATE is a write, and two processes' creates collide."""
    found = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = ? AND table_catalog = current_database()",
        [name]).fetchone()
    return bool(found and found[0])


def _quoted(name: str) -> str:
    return name.replace("'", "''")


def _column_ddl(columns: Mapping[str, str]) -> str:
    return ", ".join(f'"{col}" {sql_type}' for col, sql_type in columns.items())


def _ensure_table(con: duckdb.DuckDBPyConnection, name: str, columns: Mapping[str, str]) -> None:
    con.execute(f'CREATE TABLE IF NOT EXISTS "{name}" ({_column_ddl(columns)})')
    present = {row[0] for row in con.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_name = ? AND table_catalog = current_database()",
        [name]).fetchall()}
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
