"""An ERP database in a SQLite file, read through the SQLite3 ODBC driver: the stand-in for SQL
Server in the tests of both drivers (the Azure app and `visitrank run --source odbc:...`)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import polars as pl

from visitrank.contract.tables import ALL_TABLES, TABLES

SQL_TYPES = {
    pl.Int64: "INTEGER",
    pl.Float64: "REAL",
    pl.String: "TEXT",
    pl.Date: "DATE",
    pl.Time: "TIME",
}


def write_sqlite(
    path: Path, tables: dict[str, pl.DataFrame], text_columns: frozenset[str] = frozenset()
) -> str:
    """Create ``path`` with one table per contract table (dates as ISO text, times as
    ``HH:MM:SS``, as the SQLite driver stores them); returns its ODBC connection string.

    The optional tables are created only when ``tables`` holds them, and an optional column
    only when its frame has it: a database without the optional inputs is the same call on
    frames without them. ``text_columns`` ("Table.Column") are declared TEXT, like a VARCHAR
    column in an ERP view.
    """
    with sqlite3.connect(path) as db:
        for name, spec in ALL_TABLES.items():
            db.execute(f"DROP TABLE IF EXISTS {name}")
            if name not in TABLES and name not in tables:
                continue
            frame = tables[name]
            present = {c: t for c, t in spec.optional.items() if c in frame.columns}
            kinds = {**spec.columns, **present}
            columns = ", ".join(
                f"{c} {'TEXT' if f'{name}.{c}' in text_columns else SQL_TYPES[type(t)]}"
                for c, t in kinds.items()
            )
            db.execute(f"CREATE TABLE {name} ({columns})")
            rows = frame.select(list(kinds)).with_columns(
                pl.col(pl.Date).dt.to_string("%Y-%m-%d"), pl.col(pl.Time).dt.to_string("%H:%M:%S")
            )
            marks = ", ".join("?" * len(kinds))
            db.executemany(f"INSERT INTO {name} VALUES ({marks})", rows.iter_rows())
    db.close()
    return f"Driver=SQLite3;Database={path}"
