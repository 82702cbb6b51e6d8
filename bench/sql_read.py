"""Benchmark: rows/s of the SQL source, arrow-odbc reader vs pyodbc reader.

Builds a SQLite ERP with a few hundred thousand sales lines from the demo generator (or uses an
existing database with ``--connection``, e.g. PostgreSQL), then times, for each reader, the
sales-lines query of region 1 into a contract-typed polars frame (``read_spec``), and every
region's full ``read_region``, as the Azure activity does; plus a bare pyodbc ``fetchmany`` of
the same query as the floor of the driver. Medians of ``--runs`` runs. Prints; not a test.

Usage: .venv/bin/python bench/sql_read.py [--outlets 1000] [--weeks 26] [--runs 7]
       [--connection 'Driver={PostgreSQL Unicode};Server=...']
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pyodbc

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.azure.conftest import write_sqlite  # noqa: E402
from visitrank.adapters.sql_source import SqlSource, region_query  # noqa: E402
from visitrank.contract.tables import SALES_DETAIL  # noqa: E402
from visitrank.lab.demo_data import DemoSpec, generate_tables  # noqa: E402

BEFORE = date(2026, 11, 16)
START = date(2000, 1, 1)


def median_rate(label: str, runs: int, read: Callable[[], int]) -> float:
    """Run ``read`` (returns rows) ``runs`` times; print and return the median rows/s."""
    seconds: list[float] = []
    rows = 0
    for _ in range(runs):
        started = time.perf_counter()
        rows = read()
        seconds.append(time.perf_counter() - started)
    median = statistics.median(seconds)
    rate = rows / median
    print(
        f"{label:<34} {rows:>9,} rows  median {median:6.3f}s of {runs}"
        f" (min {min(seconds):.3f}, max {max(seconds):.3f})  {rate:>10,.0f} rows/s"
    )
    return rate


def bench(conn: str, runs: int, batch: int) -> None:
    """Time both readers on the sales-lines query and on whole regions."""
    sql, window = region_query(SALES_DETAIL.name, 1, START, BEFORE)
    rates: dict[str, float] = {}
    for reader in ("pyodbc", "arrow"):
        source = SqlSource(conn, batch_size=batch, reader=reader)

        def lines(source: SqlSource = source) -> int:
            with source.connect() as connection:
                return source.read_spec(connection, SALES_DETAIL, sql, window).height

        rates[reader] = median_rate(f"{reader} sales lines (region 1)", runs, lines)
    print(f"arrow-odbc / pyodbc on sales lines: {rates['arrow'] / rates['pyodbc']:.2f}x")

    def bare() -> int:
        with pyodbc.connect(conn, autocommit=True) as raw:
            cursor = raw.cursor()
            cursor.execute(sql, *window)
            count = 0
            while chunk := cursor.fetchmany(batch):
                count += len(chunk)
            return count

    median_rate("bare pyodbc fetchmany (same query)", runs, bare)
    for reader in ("pyodbc", "arrow"):
        source = SqlSource(conn, batch_size=batch, reader=reader)

        def regions(source: SqlSource = source) -> int:
            return sum(
                frame.height
                for area in source.regions()
                for frame in source.read_region(area, START, BEFORE).values()
            )

        rates[reader] = median_rate(f"{reader} read_region, all regions", runs, regions)
    print(f"arrow-odbc / pyodbc on whole regions: {rates['arrow'] / rates['pyodbc']:.2f}x")


def main() -> None:
    """Generate and load (unless --connection), then bench."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--outlets", type=int, default=1000)
    parser.add_argument("--weeks", type=int, default=26)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--batch", type=int, default=50_000)
    parser.add_argument("--connection", help="an existing ODBC database holding the MV_ tables")
    args = parser.parse_args()
    if args.connection:
        bench(args.connection, args.runs, args.batch)
        return
    spec = DemoSpec(outlets=args.outlets, reps=30, skus=120, weeks=args.weeks, areas=3)
    tables, *_ = generate_tables(spec)
    print(f"MV_SalesDetail rows: {tables['MV_SalesDetail'].height:,} (SQLite ODBC)")
    with tempfile.TemporaryDirectory() as folder:
        bench(write_sqlite(Path(folder) / "erp.db", tables), args.runs, args.batch)


if __name__ == "__main__":
    main()
