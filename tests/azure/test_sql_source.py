"""The SQL source through arrow-odbc and pyodbc and the SQLite ODBC driver, on demo MV_ tables."""

from __future__ import annotations

import logging
import re
import sqlite3
from datetime import date
from pathlib import Path

import polars as pl
import pyarrow as pa
import pytest
from arrow_odbc import read_arrow_batches_from_odbc

from visitrank.adapters import sql_source
from visitrank.adapters.app_settings import Settings, SettingsError
from visitrank.adapters.sql_source import (
    REGION_QUERIES,
    UNOWNED_QUERIES,
    SqlSource,
    contract_schema,
    region_query,
    resolve_reader,
)
from visitrank.contract.coercion import coerce_table
from visitrank.contract.errors import ContractError
from visitrank.contract.quarantine import quarantine
from visitrank.contract.tables import (
    ALL_TABLES,
    CUSTOMER,
    OPTIONAL_TABLES,
    OUTLET_HOURS,
    REP,
    SALES_DETAIL,
    TABLES,
    VISIT_PIN,
)
from visitrank.pipeline.region import (
    SALE_COPIES,
    VISIT_COPIES,
    quarantine_region,
    region_input_rows,
    set_aside_unowned,
)
from visitrank.pipeline.status import merge_input_rows, merge_quarantine_counts

from .conftest import write_sqlite

BEFORE = date(2026, 11, 16)
HISTORY_START = date(2026, 3, 1)


def test_regions_and_last_sale_date(
    sql_connection_string: str, demo_tables: dict[str, pl.DataFrame]
) -> None:
    source = SqlSource(sql_connection_string)
    expected_regions = sorted(demo_tables["MV_SetupCustomer"]["AreaId"].unique().to_list())
    assert source.regions() == expected_regions
    sales = demo_tables["MV_Sales"]
    cutoff = date(2026, 10, 5)
    assert (
        source.last_sale_date(cutoff) == sales.filter(pl.col("SaleDate") < cutoff)["SaleDate"].max()
    )
    assert source.last_sale_date(date(1990, 1, 1)) is None


def test_read_region_selects_the_region_and_window(
    sql_connection_string: str, demo_tables: dict[str, pl.DataFrame]
) -> None:
    tables = SqlSource(sql_connection_string).read_region(1, HISTORY_START, BEFORE)
    assert list(tables) == [*ALL_TABLES, SALE_COPIES, VISIT_COPIES]
    assert tables[SALE_COPIES].is_empty()  # the demo's repeated headers are identical copies
    for name, spec in ALL_TABLES.items():
        assert dict(tables[name].schema) == spec.all_columns, name
    customers = demo_tables["MV_SetupCustomer"].filter(pl.col("AreaId") == 1)
    assert sorted(tables["MV_SetupCustomer"]["CustomerId"]) == sorted(customers["CustomerId"])
    sales = demo_tables["MV_Sales"].filter(
        pl.col("CustomerId").is_in(customers["CustomerId"].implode())
        & (pl.col("SaleDate") >= HISTORY_START)
        & (pl.col("SaleDate") < BEFORE)
    )
    assert tables["MV_Sales"].height == sales.height
    assert sorted(tables["MV_Sales"]["SaleId"]) == sorted(sales["SaleId"])
    lines = demo_tables["MV_SalesDetail"].join(sales.select("SaleId"), on="SaleId", how="semi")
    assert tables["MV_SalesDetail"].height == lines.height
    assert tables["MV_SalesDetail"]["Amount"].sum() == pytest.approx(lines["Amount"].sum())
    visits = tables["MV_Visit"]
    assert visits["VisitDate"].max() < BEFORE
    assert set(visits["CustomerId"]) <= set(customers["CustomerId"])
    # setup tables are read whole
    assert tables["MV_SetupItem"].height == demo_tables["MV_SetupItem"].height


def test_batch_size_does_not_change_the_result(sql_connection_string: str) -> None:
    small = SqlSource(sql_connection_string, batch_size=7).read_region(2, HISTORY_START, BEFORE)
    large = SqlSource(sql_connection_string, batch_size=100_000).read_region(
        2, HISTORY_START, BEFORE
    )
    for name in ALL_TABLES:
        assert small[name].equals(large[name]), name


def test_bad_value_stops_with_table_column_row(
    tmp_path: Path, demo_tables: dict[str, pl.DataFrame]
) -> None:
    broken = dict(demo_tables)
    customers = demo_tables["MV_SetupCustomer"].with_columns(pl.col("Latitude").cast(pl.String))
    target = customers.filter(pl.col("AreaId") == 2)["CustomerId"][0]
    broken["MV_SetupCustomer"] = customers.with_columns(
        pl.when(pl.col("CustomerId") == target)
        .then(pl.lit("north-ish"))
        .otherwise(pl.col("Latitude"))
        .alias("Latitude")
    )
    text = frozenset({"MV_SetupCustomer.Latitude"})
    source = SqlSource(write_sqlite(tmp_path / "bad.db", broken, text_columns=text))
    source.read_region(1, HISTORY_START, BEFORE)  # the other region is unaffected
    with pytest.raises(ContractError) as info:
        source.read_region(2, HISTORY_START, BEFORE)
    assert info.value.table == "MV_SetupCustomer"
    assert info.value.column == "Latitude"
    assert info.value.value == "north-ish"


def test_queries_are_portable() -> None:
    for sql in [*REGION_QUERIES.values(), *UNOWNED_QUERIES.values()]:
        assert not re.search(r"\b(TOP|LIMIT|OFFSET|FETCH)\b", sql, re.IGNORECASE)
        assert "%s" not in sql
        assert ":" not in sql
        assert not re.search(r"\bNOT\s+NOT\b", sql)  # not every dialect takes a double NOT
        # no function calls: only subqueries follow a word and a parenthesis
        assert set(re.findall(r"(\w+)\s*\(", sql)) <= {"IN", "EXISTS", "NOT", "AND", "OR"}, sql


@pytest.mark.parametrize(
    ("area", "start", "before"),
    [(1, HISTORY_START, BEFORE), (2, date(2000, 1, 1), BEFORE), (1, BEFORE, BEFORE)],
)
def test_arrow_and_pyodbc_readers_give_identical_frames(
    sql_connection_string: str, area: int, start: date, before: date
) -> None:
    arrow = SqlSource(sql_connection_string, batch_size=997, reader="arrow")
    plain = SqlSource(sql_connection_string, reader="pyodbc")
    assert (arrow.reader, plain.reader) == ("arrow", "pyodbc")
    by_arrow = arrow.read_region(area, start, before)
    by_pyodbc = plain.read_region(area, start, before)
    for name, spec in ALL_TABLES.items():
        assert dict(by_arrow[name].schema) == spec.all_columns, name
        assert by_arrow[name].equals(by_pyodbc[name]), name
    assert by_arrow[SALE_COPIES].equals(by_pyodbc[SALE_COPIES])
    assert by_arrow[VISIT_COPIES].equals(by_pyodbc[VISIT_COPIES])
    if start < before:
        assert by_arrow["MV_SalesDetail"].height > 0
    else:
        assert by_arrow["MV_SalesDetail"].height == 0


def test_a_float32_read_would_be_caught(sql_connection_string: str) -> None:
    """arrow-odbc maps REAL/float4 (and, with psqlODBC, even double precision) to Float32:
    such a read differs from pyodbc's, and contract_schema widens it back to Float64."""
    sql, values = region_query("MV_SalesDetail", 1, HISTORY_START, BEFORE)
    params = [str(value) for value in values]
    float32 = pa.schema(
        [("SaleId", pa.int64()), ("ItemId", pa.int64())]
        + [(column, pa.float32()) for column in ("Quantity", "Amount")]
    )

    def read(schema: pa.Schema) -> pl.DataFrame:
        batches = read_arrow_batches_from_odbc(
            sql, sql_connection_string, parameters=params, schema=schema
        )
        frame = pl.from_arrow(pa.Table.from_batches(list(batches), schema=batches.schema))
        assert isinstance(frame, pl.DataFrame)
        return coerce_table(SALES_DETAIL, frame)

    source = SqlSource(sql_connection_string, reader="pyodbc")
    with source.connect() as connection:
        expected = source.read_spec(connection, SALES_DETAIL, sql, values)
    narrowed = read(float32)
    assert narrowed.schema == expected.schema  # coerce_table casts Float32 up: the loss hides
    assert not narrowed.equals(expected)
    assert read(contract_schema(SALES_DETAIL, float32)).equals(expected)


def test_contract_schema_forces_contract_types_where_the_source_allows() -> None:
    inferred = pa.schema(
        [
            ("saleid", pa.int32()),  # SQLite INTEGER / SQL INT; name folded by PostgreSQL
            ("ItemId", pa.decimal128(12, 0)),
            ("Quantity", pa.float32()),  # REAL / float4
            ("Amount", pa.decimal128(10, 2)),
            ("Extra", pa.float32()),  # not in the contract: left alone
        ]
    )
    assert contract_schema(SALES_DETAIL, inferred) == pa.schema(
        [
            ("saleid", pa.int64()),
            ("ItemId", pa.int64()),
            ("Quantity", pa.float64()),
            ("Amount", pa.float64()),
            ("Extra", pa.float32()),
        ]
    )
    visits = pa.schema(
        [
            ("VisitId", pa.string()),  # text stays text: coerce_table parses or reports it
            ("CustomerId", pa.float64()),  # a float id stays float: coerce_table checks it
            ("RepId", pa.int16()),
            ("VisitDate", pa.timestamp("us")),  # coerce_table drops the time
        ]
    )
    assert contract_schema(TABLES["MV_Visit"], visits) == visits.set(
        2, pa.field("RepId", pa.int64())
    )


def test_reader_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings.from_env({}).sql_reader == "auto"
    assert Settings.from_env({"VISITRANK_SQL_READER": " PyODBC "}).sql_reader == "pyodbc"
    with pytest.raises(SettingsError, match="VISITRANK_SQL_READER"):
        Settings.from_env({"VISITRANK_SQL_READER": "turbo"})
    settings = Settings(sql_connection_string="Driver=SQLite3;Database=x.db", sql_reader="pyodbc")
    assert SqlSource.from_settings(settings).reader == "pyodbc"
    assert resolve_reader("auto") == "arrow"
    monkeypatch.setattr(sql_source, "arrow_odbc_available", lambda: False)
    assert resolve_reader("auto") == "pyodbc"
    with pytest.raises(SettingsError, match="arrow-odbc is not installed"):
        resolve_reader("arrow")


def test_arrow_failure_falls_back_to_pyodbc(
    sql_connection_string: str, caplog: pytest.LogCaptureFixture
) -> None:
    source = SqlSource(sql_connection_string, reader="arrow")
    with (
        caplog.at_level(logging.WARNING, logger="visitrank.sql"),
        source.connect() as connection,
        pytest.raises(ContractError, match="query failed") as info,
    ):
        source.read_spec(connection, SALES_DETAIL, "SELECT SaleId FROM MV_NoSuchView")
    assert info.value.table == "MV_SalesDetail"
    assert "arrow-odbc failed" in caplog.text


def test_regions_read_from_sql_quarantine_a_customer_of_two_areas_as_the_whole_table_does(
    tmp_path: Path, demo_tables: dict[str, pl.DataFrame]
) -> None:
    """A customer listed under two areas, and one listed twice in its own area: read region by
    region (as the activities do), the customers and their sales are set aside exactly as on
    the whole table (several_areas, duplicate_key, unknown_customer once), never scored twice;
    the sales of customers absent from MV_SetupCustomer, which no region reads, the plan reads
    once (`read_unowned`)."""
    tables = {name: coerce_table(spec, demo_tables[name]) for name, spec in TABLES.items()}
    customers = tables["MV_SetupCustomer"]
    areas = sorted(customers["AreaId"].drop_nulls().unique().to_list())
    first, second = customers.filter(pl.col("AreaId") == areas[0]).head(2).iter_rows(named=True)
    other_rep = customers.filter(pl.col("AreaId") == areas[1])["RepId"][0]
    extra = pl.DataFrame(
        [{**first, "AreaId": areas[1], "RepId": other_rep}, second],
        schema=customers.schema,
    )
    tables["MV_SetupCustomer"] = pl.concat([customers, extra])
    source = SqlSource(write_sqlite(tmp_path / "erp.db", tables))
    everything = (date(2000, 1, 1), date(2100, 1, 1))
    per_region = [quarantine_region(source.read_region(area, *everything), area) for area in areas]
    regions = merge_quarantine_counts(checked.counts() for checked in per_region)
    read = [region_input_rows(source.read_region(area, *everything), area) for area in areas]
    assert merge_input_rows(read)["MV_SetupCustomer"] == tables["MV_SetupCustomer"].height
    whole = quarantine(tables).counts()
    assert whole["MV_SetupCustomer"]["several_areas"] == 2
    assert regions["MV_SetupCustomer"] == whole["MV_SetupCustomer"]
    first_sales = tables["MV_Sales"].filter(pl.col("CustomerId") == first["CustomerId"]).height
    assert first_sales > 0
    orphans = whole["MV_Sales"]["unknown_customer"] - first_sales
    assert regions["MV_Sales"]["unknown_customer"] == first_sales
    assert {k: v for k, v in regions["MV_Sales"].items() if k != "unknown_customer"} == {
        k: v for k, v in whole["MV_Sales"].items() if k != "unknown_customer"
    }
    # what no region reads, the plan reads once: together, the whole table's set-aside rows
    unowned = set_aside_unowned(source.read_unowned(*everything))
    assert orphans > 0  # the demo plants sales of unknown customers
    assert unowned["MV_Sales"].height == orphans
    assert (unowned["MV_Sales"]["Reason"] == "unknown_customer").all()
    lines_of_lost = whole["MV_SalesDetail"]["header_quarantined"]
    regions_lost = regions["MV_SalesDetail"].get("header_quarantined", 0)
    assert regions_lost + unowned["MV_SalesDetail"].height == lines_of_lost
    first_visits = tables["MV_Visit"].filter(pl.col("CustomerId") == first["CustomerId"]).height
    assert regions["MV_Visit"].get("unknown_customer", 0) == first_visits
    clean = pl.concat([checked.tables["MV_SetupCustomer"] for checked in per_region])
    assert clean["CustomerId"].is_unique().all()
    assert first["CustomerId"] not in clean["CustomerId"].to_list()
    assert clean.filter(pl.col("CustomerId") == second["CustomerId"])["CustomerName"].to_list() == [
        second["CustomerName"]
    ]


# --- the optional inputs ------------------------------------------------------------------------


def without_optional_inputs(tables: dict[str, pl.DataFrame]) -> dict[str, pl.DataFrame]:
    """The contract tables as a database of before the optional inputs holds them: no
    optional view, no optional column."""
    return {
        name: frame.select(TABLES[name].column_names)
        for name, frame in tables.items()
        if name in TABLES
    }


def test_a_database_without_the_optional_inputs_reads_them_as_empty_and_null(
    tmp_path: Path, sql_connection_string: str, demo_tables: dict[str, pl.DataFrame]
) -> None:
    """No optional view and no optional column: the regions read exactly the required
    tables of a database that has them, the optional tables empty and the optional columns
    null; the plan's reading too. Found without a failing query: the catalog says so."""
    bare = SqlSource(write_sqlite(tmp_path / "bare.db", without_optional_inputs(demo_tables)))
    full = SqlSource(sql_connection_string)
    for area in (1, 2):
        old, new = (
            bare.read_region(area, HISTORY_START, BEFORE),
            full.read_region(area, HISTORY_START, BEFORE),
        )
        assert list(old) == list(new)
        for name, spec in ALL_TABLES.items():
            assert dict(old[name].schema) == spec.all_columns, name
        for name, spec in TABLES.items():
            assert (
                old[name].select(spec.column_names).equals(new[name].select(spec.column_names))
            ), name
            for column in spec.optional:
                assert old[name][column].null_count() == old[name].height, (name, column)
        for name in OPTIONAL_TABLES:
            assert old[name].is_empty(), name
    assert not bare.read_unowned(HISTORY_START, BEFORE)[VISIT_PIN.name].height
    with bare.connect() as connection:
        assert bare.optional_inputs(connection) == sql_source.OptionalInputs(
            frozenset(), {REP.name: (), CUSTOMER.name: ()}
        )


def test_the_optional_inputs_are_found_once_per_source(
    sql_connection_string: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One catalog look-up per optional view for the source's life, whatever it reads."""
    asked: list[str] = []
    look_up = SqlSource.view_columns

    def counted(self: SqlSource, connection: object, name: str) -> list[str] | None:
        asked.append(name)
        return look_up(self, connection, name)  # type: ignore[arg-type]

    monkeypatch.setattr(SqlSource, "view_columns", counted)
    source = SqlSource(sql_connection_string)
    source.read_region(1, HISTORY_START, BEFORE)
    source.read_region(2, HISTORY_START, BEFORE)
    source.read_unowned(HISTORY_START, BEFORE)
    assert sorted(asked) == sorted(OPTIONAL_TABLES)


def test_each_planning_row_is_read_by_the_region_of_its_customer(
    sql_connection_string: str, demo_tables: dict[str, pl.DataFrame]
) -> None:
    """The rows of the optional views are split between the readers as the visits are (the
    customer's lowest area; customers in no area: the plan): together every row, once."""
    source = SqlSource(sql_connection_string)
    customers = demo_tables["MV_SetupCustomer"]
    readers = [
        *(source.read_region(area, HISTORY_START, BEFORE) for area in (1, 2)),
        source.read_unowned(HISTORY_START, BEFORE),
    ]
    for name in OPTIONAL_TABLES:
        read = pl.concat([tables[name] for tables in readers])
        assert read.height == demo_tables[name].height > 0, name
        assert read.sort(pl.all()).equals(demo_tables[name].sort(pl.all())), name
        for area, tables in zip((1, 2), readers, strict=False):
            own = customers.filter(pl.col("AreaId") == area)["CustomerId"].implode()
            assert tables[name]["CustomerId"].is_in(own).all(), (name, area)


def test_times_are_read_from_time_and_text_columns(
    tmp_path: Path, demo_tables: dict[str, pl.DataFrame]
) -> None:
    """A TIME column (SQL Server's TIME; the SQLite driver's HH:MM:SS) and a text column of
    HH:MM give the same times of day; a half-made optional view (a required column missing)
    is an error naming it, not an absent input."""
    hours = demo_tables[OUTLET_HOURS.name]
    as_text = {
        **demo_tables,
        OUTLET_HOURS.name: hours.with_columns(pl.col("Opens", "Closes").dt.to_string("%H:%M")),
    }
    text = frozenset({"MV_OutletHours.Opens", "MV_OutletHours.Closes"})
    typed = SqlSource(write_sqlite(tmp_path / "typed.db", demo_tables))
    texts = SqlSource(write_sqlite(tmp_path / "text.db", as_text, text_columns=text))
    for area in (1, 2):
        one = typed.read_region(area, HISTORY_START, BEFORE)[OUTLET_HOURS.name]
        other = texts.read_region(area, HISTORY_START, BEFORE)[OUTLET_HOURS.name]
        assert one.height > 0 and one.equals(other), area
    database = tmp_path / "half.db"
    write_sqlite(database, demo_tables)
    with sqlite3.connect(database) as db:
        db.execute("DROP TABLE MV_OutletHours")
        db.execute("CREATE TABLE MV_OutletHours (CustomerId INTEGER, Weekday INTEGER, Opens TIME)")
    db.close()
    with pytest.raises(ContractError) as info:
        SqlSource(f"Driver=SQLite3;Database={database}").read_region(1, HISTORY_START, BEFORE)
    assert info.value.table == OUTLET_HOURS.name
    assert "Closes" in str(info.value)


def test_optional_columns_of_an_optional_view_may_be_missing(
    tmp_path: Path, demo_tables: dict[str, pl.DataFrame]
) -> None:
    """A pin view without StartTime and Note, an exclusion view without Reason: the dates are
    read, the rest is null; the catalog says which columns are there."""
    tables = {
        **demo_tables,
        VISIT_PIN.name: demo_tables[VISIT_PIN.name].select("CustomerId", "VisitDate"),
        "MV_VisitExclusion": demo_tables["MV_VisitExclusion"].select("CustomerId", "Until"),
    }
    source = SqlSource(write_sqlite(tmp_path / "narrow.db", tables))
    readers = [source.read_region(area, HISTORY_START, BEFORE) for area in (1, 2)]
    readers.append(source.read_unowned(HISTORY_START, BEFORE))
    pins = pl.concat([tables[VISIT_PIN.name] for tables in readers])
    assert dict(pins.schema) == VISIT_PIN.all_columns
    assert pins.height == demo_tables[VISIT_PIN.name].height
    assert pins["StartTime"].null_count() == pins["Note"].null_count() == pins.height
    with source.connect() as connection:
        found = source.optional_inputs(connection)
    assert found.columns_of(VISIT_PIN) == ()
    assert found.columns_of(OUTLET_HOURS) == ()  # it has none
    assert found.columns_of(REP) == ("HomeLatitude", "HomeLongitude")
