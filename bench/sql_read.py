"""Benchmark: rows/s of the SQL source (pyodbc + fetchmany + polars + coerce_table).

Builds a SQLite ERP with a few hundred thousand sales lines from the demo generator, then reads
every region through the SQLite ODBC driver as the Azure activity does. Prints the numbers; not
a test. Usage: .venv/bin/python bench/sql_read.py [outlets] [weeks]
"""

from __future__ import annotations

import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import pyodbc

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from adapters.sql_source import SqlSource  # noqa: E402
from tests.azure.conftest import write_sqlite  # noqa: E402
from visitrank.demo_data import DemoSpec, generate_tables  # noqa: E402


def main() -> None:
    """Generate, load, read; print rows/s for the source and for a bare pyodbc fetch."""
    outlets = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    weeks = int(sys.argv[2]) if len(sys.argv) > 2 else 26
    spec = DemoSpec(outlets=outlets, reps=30, skus=120, weeks=weeks, areas=3)
    tables, *_ = generate_tables(spec)
    print(f"MV_SalesDetail rows: {tables['MV_SalesDetail'].height:,}")
    with tempfile.TemporaryDirectory() as folder:
        conn = write_sqlite(Path(folder) / "erp.db", tables)
        before = date(2026, 11, 16)
        start = date(2000, 1, 1)
        for batch in (10_000, 50_000):
            source = SqlSource(conn, batch_size=batch)
            started = time.perf_counter()
            rows = 0
            for area in source.regions():
                region = source.read_region(area, start, before)
                rows += sum(frame.height for frame in region.values())
            seconds = time.perf_counter() - started
            rate = rows / seconds
            print(f"SqlSource batch={batch}: {rows:,} rows in {seconds:.2f}s = {rate:,.0f} rows/s")
        with pyodbc.connect(conn) as raw:
            started = time.perf_counter()
            cursor = raw.cursor()
            cursor.execute("SELECT SaleId, ItemId, Quantity, Amount FROM MV_SalesDetail")
            count = 0
            while chunk := cursor.fetchmany(50_000):
                count += len(chunk)
            seconds = time.perf_counter() - started
            rate = count / seconds
            print(f"bare pyodbc fetchmany: {count:,} rows in {seconds:.2f}s = {rate:,.0f} rows/s")


if __name__ == "__main__":
    main()
