"""An ERP database in a SQLite file, read through the SQLite3 ODBC driver: the stand-in for SQL
Server in the tests of both drivers (the Azure app and `visitrank run --source odbc:...`)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import polars as pl

from visitrank.contract.tables import TABLES

SQL_TYPES = {pl.Int64: "INTEGER", pl.Float64: "REAL", pl.String: "TEXT", pl.Date: "DATE"}


def write_sqlite(
    path: Path, tables: dict[str, pl.DataFrame], text_columns: frozenset[str] = frozenset()
) -> str:
    """Create ``path`` with one table per contract table (dates as ISO text, as the SQLite
    driver stores them); returns its ODBC connection string.

    ``text_columns`` ("Table.Column") are declared TEXT, like a VARCHAR column in an ERP view.
    """
    with sqlite3.connect(path) as db:
        for name, spec in TABLES.items():
            columns = ", ".join(
                f"{c} {'TEXT' if f'{name}.{c}' in text_columns else SQL_TYPES[type(t)]}"
                for c, t in spec.columns.items()
            )
            db.execute(f"DROP TABLE IF EXISTS {name}")
            db.execute(f"CREATE TABLE {name} ({columns})")
            rows = tables[name].select(spec.column_names)
            rows = rows.with_columns(pl.col(pl.Date).dt.to_string("%Y-%m-%d"))
            marks = ", ".join("?" * len(spec.columns))
            db.executemany(f"INSERT INTO {name} VALUES ({marks})", rows.iter_rows())
    db.close()
    return f"Driver=SQLite3;Database={path}"
