"""The Complete Journey's stores as outlets (bench/real_data): the tables fit the contract and
the planted gaps are what the truth says. Correctness on a slice, not quality."""

from __future__ import annotations

from datetime import timedelta

import polars as pl
import pytest

from bench.real_data import completejourney as cj
from bench.real_data import stores
from visitrank.contract.coercion import coerce_table
from visitrank.contract.quarantine import quarantine
from visitrank.contract.tables import TABLES

SPEC = stores.StoreSpec(n_skus=25, seed=3)


@pytest.fixture(scope="module")
def lines() -> pl.DataFrame:
    return cj.load_lines()


@pytest.fixture(scope="module")
def planted(lines: pl.DataFrame) -> tuple[dict[str, pl.DataFrame], pl.DataFrame]:
    return stores.build(SPEC, plant=True, lines=lines)


@pytest.fixture(scope="module")
def unplanted(lines: pl.DataFrame) -> tuple[dict[str, pl.DataFrame], pl.DataFrame]:
    return stores.build(SPEC, plant=False, lines=lines)


def test_tables_pass_the_contract_with_nothing_set_aside(
    planted: tuple[dict[str, pl.DataFrame], pl.DataFrame],
) -> None:
    tables, _ = planted
    coerced = {name: coerce_table(spec, tables[name]) for name, spec in TABLES.items()}
    checked = quarantine(coerced)
    assert all(not reasons for reasons in checked.counts().values()), checked.counts()
    assert tables["MV_SetupItem"].height == SPEC.n_skus
    assert tables["MV_Sales"]["SaleId"].is_unique().all()
    # one delivery per store and week: a store never has two sales in one week
    weeks = tables["MV_Sales"].with_columns(pl.col("SaleDate").dt.truncate("1w"))
    assert weeks.select("CustomerId", "SaleDate").is_unique().all()
    # no fuel, lottery or coupons among the items
    items = tables["MV_SetupItem"]["ItemId"]
    products = cj.load_products().filter(pl.col("product_id").is_in(items.implode()))
    assert not products["department"].is_in(cj.NON_MERCHANDISE).any()


def test_plant_removes_value_only_from_the_planted_pairs_after_their_start(
    planted: tuple[dict[str, pl.DataFrame], pl.DataFrame],
    unplanted: tuple[dict[str, pl.DataFrame], pl.DataFrame],
) -> None:
    tables, truth = planted
    base, empty = unplanted
    assert empty.is_empty() and truth.height > 10
    # same world: geography, reps and visits do not depend on the plant
    for name in ("MV_SetupCustomer", "MV_SetupRep", "MV_Visit", "MV_SetupItem"):
        assert tables[name].equals(base[name]), name

    def by_pair(t: dict[str, pl.DataFrame]) -> pl.DataFrame:
        return (
            t["MV_SalesDetail"]
            .join(t["MV_Sales"], on="SaleId")
            .group_by("CustomerId", "ItemId")
            .agg(Amount=pl.col("Amount").sum())
        )

    both = by_pair(base).join(by_pair(tables), on=["CustomerId", "ItemId"], how="left")
    both = both.with_columns(pl.col("Amount_right").fill_null(0.0))
    lost = both.filter(pl.col("Amount_right") < pl.col("Amount") - 0.01)
    planted_pairs = truth.select("CustomerId", "ItemId")
    # every pair that lost value is planted, and every planted pair lost some
    assert lost.join(planted_pairs, on=["CustomerId", "ItemId"], how="anti").is_empty()
    assert planted_pairs.join(lost, on=["CustomerId", "ItemId"], how="anti").is_empty()
    assert (truth["Factor"] < 0.5).all() and (truth["GapValuePerWeek"] > 0).all()
    # a recent gap loses nothing before its start
    recent = truth.filter(pl.col("StartDate") > pl.col("StartDate").min()).head(1)
    assert recent.height == 1
    start = recent["StartDate"][0]
    before = [
        t["MV_SalesDetail"]
        .join(t["MV_Sales"].filter(pl.col("SaleDate") < start - timedelta(days=7)), on="SaleId")
        .join(recent.select("CustomerId", "ItemId"), on=["CustomerId", "ItemId"])["Amount"]
        .sum()
        for t in (base, tables)
    ]
    assert before[0] == pytest.approx(before[1])


def test_generated_visits_follow_a_two_to_six_week_cadence(
    planted: tuple[dict[str, pl.DataFrame], pl.DataFrame],
) -> None:
    visits = planted[0]["MV_Visit"].sort("CustomerId", "VisitDate")
    gaps = visits.with_columns(
        Gap=pl.col("VisitDate").diff().over("CustomerId").dt.total_days()
    ).drop_nulls("Gap")
    # a weekday within the week: the gap between two visits is cadence x 7 +- 4 days
    assert gaps["Gap"].min() >= 2 * 7 - 4
    assert gaps["Gap"].max() <= 6 * 7 + 4
