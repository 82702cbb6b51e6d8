"""Read one region's contract tables from the ERP database through ODBC (pyodbc).

The Azure activities read the MV_ views straight from SQL, one region per activity, instead of
staging whole tables first: each region reads its customers, the sales headers of those
customers in the history window with their lines, their visits before the week, and the (small)
setup tables in full. Rows are streamed with ``fetchmany`` in batches into polars frames, then
coerced to the contract by :func:`visitrank.validation.coerce_table`, exactly as the file
source does, so a bad value stops the region with table, column and row.

Portable SQL: ``?`` parameters, plain joins, no TOP/LIMIT, no vendor functions, so the same
queries run on SQL Server (ODBC Driver 18 in production), PostgreSQL and SQLite (the tests).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import date, datetime
from typing import Any, Final

import polars as pl
import pyodbc

from visitrank.contract import (
    AREA,
    BRAND,
    CATEGORY,
    CITY,
    CUSTOMER,
    ITEM,
    REP,
    SALES,
    SALES_DETAIL,
    SUBCATEGORY,
    TABLES,
    VISIT,
    TableSpec,
)
from visitrank.errors import ContractError
from visitrank.validation import coerce_table

SETUP_TABLES: Final = (AREA, CITY, REP, CATEGORY, SUBCATEGORY, BRAND, ITEM)
"""Read in full by every region: they are small and quarantine needs them whole."""


def _columns(spec: TableSpec, alias: str) -> str:
    return ", ".join(f"{alias}.{column}" for column in spec.columns)


REGION_QUERIES: Final[dict[str, str]] = {
    CUSTOMER.name: f"SELECT {_columns(CUSTOMER, 'c')} FROM MV_SetupCustomer c WHERE c.AreaId = ?",
    SALES.name: (
        f"SELECT {_columns(SALES, 's')} FROM MV_Sales s "
        "JOIN MV_SetupCustomer c ON c.CustomerId = s.CustomerId "
        "WHERE c.AreaId = ? AND s.SaleDate >= ? AND s.SaleDate < ?"
    ),
    SALES_DETAIL.name: (
        # A semi-join (IN), not a JOIN: a SaleId repeated in the headers (a row quarantine
        # sets aside) must not repeat its lines.
        f"SELECT {_columns(SALES_DETAIL, 'd')} FROM MV_SalesDetail d "
        "WHERE d.SaleId IN (SELECT s.SaleId FROM MV_Sales s "
        "JOIN MV_SetupCustomer c ON c.CustomerId = s.CustomerId "
        "WHERE c.AreaId = ? AND s.SaleDate >= ? AND s.SaleDate < ?)"
    ),
    VISIT.name: (
        f"SELECT {_columns(VISIT, 'v')} FROM MV_Visit v "
        "JOIN MV_SetupCustomer c ON c.CustomerId = v.CustomerId "
        "WHERE c.AreaId = ? AND v.VisitDate < ?"
    ),
}
"""Per regional table, its query; parameters are (areaId, from, before) or (areaId, before)."""


class SqlSource:
    """An ODBC database holding the MV_ contract views."""

    def __init__(self, connection_string: str, batch_size: int = 50_000) -> None:
        self.connection_string = connection_string
        self.batch_size = max(1, batch_size)

    @contextmanager
    def connect(self) -> Iterator[pyodbc.Connection]:
        """A read-only-use connection, closed on exit."""
        connection = pyodbc.connect(self.connection_string, autocommit=True, timeout=30)
        try:
            yield connection
        finally:
            connection.close()

    def query(
        self, connection: pyodbc.Connection, sql: str, params: Sequence[Any] = ()
    ) -> pl.DataFrame:
        """Run ``sql`` and stream its rows in ``batch_size`` batches into one frame (as text
        or native values, uncoerced); column names come from the cursor."""
        cursor = connection.cursor()
        try:
            cursor.execute(sql, *params)
            names = [column[0] for column in cursor.description]
            batches: list[pl.DataFrame] = []
            while rows := cursor.fetchmany(self.batch_size):
                columns = list(zip(*rows, strict=True))
                batches.append(
                    pl.DataFrame(
                        {name: _series(values) for name, values in zip(names, columns, strict=True)}
                    )
                )
        finally:
            cursor.close()
        if not batches:
            return pl.DataFrame({name: pl.Series(name, [], dtype=pl.Null) for name in names})
        return pl.concat(batches, how="vertical_relaxed")

    def read_spec(
        self, connection: pyodbc.Connection, spec: TableSpec, sql: str, params: Sequence[Any] = ()
    ) -> pl.DataFrame:
        """Query one contract table and coerce it to the contract (ContractError if bad)."""
        try:
            raw = self.query(connection, sql, params)
        except pyodbc.Error as error:
            raise ContractError(f"{spec.name}: query failed: {error}", table=spec.name) from error
        return coerce_table(spec, raw)

    def read_region(
        self, area_id: int, history_start: date, before: date
    ) -> dict[str, pl.DataFrame]:
        """Every contract table for one region, coerced: setup tables in full, the region's
        customers, its sales headers and lines with ``history_start <= SaleDate < before``,
        and its visits before ``before`` (the week start)."""
        tables: dict[str, pl.DataFrame] = {}
        with self.connect() as connection:
            for spec in SETUP_TABLES:
                sql = f"SELECT {_columns(spec, 't')} FROM {spec.name} t"
                tables[spec.name] = self.read_spec(connection, spec, sql)
            window = (area_id, history_start, before)
            tables[CUSTOMER.name] = self.read_spec(
                connection, CUSTOMER, REGION_QUERIES[CUSTOMER.name], (area_id,)
            )
            for spec in (SALES, SALES_DETAIL):
                tables[spec.name] = self.read_spec(
                    connection, spec, REGION_QUERIES[spec.name], window
                )
            tables[VISIT.name] = self.read_spec(
                connection, VISIT, REGION_QUERIES[VISIT.name], (area_id, before)
            )
        return {name: tables[name] for name in TABLES}

    def regions(self) -> list[int]:
        """The AreaIds that have customers, ascending."""
        with self.connect() as connection:
            frame = self.query(
                connection,
                "SELECT DISTINCT c.AreaId FROM MV_SetupCustomer c WHERE c.AreaId IS NOT NULL",
            )
        values = frame.get_column(frame.columns[0]).cast(pl.Int64, strict=False).drop_nulls()
        return sorted(int(value) for value in values.unique().to_list())

    def last_sale_date(self, before: date) -> date | None:
        """The latest SaleDate strictly before ``before`` (the run's as-of), or None."""
        with self.connect() as connection:
            frame = self.query(
                connection, "SELECT MAX(s.SaleDate) FROM MV_Sales s WHERE s.SaleDate < ?", (before,)
            )
        value = frame.item(0, 0) if frame.height else None
        return _as_date(value)


def _series(values: tuple[Any, ...]) -> pl.Series:
    """A column of ODBC values; Decimal/mixed columns fall back to text for coerce_table."""
    try:
        return pl.Series(values=list(values), strict=False)
    except (TypeError, pl.exceptions.PolarsError):
        return pl.Series(values=[None if v is None else str(v) for v in values], dtype=pl.String)


def _as_date(value: Any) -> date | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])
