"""Read the contract tables whole from an ODBC database: the local run's SQL source.

The Azure activities read the MV_ views region by region (:mod:`visitrank.adapters.sql_source`);
the local commands (``visitrank run --source 'Driver=...'``) read each view whole, as they read a
folder of files (:class:`~visitrank.adapters.file_source.FileSource`), through the same
:class:`~visitrank.contract.source.TableSource` protocol. The reading code is the Azure app's:
its connection, its arrow-odbc and pyodbc readers (arrow-odbc for the bulk tables when
installed, with the same fallback to pyodbc) and :func:`~visitrank.contract.coercion.coerce_table`,
so a bad value stops the run with view, column, row and value, as it does from files.

Every read first checks that the view and its contract columns exist (``SELECT * ... WHERE
1 = 0``, the names matched as for files: exact, else ignoring case), then selects exactly the
contract columns, quoted as the database names them. ``MV_SalesDetail`` is streamed in chunks
(:meth:`OdbcSource.read_batches`), so the lines never sit whole in memory.

The optional views (``MV_OutletHours``, ``MV_VisitPin``, ``MV_VisitExclusion``) are looked up in
the ODBC catalog first (:meth:`SqlSource.view_columns`): a database without one reads it as an
empty table, without a failing query. An optional column a view lacks reads as null.

The connection string may hold a password or a key: :meth:`OdbcSource.label` (what the run
summary and every message show) masks them, and driver messages have their values replaced.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from typing import Any

import polars as pl
import pyodbc

from visitrank.adapters.app_settings import SettingsError
from visitrank.adapters.connection_string import (
    MASK,
    mask_secrets,
    secret_values,
)
from visitrank.adapters.sql_source import SqlSource, as_date
from visitrank.contract.coercion import coerce_table, resolve_columns
from visitrank.contract.errors import ContractError
from visitrank.contract.tables import ALL_TABLES, OPTIONAL_TABLES, SALES, TableSpec, empty_table

"""An attribute whose name contains one of these (ignoring case) has its value masked."""


class OdbcSource:
    """The MV_ views of an ODBC database (SQL Server through ODBC Driver 18 in production).

    ``batch_size`` rows are fetched per round trip (``fetchmany`` / arrow-odbc batch);
    ``reader`` is ``VISITRANK_SQL_READER``'s ("auto", "arrow" or "pyodbc"). Nothing connects
    at construction: the first read does, and a connection failure is a ContractError with
    the masked connection string and the driver's message.
    """

    def __init__(
        self,
        connection_string: str,
        *,
        batch_size: int = 50_000,
        reader: str = "auto",
        values: dict[str, dict[str, str]] | None = None,
    ) -> None:
        text = connection_string.strip()
        if not text:
            raise ContractError("the ODBC connection string is empty")
        try:
            self.sql = SqlSource(text, batch_size, reader)
        except SettingsError as error:
            raise ContractError(str(error)) from error
        self._reading: dict[str, dict[str, Any]] = {}
        self._unreachable: ContractError | None = None
        self._values = dict(values or {})

    def value_map(self) -> dict[str, dict[str, str]]:
        """The coded-value mappings given with the connection (a source settings file)."""
        return self._values

    @property
    def connection_string(self) -> str:
        """The connection string as given (secrets included: never print it; see label)."""
        return self.sql.connection_string

    def label(self) -> str:
        """The connection string with every secret masked (see :func:`mask_secrets`)."""
        return mask_secrets(self.connection_string)

    def reading(self) -> dict[str, dict[str, Any]]:
        """Per view read so far: ``{"view": ..., "reader": "arrow-odbc" | "pyodbc"}``."""
        return {name: dict(info) for name, info in self._reading.items()}

    @contextmanager
    def connect(self) -> Iterator[pyodbc.Connection]:
        """A connection (the Azure app's settings: autocommit, 30 s login timeout), closed on
        exit; ContractError naming the masked connection string when the driver fails.

        A failure is kept: every later read raises the same error at once, rather than
        waiting for the login timeout again for each table of an unreachable server."""
        if self._unreachable is not None:
            raise self._unreachable
        try:
            connection = self.sql.open_connection()
        except pyodbc.Error as error:
            self._unreachable = ContractError(
                f"cannot connect to the ODBC source {self.label()}: {self.driver_message(error)}"
            )
            raise self._unreachable from error
        try:
            yield connection
        finally:
            connection.close()

    def driver_message(self, error: BaseException) -> str:
        """A driver error's text on one line, any secret of the connection string masked."""
        args = error.args  # pyodbc: (SQLSTATE, message)
        text = str(args[1]) if len(args) >= 2 else str(error)
        for secret in secret_values(self.connection_string):
            text = text.replace(secret, MASK)
        return " ".join(text.split())

    def columns(self, spec: TableSpec) -> dict[str, str]:
        """Contract column -> view column of ``spec``'s view, from the view's result columns
        (no row is read). ContractError if the view or a required contract column is missing;
        an absent optional view has no columns (``{}``)."""
        with self.connect() as connection:
            return self._columns(connection, spec)

    def read(self, spec: TableSpec) -> pl.DataFrame:
        """One view whole, its contract columns coerced to the contract (an absent optional
        view: an empty table)."""
        with self.connect() as connection:
            return self._read(connection, spec)

    def read_all(self) -> dict[str, pl.DataFrame]:
        """Every required contract view and each optional one the database has, coerced,
        keyed by table name (contract order, one connection). The optional views left out
        read as empty (:meth:`read`, ``contract.tables.complete``)."""
        with self.connect() as connection:
            return {
                name: self._read(connection, spec)
                for name, spec in ALL_TABLES.items()
                if name not in OPTIONAL_TABLES or self._columns(connection, spec)
            }

    def read_batches(self, spec: TableSpec, rows: int) -> Iterator[pl.DataFrame]:
        """One view as coerced chunks of at most ``rows`` rows, in the order the database
        returns them; concatenated, they equal :meth:`read` (at least one chunk, empty for an
        empty view). A missing view or column raises here, before the first chunk; a bad value
        raises when its chunk is read and names its row in the whole result. Rows are fetched
        in batches of at most ``min(rows, batch_size)`` and only one chunk is held at a time.
        """
        if rows < 1:
            raise ValueError(f"rows must be at least 1, got {rows}")
        mapping = self.columns(spec)
        if not mapping:  # an absent optional view
            return iter([empty_table(spec)])
        return self._batches(spec, select_sql(spec, mapping), rows)

    def last_sale_date(self) -> date | None:
        """The latest ``MV_Sales.SaleDate`` (``SELECT MAX``), or None when there are no sales."""
        with self.connect() as connection:
            column = quote(self._columns(connection, SALES)["SaleDate"])
            try:
                frame = self.sql.query(connection, f"SELECT MAX({column}) FROM {SALES.name}")
            except pyodbc.Error as error:
                raise ContractError(
                    f"{SALES.name}: cannot read the latest SaleDate: {self.driver_message(error)}",
                    table=SALES.name,
                ) from error
        value = frame.item(0, 0) if frame.height else None
        try:
            return as_date(value)
        except ValueError as error:
            raise ContractError.at(
                SALES.name,
                f"the latest SaleDate {value!r} is not a date",
                column="SaleDate",
                value=value,
            ) from error

    def _columns(self, connection: pyodbc.Connection, spec: TableSpec) -> dict[str, str]:
        if spec.name in OPTIONAL_TABLES:
            try:
                names = self.sql.view_columns(connection, spec.name)
            except ContractError as error:
                raise ContractError(
                    f"{spec.name}: cannot list the columns of view {spec.name} from "
                    f"{self.label()}: {self.driver_message(error.__cause__ or error)}",
                    table=spec.name,
                ) from error
            return {} if names is None else resolve_columns(spec, names)
        cursor = connection.cursor()
        try:
            cursor.execute(f"SELECT * FROM {spec.name} WHERE 1 = 0")
            names = [str(column[0]) for column in cursor.description]
        except pyodbc.Error as error:
            raise ContractError(
                f"{spec.name}: cannot read view {spec.name} (missing, or not readable) from "
                f"{self.label()}: {self.driver_message(error)}",
                table=spec.name,
            ) from error
        finally:
            cursor.close()
        return resolve_columns(spec, names)

    def _read(self, connection: pyodbc.Connection, spec: TableSpec) -> pl.DataFrame:
        mapping = self._columns(connection, spec)
        if not mapping:  # an absent optional view
            return empty_table(spec)
        sql = select_sql(spec, mapping)
        raw, reader = self.sql.fetch(connection, spec, sql)
        self._reading[spec.name] = {"view": spec.name, "reader": reader}
        return coerce_table(spec, raw)

    def _batches(self, spec: TableSpec, sql: str, rows: int) -> Iterator[pl.DataFrame]:
        fetching = SqlSource(
            self.connection_string, min(rows, self.sql.batch_size), self.sql.reader
        )
        with self.connect() as connection:
            frames, reader = fetching.fetch_batches(connection, spec, sql)
            self._reading[spec.name] = {"view": spec.name, "reader": reader}
            try:
                offset = 0
                for chunk in chunked(frames, rows):
                    height = chunk.height
                    coerced = [coerce_table(spec, chunk, row_offset=offset)]
                    del chunk
                    offset += height
                    yield coerced.pop()  # keep no reference while suspended
            finally:
                frames.close()  # its cursor, before the connection (a bad value, an early stop)


def chunked(frames: Iterator[pl.DataFrame], rows: int) -> Iterator[pl.DataFrame]:
    """``frames`` regrouped into consecutive frames of exactly ``rows`` rows, the last one
    shorter; one empty frame when there are no rows (the first frame, which names the
    columns). Holds at most one chunk plus one frame."""
    pending: list[pl.DataFrame] = []
    held = 0
    empty: pl.DataFrame | None = None
    given = False
    for frame in frames:
        if not frame.height:
            empty = frame if empty is None else empty
            continue
        pending.append(frame)
        held += frame.height
        while held >= rows:
            joined = pl.concat(pending, how="vertical_relaxed")
            pending = [joined.slice(rows)] if joined.height > rows else []
            held -= rows
            given = True
            yield joined.slice(0, rows)
            del joined
    if pending:
        yield pl.concat(pending, how="vertical_relaxed")
    elif not given and empty is not None:
        yield empty


def select_sql(spec: TableSpec, mapping: dict[str, str]) -> str:
    """``SELECT "col", ... FROM <view>`` of the view columns holding ``spec``'s contract
    columns (``mapping``, from :func:`resolve_columns`), quoted as the database names them."""
    columns = ", ".join(quote(column) for column in dict.fromkeys(mapping.values()))
    return f"SELECT {columns} FROM {spec.name}"


def quote(name: str) -> str:
    """A column name as an ANSI quoted identifier (SQL Server, PostgreSQL and SQLite)."""
    return '"' + name.replace('"', '""') + '"'
