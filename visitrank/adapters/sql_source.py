"""Read one region's contract tables from the ERP database through ODBC (arrow-odbc / pyodbc).

The Azure activities read the MV_ views straight from SQL, one region per activity, instead of
staging whole tables first: each region reads its customers, the sales headers of those
customers in the history window with their lines, their visits before the week, and the (small)
setup tables in full; the plan activity reads once what no region owns (:data:`UNOWNED_QUERIES`).
Every row of the run's scope is read and counted by exactly one of them, and each also reads the
other headers of its SaleIds and the other rows of its VisitIds (never counted nor kept), so
that its quarantine gives every row the reason the local run's quarantine of the whole tables
gives it (``visitrank.pipeline.region``): a key whose copies differ is set aside whole, by every
reader of one of its copies. Rows are streamed with ``fetchmany`` in batches into polars frames,
then coerced to the contract by :func:`visitrank.contract.coercion.coerce_table`, exactly as the
file source does, so a bad value stops the region with table, column and row.

The bulk tables (sales headers, sales lines, visits) are read through arrow-odbc when it is
installed (``VISITRANK_SQL_READER=auto``, the default; ``arrow`` / ``pyodbc`` force one): it
fetches columnar batches straight into Arrow buffers, about 1.7x the rows/s of the pyodbc path
on the sales-lines query (``bench/sql_read.py``, docs/azure.md). Its schema is forced to the
contract where the source type allows (integers -> Int64, floats/decimals -> Float64, dates ->
Date), so a REAL/float4 column is never read as Float32 and a 64-bit id never as Int32; text
columns stay text for ``coerce_table``. The frames equal the pyodbc path's exactly (tested). An
arrow-odbc error on a table falls back to pyodbc for that table, with a warning.

The local commands read the same views whole through this code
(:class:`visitrank.adapters.odbc_source.OdbcSource`: :meth:`SqlSource.fetch` and, streamed,
:meth:`SqlSource.fetch_batches`, which also say which reader read a table).

Portable SQL: ``?`` parameters, plain joins, no TOP/LIMIT, no vendor functions, so the same
queries run on SQL Server (ODBC Driver 18 in production), PostgreSQL and SQLite (the tests).

The optional inputs of the contract (the views ``MV_OutletHours``, ``MV_VisitPin``,
``MV_VisitExclusion``; the columns ``HomeLatitude``/``HomeLongitude`` of ``MV_SetupRep`` and
``VisitMinutes``/``VisitEveryWeeks`` of ``MV_SetupCustomer``) may be missing from a database. Which
ones it has is found once per source (:meth:`SqlSource.optional_inputs`), before the first read:
the optional views from the ODBC catalog (``SQLColumns``: no query runs against a view that may
not exist, so no error has to be told apart from a real failure), the optional columns from the
result columns of ``SELECT * FROM <view> WHERE 1 = 0`` on the two required views. The queries then
select only what exists; an absent view reads as an empty table, an absent column as nulls. A
region reads the rows of the optional views of its customers, by the rule of ``MV_Visit`` (the
customer's lowest area, :data:`HOME_CUSTOMERS`); the plan reads those of customers no region
owns.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache
from typing import TYPE_CHECKING, Any, Final

import polars as pl
import pyodbc

from visitrank.adapters.app_settings import SQL_READERS, Settings, SettingsError
from visitrank.contract.coercion import coerce_table, resolve_columns
from visitrank.contract.errors import ContractError
from visitrank.contract.tables import (
    ALL_TABLES,
    AREA,
    BRAND,
    CATEGORY,
    CITY,
    CUSTOMER,
    ITEM,
    OPTIONAL_TABLES,
    OUTLET_HOURS,
    REP,
    SALES,
    SALES_DETAIL,
    SUBCATEGORY,
    VISIT,
    VISIT_EXCLUSION,
    VISIT_PIN,
    TableSpec,
    empty_table,
)
from visitrank.pipeline.region import COPIED_TABLES, SALE_COPIES, VISIT_COPIES

if TYPE_CHECKING:
    import pyarrow as pa
    from arrow_odbc import BatchReader

log = logging.getLogger("visitrank.sql")

SETUP_TABLES: Final = (AREA, CITY, REP, CATEGORY, SUBCATEGORY, BRAND, ITEM)
"""Read in full by every region: they are small and quarantine needs them whole."""


def _columns(spec: TableSpec, alias: str, optional: Sequence[str] = ()) -> str:
    """``alias.Column, ...`` of the required contract columns, then of the ``optional`` ones
    (those the database has), in contract order."""
    return ", ".join(f"{alias}.{column}" for column in [*spec.columns, *optional])


@dataclass(frozen=True)
class OptionalInputs:
    """Which optional inputs of the contract a database has (:meth:`SqlSource.optional_inputs`).

    Attributes:
        tables: the optional views present (``OPTIONAL_TABLES`` names).
        columns: per table with optional columns (the views present among them), those it
            has, in contract order.
    """

    tables: frozenset[str]
    columns: Mapping[str, tuple[str, ...]]

    def columns_of(self, spec: TableSpec) -> tuple[str, ...]:
        """The optional columns of ``spec`` the database has (none for an unknown table)."""
        return tuple(self.columns.get(spec.name, ()))

    def readable(self, name: str) -> bool:
        """False for an optional view the database lacks (its query is not run)."""
        return name not in OPTIONAL_TABLES or name in self.tables


NO_OPTIONAL_INPUTS: Final = OptionalInputs(frozenset(), {})
"""A database with none of the optional inputs: the queries of the required columns only."""


HOME_CUSTOMERS: Final = (
    "(SELECT c.CustomerId FROM MV_SetupCustomer c WHERE c.AreaId = ? AND NOT EXISTS "
    "(SELECT 1 FROM MV_SetupCustomer o WHERE o.CustomerId = c.CustomerId AND o.AreaId < c.AreaId))"
)
"""The customers whose lowest area is the region's: a customer's sales and visits are read by
exactly one region, and once (a semi-join), even when the customer table lists it twice (the
quarantine then sets it aside as `several_areas`, `conflicting_key` or `duplicate_key`, and its
sales as `unknown_customer`, once)."""

WINDOW: Final = "{alias}.SaleDate >= ? AND {alias}.SaleDate < ?"
"""The history window of a sales header; parameters (from, before)."""

LOWER_REGION_COPY: Final = (
    "EXISTS (SELECT 1 FROM MV_Sales t WHERE t.SaleId = {alias}.SaleId AND "
    f"{WINDOW.format(alias='t')} AND EXISTS (SELECT 1 FROM MV_SetupCustomer o "
    "WHERE o.CustomerId = t.CustomerId AND o.AreaId < ?))"
)
"""True when a header with the same SaleId in the window belongs to a customer of a lower area
(a region before this one); parameters (from, before, areaId)."""

OWNED: Final = (
    "EXISTS (SELECT 1 FROM MV_SetupCustomer o "
    "WHERE o.CustomerId = {alias}.CustomerId AND o.AreaId IS NOT NULL)"
)
"""True for a row of a customer that some region reads (a row of it has an area)."""
UNOWNED: Final = f"NOT {OWNED}"


def _customers_of_area(columns: str) -> str:
    """Every row of the customers that have a row in the area: the quarantine must see a
    customer's rows of other areas to recognise one listed in several areas."""
    return (
        f"SELECT {columns} FROM MV_SetupCustomer c WHERE c.CustomerId IN "
        "(SELECT a.CustomerId FROM MV_SetupCustomer a WHERE a.AreaId = ?)"
    )


def _customers_without_area(columns: str) -> str:
    """The customer rows without an area (AreaId is required: such a row stops the run)."""
    return f"SELECT {columns} FROM MV_SetupCustomer c WHERE c.AreaId IS NULL"


PLANNING_ALIASES: Final = {OUTLET_HOURS.name: "h", VISIT_PIN.name: "p", VISIT_EXCLUSION.name: "x"}


def _planning_of_region(spec: TableSpec, optional: Sequence[str]) -> str:
    """The rows of an optional planning view (hours, pins, exclusions) of the customers the
    region owns, as its visits (:data:`HOME_CUSTOMERS`; every date: they are few)."""
    alias = PLANNING_ALIASES[spec.name]
    return (
        f"SELECT {_columns(spec, alias, optional)} FROM {spec.name} {alias} "
        f"WHERE {alias}.CustomerId IN {HOME_CUSTOMERS}"
    )


def _planning_unowned(spec: TableSpec, optional: Sequence[str]) -> str:
    """The rows of an optional planning view of the customers no region owns."""
    alias = PLANNING_ALIASES[spec.name]
    return (
        f"SELECT {_columns(spec, alias, optional)} FROM {spec.name} {alias} "
        f"WHERE {UNOWNED.format(alias=alias)}"
    )


REGION_QUERIES: Final[dict[str, str]] = {
    CUSTOMER.name: _customers_of_area(_columns(CUSTOMER, "c")),
    SALES.name: (
        f"SELECT {_columns(SALES, 's')} FROM MV_Sales s WHERE s.CustomerId IN {HOME_CUSTOMERS} "
        f"AND {WINDOW.format(alias='s')}"
    ),
    # the other headers of the region's SaleIds: dated outside the window, or of a customer
    # of another region (or of none); not the region's rows, see SALE_COPIES
    SALE_COPIES: (
        f"SELECT {_columns(SALES, 's')} FROM MV_Sales s WHERE s.SaleId IN "
        f"(SELECT h.SaleId FROM MV_Sales h WHERE h.CustomerId IN {HOME_CUSTOMERS} "
        f"AND {WINDOW.format(alias='h')}) "
        f"AND NOT (s.CustomerId IN {HOME_CUSTOMERS} AND {WINDOW.format(alias='s')})"
    ),
    SALES_DETAIL.name: (
        # A semi-join (IN), not a JOIN: a SaleId repeated in the headers (a row quarantine
        # sets aside) must not repeat its lines. The lines of a SaleId whose headers in the
        # window belong to several regions (a conflicting SaleId) are read by the lowest.
        f"SELECT {_columns(SALES_DETAIL, 'd')} FROM MV_SalesDetail d "
        "WHERE d.SaleId IN (SELECT s.SaleId FROM MV_Sales s "
        f"WHERE s.CustomerId IN {HOME_CUSTOMERS} AND {WINDOW.format(alias='s')} "
        f"AND NOT {LOWER_REGION_COPY.format(alias='s')})"
    ),
    VISIT.name: (
        f"SELECT {_columns(VISIT, 'v')} FROM MV_Visit v WHERE v.CustomerId IN {HOME_CUSTOMERS} "
        "AND v.VisitDate < ?"
    ),
    # the other rows of the region's VisitIds: dated in or after the week, or of a customer of
    # another region (or of none); not the region's rows, see VISIT_COPIES
    VISIT_COPIES: (
        f"SELECT {_columns(VISIT, 'v')} FROM MV_Visit v WHERE v.VisitId IN "
        f"(SELECT h.VisitId FROM MV_Visit h WHERE h.CustomerId IN {HOME_CUSTOMERS} "
        "AND h.VisitDate < ?) "
        f"AND NOT (v.CustomerId IN {HOME_CUSTOMERS} AND v.VisitDate < ?)"
    ),
    # the planning rows of the customers the region owns, as its visits (every column)
    **{
        name: _planning_of_region(spec, tuple(spec.optional))
        for name, spec in OPTIONAL_TABLES.items()
    },
}
"""What one region reads besides the setup tables (its parameters: :func:`region_query`).

Every row in the window belongs to exactly one reader: a customer row to the region of its
AreaId; a sales header (in the window) or visit (before the week) to the region of its
customer's lowest area (:data:`HOME_CUSTOMERS`); a sales line to the lowest region with a
header of its SaleId in the window. What no region owns, the plan reads once
(:data:`UNOWNED_QUERIES`)."""

UNOWNED_QUERIES: Final[dict[str, str]] = {
    # AreaId is required: a customer row without one stops the run (coerce_table), as the
    # local run's reading of the whole table does; no region reads such a row
    CUSTOMER.name: _customers_without_area(_columns(CUSTOMER, "c")),
    SALES.name: (
        f"SELECT {_columns(SALES, 's')} FROM MV_Sales s WHERE {UNOWNED.format(alias='s')} "
        f"AND {WINDOW.format(alias='s')}"
    ),
    SALE_COPIES: (
        f"SELECT {_columns(SALES, 's')} FROM MV_Sales s WHERE s.SaleId IN "
        f"(SELECT u.SaleId FROM MV_Sales u WHERE {UNOWNED.format(alias='u')} "
        f"AND {WINDOW.format(alias='u')}) "
        f"AND NOT ({UNOWNED.format(alias='s')} AND {WINDOW.format(alias='s')})"
    ),
    SALES_DETAIL.name: (
        # the lines of the window's sales no region has a header of (in the window), and
        # the lines whose SaleId has no header at all (`unknown_sale`): finding those scans
        # the lines once per run, as the local run reads them whole
        f"SELECT {_columns(SALES_DETAIL, 'd')} FROM MV_SalesDetail d "
        "WHERE d.SaleId IN (SELECT u.SaleId FROM MV_Sales u "
        f"WHERE {UNOWNED.format(alias='u')} AND {WINDOW.format(alias='u')} AND NOT EXISTS "
        "(SELECT 1 FROM MV_Sales t WHERE t.SaleId = u.SaleId "
        f"AND {WINDOW.format(alias='t')} AND {OWNED.format(alias='t')})) "
        "OR NOT EXISTS (SELECT 1 FROM MV_Sales n WHERE n.SaleId = d.SaleId)"
    ),
    VISIT.name: (
        f"SELECT {_columns(VISIT, 'v')} FROM MV_Visit v WHERE {UNOWNED.format(alias='v')} "
        "AND v.VisitDate < ?"
    ),
    VISIT_COPIES: (
        f"SELECT {_columns(VISIT, 'v')} FROM MV_Visit v WHERE v.VisitId IN "
        f"(SELECT u.VisitId FROM MV_Visit u WHERE {UNOWNED.format(alias='u')} "
        "AND u.VisitDate < ?) "
        f"AND NOT ({UNOWNED.format(alias='v')} AND v.VisitDate < ?)"
    ),
    **{
        name: _planning_unowned(spec, tuple(spec.optional))
        for name, spec in OPTIONAL_TABLES.items()
    },
}
"""The rows no region reads (their parameters: :func:`unowned_query`): customer rows without
an area (there should be none), sales (in the window) and visits (before the week) of
customers that have no row with an area in MV_SetupCustomer with the other headers of those
SaleIds and the other rows of those VisitIds, the lines of the window's sales no region reads,
the lines of no sale and the planning rows (hours, pins, exclusions) of those customers. The
plan reads them once, so that they are set aside and counted as the local run does on the
whole table."""


def region_query(
    name: str,
    area_id: int,
    history_start: date,
    before: date,
    found: OptionalInputs = NO_OPTIONAL_INPUTS,
) -> tuple[str, tuple[Any, ...]]:
    """The query of ``name`` in :data:`REGION_QUERIES` and its parameters, in their order; the
    queries of the customers and of the planning views select only the optional columns
    ``found`` in the database."""
    window = (area_id, history_start, before)
    params: dict[str, tuple[Any, ...]] = {
        CUSTOMER.name: (area_id,),
        SALES.name: window,
        SALE_COPIES: (*window, *window),
        SALES_DETAIL.name: (*window, history_start, before, area_id),
        VISIT.name: (area_id, before),
        VISIT_COPIES: (area_id, before, area_id, before),
        **{table: (area_id,) for table in OPTIONAL_TABLES},
    }
    if name == CUSTOMER.name:
        columns = _columns(CUSTOMER, "c", found.columns_of(CUSTOMER))
        return _customers_of_area(columns), params[name]
    if name in OPTIONAL_TABLES:
        spec = OPTIONAL_TABLES[name]
        return _planning_of_region(spec, found.columns_of(spec)), params[name]
    return REGION_QUERIES[name], params[name]


def unowned_query(
    name: str, history_start: date, before: date, found: OptionalInputs = NO_OPTIONAL_INPUTS
) -> tuple[str, tuple[Any, ...]]:
    """The query of ``name`` in :data:`UNOWNED_QUERIES` and its parameters, in their order; the
    queries of the customers and of the planning views select only the optional columns
    ``found`` in the database."""
    window = (history_start, before)
    params: dict[str, tuple[Any, ...]] = {
        CUSTOMER.name: (),
        SALES.name: window,
        SALE_COPIES: (*window, *window),
        SALES_DETAIL.name: (*window, *window),
        VISIT.name: (before,),
        VISIT_COPIES: (before, before),
        **{table: () for table in OPTIONAL_TABLES},
    }
    if name == CUSTOMER.name:
        columns = _columns(CUSTOMER, "c", found.columns_of(CUSTOMER))
        return _customers_without_area(columns), params[name]
    if name in OPTIONAL_TABLES:
        spec = OPTIONAL_TABLES[name]
        return _planning_unowned(spec, found.columns_of(spec)), params[name]
    return UNOWNED_QUERIES[name], params[name]


BULK_TABLES: Final = frozenset({SALES.name, SALES_DETAIL.name, VISIT.name})
"""Read through arrow-odbc when the reader is "arrow"; everything else always through pyodbc."""

ARROW_ODBC: Final = "arrow-odbc"
PYODBC: Final = "pyodbc"
"""How a table was read, as :meth:`SqlSource.fetch` reports it."""

ARROW_MAX_TEXT_SIZE: Final = 1024
"""Bound of a text cell's transit buffer (a VARCHAR(MAX) column would otherwise get gigabytes)."""


@cache
def arrow_odbc_available() -> bool:
    """True when arrow-odbc (and the ODBC driver manager it loads) can be imported."""
    try:
        import arrow_odbc  # noqa: F401, PLC0415 (probing whether the reader can load)
    except (ImportError, OSError):
        return False
    return True


def resolve_reader(reader: str) -> str:
    """ "arrow" or "pyodbc" for a ``VISITRANK_SQL_READER`` value (auto: arrow when importable)."""
    if reader not in SQL_READERS:
        raise SettingsError(f"VISITRANK_SQL_READER={reader!r} is not one of {SQL_READERS}")
    if reader == "auto":
        return "arrow" if arrow_odbc_available() else "pyodbc"
    if reader == "arrow" and not arrow_odbc_available():
        raise SettingsError("VISITRANK_SQL_READER=arrow but arrow-odbc is not installed")
    return reader


class SqlSource:
    """An ODBC database holding the MV_ contract views.

    ``reader`` ("auto", "arrow" or "pyodbc") picks how the bulk tables are read; the resolved
    choice is in ``self.reader`` ("arrow" or "pyodbc").
    """

    def __init__(
        self, connection_string: str, batch_size: int = 50_000, reader: str = "auto"
    ) -> None:
        self.connection_string = connection_string
        self.batch_size = max(1, batch_size)
        self.reader = resolve_reader(reader)
        self._optional: OptionalInputs | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> SqlSource:
        """The source of the app settings (connection string, batch size, reader)."""
        return cls(settings.require_sql(), settings.sql_batch_size, settings.sql_reader)

    def open_connection(self) -> pyodbc.Connection:
        """A new connection in autocommit (reads only), 30 s login timeout; the caller closes
        it. pyodbc.Error when the driver cannot connect."""
        return pyodbc.connect(self.connection_string, autocommit=True, timeout=30)

    @contextmanager
    def connect(self) -> Iterator[pyodbc.Connection]:
        """A read-only-use connection, closed on exit."""
        connection = self.open_connection()
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
            batches = list(self.cursor_frames(cursor))
        finally:
            cursor.close()
        return pl.concat(batches, how="vertical_relaxed")

    def cursor_frames(self, cursor: pyodbc.Cursor) -> Iterator[pl.DataFrame]:
        """The rows of an executed cursor, ``fetchmany(batch_size)`` at a time, each batch
        one uncoerced frame named after the cursor's columns; one empty frame (Null columns)
        when there are no rows. Only one batch of row objects is held at a time."""
        names = [column[0] for column in cursor.description]
        empty = True
        while rows := cursor.fetchmany(self.batch_size):
            empty = False
            columns = list(zip(*rows, strict=True))
            del rows
            yield pl.DataFrame(
                {name: _series(values) for name, values in zip(names, columns, strict=True)}
            )
        if empty:
            yield pl.DataFrame({name: pl.Series(name, [], dtype=pl.Null) for name in names})

    def uses_arrow(self, spec: TableSpec) -> bool:
        """True when ``spec``'s table is read through arrow-odbc (a bulk table, reader arrow)."""
        return self.reader == "arrow" and spec.name in BULK_TABLES

    def fetch(
        self, connection: pyodbc.Connection, spec: TableSpec, sql: str, params: Sequence[Any] = ()
    ) -> tuple[pl.DataFrame, str]:
        """Query one contract table, uncoerced, and name the reader that read it
        ("arrow-odbc" or "pyodbc").

        A bulk table goes through arrow-odbc when that is the reader; if arrow-odbc fails
        (driver, type or size trouble), the table is read again through pyodbc. A pyodbc
        failure is a ContractError naming the table."""
        if self.uses_arrow(spec):
            import arrow_odbc  # noqa: PLC0415 (optional reader, loaded only when chosen)

            try:
                return self.query_arrow(spec, sql, params), ARROW_ODBC
            except arrow_odbc.Error as error:
                log.warning("%s: arrow-odbc failed (%s); reading through pyodbc", spec.name, error)
        try:
            return self.query(connection, sql, params), PYODBC
        except pyodbc.Error as error:
            raise ContractError(f"{spec.name}: query failed: {error}", table=spec.name) from error

    def read_spec(
        self, connection: pyodbc.Connection, spec: TableSpec, sql: str, params: Sequence[Any] = ()
    ) -> pl.DataFrame:
        """Query one contract table (:meth:`fetch`) and coerce it to the contract
        (ContractError if bad)."""
        raw, _ = self.fetch(connection, spec, sql, params)
        return coerce_table(spec, raw)

    def fetch_batches(
        self, connection: pyodbc.Connection, spec: TableSpec, sql: str, params: Sequence[Any] = ()
    ) -> tuple[Generator[pl.DataFrame, None, None], str]:
        """:meth:`fetch` streamed: the query's rows as uncoerced frames of at most
        ``batch_size`` rows (at least one, empty for no rows), and the reader reading them.

        The query runs here, so a missing view or a driver error raises before the first
        frame. arrow-odbc falls back to pyodbc as in :meth:`fetch` when it fails before its
        first batch; a failure after that (frames already handed on) is a ContractError
        naming the table, as is any pyodbc failure. Close the frames (``close()``) before the
        connection when stopping early."""
        if self.uses_arrow(spec):
            import arrow_odbc  # noqa: PLC0415 (optional reader, loaded only when chosen)

            try:
                reader = self.arrow_reader(spec, sql, params)
                first = next(reader, None)
            except arrow_odbc.Error as error:
                log.warning("%s: arrow-odbc failed (%s); reading through pyodbc", spec.name, error)
            else:
                return _arrow_frames(spec, reader, first), ARROW_ODBC
        cursor = connection.cursor()
        try:
            cursor.execute(sql, *params)
        except pyodbc.Error as error:
            cursor.close()
            raise ContractError(f"{spec.name}: query failed: {error}", table=spec.name) from error
        return self._cursor_stream(spec, cursor), PYODBC

    def _cursor_stream(
        self, spec: TableSpec, cursor: pyodbc.Cursor
    ) -> Generator[pl.DataFrame, None, None]:
        """:meth:`cursor_frames`, the cursor closed at the end (or when the consumer stops);
        a fetch failure as a ContractError naming the table."""
        try:
            yield from self.cursor_frames(cursor)
        except pyodbc.Error as error:
            raise ContractError(f"{spec.name}: query failed: {error}", table=spec.name) from error
        finally:
            cursor.close()

    def arrow_reader(self, spec: TableSpec, sql: str, params: Sequence[Any] = ()) -> BatchReader:
        """An arrow-odbc batch reader over ``sql`` (the query runs here; its own connection),
        ``batch_size`` rows a batch, the Arrow schema forced to ``spec`` where the source type
        allows (see :func:`contract_schema`). arrow-odbc sends every parameter as text: dates
        as ``YYYY-MM-DD``. Raises arrow_odbc.Error when the driver or the query fails."""
        from arrow_odbc import read_arrow_batches_from_odbc  # noqa: PLC0415 (optional reader)

        return read_arrow_batches_from_odbc(
            query=sql,
            connection_string=self.connection_string,
            batch_size=self.batch_size,
            parameters=[_as_text(value) for value in params],
            max_text_size=ARROW_MAX_TEXT_SIZE,
            login_timeout_sec=30,
            map_schema=lambda inferred: contract_schema(spec, inferred),
        )

    def query_arrow(self, spec: TableSpec, sql: str, params: Sequence[Any] = ()) -> pl.DataFrame:
        """Run ``sql`` through arrow-odbc (:meth:`arrow_reader`) into one frame; uncoerced."""
        import pyarrow as pa  # noqa: PLC0415 (the optional arrow reader's)

        reader = self.arrow_reader(spec, sql, params)
        table = pa.Table.from_batches(list(reader), schema=reader.schema)
        frame = pl.from_arrow(table, rechunk=True)
        assert isinstance(frame, pl.DataFrame)
        return frame

    def read_region(
        self, area_id: int, history_start: date, before: date
    ) -> dict[str, pl.DataFrame]:
        """Every contract table for one region, coerced: setup tables in full, the region's
        customers, its sales headers and lines with ``history_start <= SaleDate < before``,
        its visits before ``before`` (the week start) and the rows of the optional planning
        views of its customers (empty when a view is absent); and, under :data:`SALE_COPIES`
        and :data:`VISIT_COPIES`, the other headers of its SaleIds and the other rows of its
        VisitIds, for the quarantine only (:data:`REGION_QUERIES`)."""
        return self._read(
            REGION_QUERIES,
            lambda name, found: region_query(name, area_id, history_start, before, found),
        )

    def read_unowned(self, history_start: date, before: date) -> dict[str, pl.DataFrame]:
        """The rows no region reads (:data:`UNOWNED_QUERIES`), coerced, with the setup tables
        in full: every contract table, :data:`SALE_COPIES` and :data:`VISIT_COPIES`, for the
        quarantine. A customer row without an area is a ContractError, as in the local run's
        reading."""
        return self._read(
            UNOWNED_QUERIES,
            lambda name, found: unowned_query(name, history_start, before, found),
        )

    def optional_inputs(self, connection: pyodbc.Connection) -> OptionalInputs:
        """Which optional inputs the database has, found on the first call and kept (one
        source serves one run, or one activity of it).

        The optional views and their columns from the ODBC catalog (:meth:`view_columns`); a
        view that is there must have its required columns (ContractError naming the missing
        ones otherwise: a half-made view is a mistake to fix, not an absent input). The
        optional columns of ``MV_SetupRep`` and ``MV_SetupCustomer`` from their result
        columns, read without a row (``WHERE 1 = 0``). Columns are matched as contract columns
        are (exact name, else ignoring case)."""
        if self._optional is not None:
            return self._optional
        views: set[str] = set()
        columns: dict[str, tuple[str, ...]] = {}
        for name, spec in OPTIONAL_TABLES.items():
            names = self.view_columns(connection, name)
            if names is not None:
                found = resolve_columns(spec, names)  # its required columns, or ContractError
                views.add(name)
                columns[name] = tuple(column for column in spec.optional if column in found)
        for spec in (REP, CUSTOMER):
            names = self.result_columns(connection, spec.name)
            found = resolve_columns(TableSpec(spec.name, {}, (), optional=spec.optional), names)
            columns[spec.name] = tuple(column for column in spec.optional if column in found)
        self._optional = OptionalInputs(frozenset(views), columns)
        log.info(
            "optional inputs: views %s, columns %s",
            sorted(views) or "none",
            {table: list(present) for table, present in columns.items() if present} or "none",
        )
        return self._optional

    def view_columns(self, connection: pyodbc.Connection, name: str) -> list[str] | None:
        """The columns of the view (or table) ``name`` as the ODBC catalog lists them
        (``SQLColumns``), None when the database has no such view. Nothing is queried, so a
        missing view raises nothing; the name is matched ignoring case (the catalog is also
        asked for it in lower case, as PostgreSQL folds unquoted names). A catalog failure is a
        ContractError naming the view."""
        cursor = connection.cursor()
        try:
            for candidate in dict.fromkeys((name, name.lower())):
                found = [
                    str(row.column_name)
                    for row in cursor.columns(table=candidate).fetchall()
                    if str(row.table_name).casefold() == name.casefold()
                ]
                if found:
                    return list(dict.fromkeys(found))
        except pyodbc.Error as error:
            raise ContractError(
                f"{name}: cannot list the columns of view {name}: {error}", table=name
            ) from error
        finally:
            cursor.close()
        return None

    def result_columns(self, connection: pyodbc.Connection, name: str) -> list[str]:
        """The result columns of ``SELECT * FROM <name> WHERE 1 = 0`` (no row is read): the
        columns of a view that must exist; ContractError naming it when it cannot be read."""
        cursor = connection.cursor()
        try:
            cursor.execute(f"SELECT * FROM {name} WHERE 1 = 0")
            return [str(column[0]) for column in cursor.description]
        except pyodbc.Error as error:
            raise ContractError(f"{name}: query failed: {error}", table=name) from error
        finally:
            cursor.close()

    def _read(
        self,
        names: Mapping[str, str],
        query: Callable[[str, OptionalInputs], tuple[str, tuple[Any, ...]]],
    ) -> dict[str, pl.DataFrame]:
        """The setup tables whole and the result of the query of each of ``names`` (a table
        or copies of :data:`COPIED_TABLES`; ``query`` gives its sql and parameters for the
        optional inputs the database has), coerced, over one connection; an optional view
        the database lacks is an empty table. Contract order (the optional tables after the
        required ones), the copies last (sales', then visits')."""
        tables: dict[str, pl.DataFrame] = {}
        with self.connect() as connection:
            found = self.optional_inputs(connection)
            for spec in SETUP_TABLES:
                sql = f"SELECT {_columns(spec, 't', found.columns_of(spec))} FROM {spec.name} t"
                tables[spec.name] = self.read_spec(connection, spec, sql)
            for name in names:
                spec = COPIED_TABLES.get(name) or ALL_TABLES[name]
                if not found.readable(name):
                    tables[name] = empty_table(spec)
                    continue
                sql, params = query(name, found)
                tables[name] = self.read_spec(connection, spec, sql, params)
        return {name: tables[name] for name in (*ALL_TABLES, *COPIED_TABLES)}

    def regions(self) -> list[int]:
        """The AreaIds that have customers, ascending."""
        with self.connect() as connection:
            frame = self.query(
                connection,
                "SELECT DISTINCT c.AreaId FROM MV_SetupCustomer c WHERE c.AreaId IS NOT NULL",
            )
        values = frame.get_column(frame.columns[0]).cast(pl.Int64, strict=False).drop_nulls()
        return sorted(int(value) for value in values.unique().to_list())

    def first_sale_date(self) -> date | None:
        """The earliest SaleDate, or None: the windows never start before it (a short
        history is scored per real week)."""
        with self.connect() as connection:
            frame = self.query(connection, "SELECT MIN(s.SaleDate) FROM MV_Sales s", ())
        value = frame.item(0, 0) if frame.height else None
        return as_date(value)

    def last_sale_date(self, before: date) -> date | None:
        """The latest SaleDate strictly before ``before`` (the run's as-of), or None."""
        with self.connect() as connection:
            frame = self.query(
                connection, "SELECT MAX(s.SaleDate) FROM MV_Sales s WHERE s.SaleDate < ?", (before,)
            )
        value = frame.item(0, 0) if frame.height else None
        return as_date(value)


def contract_schema(spec: TableSpec, inferred: pa.Schema) -> pa.Schema:
    """The Arrow schema to fetch ``spec``'s columns with, from the one arrow-odbc inferred.

    Int64 columns: any integer (Int32 from SQLite INTEGER / SQL INT, ...) or scale-0 decimal is
    fetched as int64. Float64 columns: any float (Float32 from REAL / float4 / FLOAT(24)),
    integer or decimal is fetched as float64, the driver widening the value exactly as pyodbc's
    double does. Date columns: date32 stays; a timestamp stays a timestamp (coerce_table drops
    the time). Text, and any other pairing, is left as inferred for coerce_table to parse or
    report. Columns are matched by name, ignoring case (PostgreSQL folds unquoted names).
    """
    import pyarrow as pa  # noqa: PLC0415 (the optional arrow reader's)

    targets = {column.casefold(): dtype for column, dtype in spec.all_columns.items()}
    fields = []
    for field in inferred:
        target = targets.get(field.name.casefold())
        source = field.type
        integral = pa.types.is_integer(source) or (
            pa.types.is_decimal(source) and source.scale == 0
        )
        numeric = integral or pa.types.is_floating(source) or pa.types.is_decimal(source)
        wanted = source
        if isinstance(target, pl.Int64) and integral:
            wanted = pa.int64()
        elif isinstance(target, pl.Float64) and numeric:
            wanted = pa.float64()
        elif isinstance(target, pl.Date) and pa.types.is_date(source):
            wanted = pa.date32()
        fields.append(field.with_type(wanted))
    return pa.schema(fields)


def _arrow_frames(
    spec: TableSpec, reader: BatchReader, first: pa.RecordBatch | None
) -> Generator[pl.DataFrame, None, None]:
    """The frames of an arrow-odbc reader whose ``first`` batch was already fetched (None: no
    rows, then one empty frame of the reader's schema); a later arrow-odbc failure is a
    ContractError naming the table and how many rows had been read."""
    import arrow_odbc  # noqa: PLC0415 (optional reader, loaded only when chosen)

    if first is None:
        yield _frame(reader.schema.empty_table())
        return
    rows = first.num_rows
    yield _frame(first)
    del first
    try:
        for batch in reader:
            rows += batch.num_rows
            yield _frame(batch)
    except arrow_odbc.Error as error:
        raise ContractError(
            f"{spec.name}: arrow-odbc failed after {rows} rows: {error} "
            "(VISITRANK_SQL_READER=pyodbc reads it through pyodbc)",
            table=spec.name,
        ) from error


def _frame(data: pa.RecordBatch | pa.Table) -> pl.DataFrame:
    """An Arrow batch or table as a polars frame (no copy where the types allow)."""
    frame = pl.from_arrow(data)
    assert isinstance(frame, pl.DataFrame)
    return frame


def _as_text(value: Any) -> str | None:
    """A query parameter as arrow-odbc sends it (VARCHAR): ISO dates, plain numbers."""
    if value is None:
        return None
    if isinstance(value, date | datetime):
        return value.isoformat()
    return str(value)


def _series(values: tuple[Any, ...]) -> pl.Series:
    """A column of ODBC values; Decimal/mixed columns fall back to text for coerce_table."""
    try:
        return pl.Series(values=list(values), strict=False)
    except (TypeError, pl.exceptions.PolarsError):
        return pl.Series(values=[None if v is None else str(v) for v in values], dtype=pl.String)


def as_date(value: Any) -> date | None:
    """A date as an ODBC driver returns it (date, datetime, or ISO text); ValueError if not."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])
