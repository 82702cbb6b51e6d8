"""The demo's planted conversions (`DemoSpec.conversion`, `demo-data --conversion`): a visit
closes open planted gaps with the planted probability, the truth records which closed when, and
`visitrank evaluate` counts only the gaps still open, each worth gap x probability. And its
passing stock-outs (`DemoSpec.dips`, `demo-data --dips`)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from tests.lab.test_demo_visit_effect import UNCHANGED
from tests.local.test_cli import cli
from visitrank.lab.demo_data import (
    CHANNEL_CONVERSION,
    MAX_CONVERSION,
    TIER_CONVERSION,
    DemoSpec,
    generate_tables,
    open_opportunities,
)
from visitrank.lab.evaluate import outlet_value, planted_values
from visitrank.local.cli import EXIT_OK

SPEC = DemoSpec(outlets=400, reps=8, skus=24, weeks=52, areas=2, seed=4)
CONVERTING = DemoSpec(**{**SPEC.__dict__, "conversion": 0.5})


def planted_lines(tables: dict[str, pl.DataFrame], truth: pl.DataFrame) -> pl.DataFrame:
    """The valid order lines of the pairs of `truth` (CustomerId, ItemId and any columns:
    planted gaps, dips, range switches) with their sale date."""
    sales = tables["MV_Sales"].unique("SaleId", keep="first")
    return (
        tables["MV_SalesDetail"]
        .drop_nulls()
        .join(sales.select("SaleId", "CustomerId", "SaleDate"), on="SaleId")
        .join(truth, on=["CustomerId", "ItemId"])
    )


def test_visits_close_planted_gaps_with_the_planted_probability() -> None:
    plain, truth_plain, _, _ = generate_tables(SPEC)
    tables, truth, _, _ = generate_tables(CONVERTING)
    for name in UNCHANGED:  # own random stream: the world and the visits stay the same
        assert tables[name].equals(plain[name]), name
    assert "ClosedDate" not in truth_plain.columns
    assert truth.drop("ConversionProbability", "ClosedDate").equals(truth_plain)

    # the probability: base x channel x tier multiplier (the tier is one of three), capped
    assert truth["ConversionProbability"].max() == MAX_CONVERSION
    channel = tables["MV_SetupCustomer"].select("CustomerId", "Channel")
    multiplier = truth.join(channel, on="CustomerId").with_columns(
        Tier=pl.col("ConversionProbability")
        / (0.5 * pl.when(pl.col("Channel") == "ON_TRADE").then(1.5).otherwise(0.5))
    )
    uncapped = multiplier.filter(pl.col("ConversionProbability") < MAX_CONVERSION)
    tiers = sorted(round(t, 3) for t in uncapped["Tier"].unique().to_list())
    assert len(tiers) == 3
    assert set(tiers) <= {round(float(t), 3) for t in TIER_CONVERSION}
    assert CHANNEL_CONVERSION.tolist() == [0.5, 1.5]

    # a gap closes on a visit day of its outlet, on or after the gap's start
    closed = truth.filter(pl.col("ClosedDate").is_not_null())
    assert 0 < closed.height < truth.height
    on_visit = closed.join(
        tables["MV_Visit"].select("CustomerId", ClosedDate="VisitDate"),
        on=["CustomerId", "ClosedDate"],
        how="semi",
    )
    assert on_visit.height == closed.height
    assert (closed["ClosedDate"] >= closed["StartDate"]).all()

    # after the close the pair sells at its natural rate again: far more than before it
    lines = planted_lines(tables, closed).with_columns(
        After=pl.col("SaleDate") > pl.col("ClosedDate"),
        Depressed=pl.col("SaleDate") >= pl.col("StartDate"),
    )
    before = lines.filter(pl.col("Depressed") & ~pl.col("After"))["Quantity"].sum()
    after = lines.filter(pl.col("After"))["Quantity"].sum()
    days_before = closed.select(
        (pl.col("ClosedDate") - pl.col("StartDate")).dt.total_days().sum()
    ).item()
    last_day = tables["MV_Sales"]["SaleDate"].max()
    days_after = closed.select(
        (pl.lit(last_day) - pl.col("ClosedDate")).dt.total_days().sum()
    ).item()
    assert (after / days_after) > 4 * (before / days_before)  # planted factors are 0..0.2

    # high-probability gaps close more often
    rates = (
        truth.with_columns(High=pl.col("ConversionProbability") > 0.5)
        .group_by("High")
        .agg(Closed=pl.col("ClosedDate").is_not_null().mean())
    )
    rate = dict(rates.iter_rows())
    assert rate[True] > rate[False]


def test_evaluation_counts_open_gaps_at_their_expected_value() -> None:
    truth = pl.DataFrame(
        {
            "CustomerId": [1, 1, 2],
            "ItemId": [10, 11, 10],
            "GapValuePerWeek": [100.0, 50.0, 80.0],
            "ConversionProbability": [0.5, 0.2, 0.9],
            "ClosedDate": [None, "2026-01-05", None],
        }
    )
    values = planted_values(truth)
    assert values["ItemId"].to_list() == [10, 10]
    assert values["Value"].to_list() == pytest.approx([50.0, 72.0])
    per_outlet = dict(outlet_value(truth).sort("CustomerId").iter_rows())
    assert per_outlet == pytest.approx({1: 50.0, 2: 72.0})
    # without planted conversions every gap counts at its full weekly value
    plain = truth.drop("ConversionProbability", "ClosedDate")
    assert open_opportunities(plain).height == 3
    assert planted_values(plain)["Value"].to_list() == [100.0, 50.0, 80.0]


def test_the_cli_flag_plants_conversions(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["--outlets", 80, "--reps", 4, "--skus", 12, "--weeks", 30, "--areas", 1]
    code, out, _ = cli(
        ["demo-data", tmp_path / "d", *args, "--conversion", 0.8, "--dips", 1], capsys
    )
    assert code == EXIT_OK
    truth = pl.read_csv(tmp_path / "d" / "truth" / "opportunities.csv", try_parse_dates=True)
    assert {"ConversionProbability", "ClosedDate"} <= set(truth.columns)
    assert "more planted gaps were closed by visits" in out
    with pytest.raises(ValueError, match="conversion"):
        DemoSpec(conversion=1.5)
    with pytest.raises(ValueError, match="dips"):
        DemoSpec(dips=-1.0)


def inside_window() -> pl.Expr:
    return pl.col("SaleDate").is_between(pl.col("From"), pl.col("To"), closed="left")


def test_dips_stop_a_sku_for_weeks_then_it_comes_back() -> None:
    plain, truth_plain, _, _ = generate_tables(SPEC)
    dipping = DemoSpec(**{**SPEC.__dict__, "dips": 2.0})
    tables, truth, _, _ = generate_tables(dipping)
    for name in UNCHANGED:
        assert tables[name].equals(plain[name]), name
    assert truth.equals(truth_plain)  # a dip is not an opportunity
    # the same draws as the generator's (its eleventh stream): every dip is 6-12 weeks
    # without a unit of the pair, and the pair sells before and after it
    from visitrank.lab import demo_geography as dg
    from visitrank.lab.demo_data import DIP_WEEKS, _build_world, _dips, _plant

    seeds = np.random.SeedSequence(dipping.seed).spawn(11)
    rngs = [np.random.default_rng(s) for s in seeds[:8]]
    cat = dg.build_catalogue(rngs[3], dipping.skus)
    world, _ = _build_world(dipping, rngs, cat)
    outlet, sku, start, end = _dips(
        np.random.default_rng(seeds[10]), dipping, world, _plant(rngs[4], dipping, world)
    )
    assert len(outlet) > 0.5 * dipping.outlets  # about 2 per outlet over 52 weeks, one per pair
    weeks = (end - start) / 7
    assert weeks.min() >= DIP_WEEKS[0] and weeks.max() <= DIP_WEEKS[1]
    begin = dipping.start_date
    dips = pl.DataFrame(
        {
            "CustomerId": dg.ID_BASE["customer"] + outlet,
            "ItemId": cat.item_id[sku],
            "From": [begin + timedelta(days=int(d)) for d in start],
            "To": [begin + timedelta(days=int(d)) for d in end],
        }
    )
    lines = planted_lines(tables, dips)
    assert lines.filter(inside_window()).height == 0
    assert lines.filter(pl.col("SaleDate") >= pl.col("To")).height > 0
    assert lines.filter(pl.col("SaleDate") < pl.col("From")).height > 0
    # other pairs' orders are drawn from the same stream: the dips remove lines, add none
    assert tables["MV_SalesDetail"].height < plain["MV_SalesDetail"].height


def test_churn_replaces_listings_within_subcategory_and_tier_at_the_same_spend() -> None:
    plain, truth_plain, _, _ = generate_tables(SPEC)
    churning = DemoSpec(**{**SPEC.__dict__, "churn": 1.0})
    tables, truth, _, _ = generate_tables(churning)
    for name in UNCHANGED:
        assert tables[name].equals(plain[name]), name
    assert truth.equals(truth_plain)  # a replaced listing is not an opportunity
    # the generator's draws (its twelfth stream): every switch stops a SKU on its day and
    # starts one of the same subcategory and tier, never a planted pair
    from visitrank.lab import demo_geography as dg
    from visitrank.lab.demo_data import _build_world, _churn, _plant

    seeds = np.random.SeedSequence(churning.seed).spawn(12)
    rngs = [np.random.default_rng(s) for s in seeds[:8]]
    cat = dg.build_catalogue(rngs[3], churning.skus)
    world, _ = _build_world(churning, rngs, cat)
    plant = _plant(rngs[4], churning, world)
    after, (outlet, sku, start, end) = _churn(
        np.random.default_rng(seeds[11]), churning, world, cat, plant
    )
    half = len(outlet) // 2
    old, new, day = sku[:half], sku[half:], start[:half]
    o = outlet[:half]
    listings = (world.rate > 0).sum()
    # 1 - exp(-1) = 63% of the listings draw a switch; with 24 SKUs most find no free SKU of
    # their subcategory and tier
    assert 0.02 * listings < half < 0.64 * listings
    assert (outlet[half:] == o).all() and (end[half:] == day).all()
    sub = cat.tables["MV_SetupItem"]["SubCategoryId"].to_numpy()
    assert (sub[old] == sub[new]).all() and (cat.tier[old] == cat.tier[new]).all()
    assert (world.rate[o, new] == 0).all()  # a SKU the outlet did not carry
    spend = after.rate[o, new] * cat.price[new]
    assert spend == pytest.approx(world.rate[o, old] * cat.price[old])
    planted = set(zip(plant[0].tolist(), plant[1].tolist(), strict=True))
    assert not planted & set(zip(o.tolist(), old.tolist(), strict=True))
    begin = churning.start_date
    windows = pl.DataFrame(
        {
            "CustomerId": dg.ID_BASE["customer"] + outlet,
            "ItemId": cat.item_id[sku],
            "From": [begin + timedelta(days=int(d)) for d in start],
            "To": [begin + timedelta(days=int(min(d, 7 * churning.weeks))) for d in end],
        }
    )
    lines = planted_lines(tables, windows)
    assert lines.filter(inside_window()).height == 0
    assert lines.height > 0  # the stopped SKUs sold before, the new ones after
