"""The SQL source through pyodbc and the SQLite ODBC driver, on demo MV_ tables."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import polars as pl
import pytest

from adapters.sql_source import REGION_QUERIES, SqlSource
from visitrank.contract import TABLES
from visitrank.errors import ContractError

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
    assert list(tables) == list(TABLES)
    for name, spec in TABLES.items():
        assert dict(tables[name].schema) == spec.columns, name
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
    for name in TABLES:
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
    for sql in REGION_QUERIES.values():
        assert not re.search(r"\b(TOP|LIMIT|OFFSET|FETCH)\b", sql, re.IGNORECASE)
        assert "?" in sql
        assert "%s" not in sql
        assert ":" not in sql
