"""The DuckDB warehouse: one file holds every stage's table, the rejects, the quarantine and the
teacher's response cache.

DuckDB allows one writer process per file, so connections are short-lived (opened per operation)
and every asset that writes sits in the `warehouse` concurrency pool (limit 1 in dagster.yaml).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd

__all__ = ["Warehouse", "WarehouseError"]

_LOCK_RETRY_SECONDS = 60.0


class WarehouseError(Exception):
    """A table was written with columns its schema does not have, or could not be opened."""


class Warehouse(dg.ConfigurableResource):
    """The embedded DuckDB file where every stage writes its table."""

    path: str = "data/warehouse/synth.duckdb"

    @contextmanager
    def connect(self, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        """A short-lived connection. Waits (up to a minute) while another process holds the lock."""
        path = Path(self.path)
        if not read_only:
            path.parent.mkdir(parents=True, exist_ok=True)
        deadline = time.monotonic() + _LOCK_RETRY_SECONDS
        while True:
            try:
                con = duckdb.connect(str(path), read_only=read_only)
                break
            except duckdb.IOException as exc:
                if "lock" not in str(exc).lower() or time.monotonic() > deadline:
                    raise WarehouseError(f"cannot open warehouse {path}: {exc}") from exc
                time.sleep(0.5)
        try:
            yield con
        finally:
            con.close()

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
