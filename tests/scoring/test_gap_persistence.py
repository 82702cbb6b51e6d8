"""Gap persistence (scoring/gap_persistence.py): features by hand, no look-ahead, the signal on a
world where real gaps and passing dips differ, the fallback where they do not, determinism, and
the expected gain in the SKUs to push."""

from __future__ import annotations

import math
from datetime import date, timedelta

import numpy as np
import polars as pl
import pytest

from scoring.config import ScoringConfig
from scoring.gap_persistence import (
    PairSales,
    cutoff_features,
    gap_persistence,
    past_cutoffs,
    training_examples,
)
from scoring.priority import opportunities, opportunity_counts, outlet_priorities, skus_to_push

WEEK_START = date(2025, 6, 2)  # a Monday
SKUS = 6
BASE = 100.0  # weekly revenue of every pair of the world, at price 1
CONFIG = ScoringConfig()
LINE_SCHEMA = {
    "CustomerId": pl.Int64,
    "ItemId": pl.Int64,
    "SaleDate": pl.Date,
    "Quantity": pl.Float64,
    "Amount": pl.Float64,
}


def world(
    outlets: int = 300, weeks: int = 90, seed: int = 0, memoryless: bool = False
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """(pairs, lines, visits, channels) of `outlets` outlets buying each of `SKUS` SKUs for
    BASE a week over `weeks` weeks before WEEK_START. Two thirds of the outlets stop buying one
    SKU from a random week: half of them for good (a real gap), half for 10 weeks (a dip).
    With `memoryless` the SKU is instead bought, from that week on, in each 8-week block
    between two cut-off dates (every 8 weeks back from WEEK_START) with the same chance, 1 in
    3, whatever came before: nothing a gap shows at a cut-off tells whether it will last."""
    rng = np.random.default_rng(seed)
    start = WEEK_START - timedelta(weeks=weeks)
    kind = rng.integers(0, 3, outlets)  # 0 real gap, 1 dip, 2 neither
    gap_sku = rng.integers(1, SKUS + 1, outlets)
    gap_week = rng.integers(10, weeks - 4, outlets)
    week = np.arange(weeks)
    customer, item, day = np.meshgrid(np.arange(1, outlets + 1), np.arange(1, SKUS + 1), week)
    customer, item, day = customer.ravel(), item.ravel(), day.ravel()
    o = customer - 1
    if memoryless:
        block = (weeks - 1 - day) // 8  # 0 = the 8 weeks before WEEK_START
        bought = rng.random((outlets, weeks // 8 + 1)) < 1 / 3
        length = np.where(bought[o, block], 0, weeks)
    else:
        length = np.where(kind == 0, weeks, 10)[o]
    hit = (kind[o] < 2) & (item == gap_sku[o]) & (day >= gap_week[o]) & (day < gap_week[o] + length)
    amount = BASE * rng.lognormal(-0.02, 0.2, len(o))
    keep = ~hit
    lines = pl.DataFrame(
        {
            "CustomerId": customer[keep],
            "ItemId": item[keep],
            "SaleDate": [start + timedelta(weeks=int(w), days=2) for w in day[keep]],
            "Quantity": np.round(amount[keep], 2),
            "Amount": np.round(amount[keep], 2),
        },
        schema=LINE_SCHEMA,
    )
    ids = np.arange(1, outlets + 1)
    pairs = pl.DataFrame(
        {"CustomerId": np.repeat(ids, SKUS), "ItemId": np.tile(np.arange(1, SKUS + 1), outlets)}
    ).with_columns(
        PeerRatio=pl.lit(1.0 / (SKUS - 1)),
        CarryRate=pl.lit(1.0),
        UnitPrice=pl.lit(1.0),
    )
    # every tenth outlet is visited every 4 weeks (and not learned from); the others never
    visited = ids[ids % 10 == 0]
    visits = pl.DataFrame(
        {
            "CustomerId": np.repeat(visited, weeks // 4),
            "VisitDate": [start + timedelta(weeks=4 * k, days=1) for k in range(weeks // 4)]
            * len(visited),
        },
        schema={"CustomerId": pl.Int64, "VisitDate": pl.Date},
    )
    channels = pl.DataFrame(
        {"CustomerId": ids, "Channel": np.where(ids % 2 == 0, "ON_TRADE", "OFF_TRADE")}
    )
    return pairs, lines, visits, channels


def test_features_of_one_outlet_by_hand() -> None:
    # one outlet, 3 SKUs at price 2, 26 + 8 weeks: SKU 1 sells 52/week throughout, SKU 2 sells
    # 52/week until the last 8 weeks, then nothing; SKU 3 never sells
    cutoff = date(2025, 1, 6)
    rows = []
    for week in range(1, 27):
        day = cutoff - timedelta(weeks=week) + timedelta(days=1)
        rows.append((1, 1, day, 26.0, 52.0))
        if week > 8:
            rows.append((1, 2, day, 26.0, 52.0))
    lines = pl.DataFrame(rows, schema=LINE_SCHEMA, orient="row")
    pairs = pl.DataFrame({"CustomerId": [1, 1, 1], "ItemId": [1, 2, 3]}).with_columns(
        PeerRatio=pl.lit(1.0),
        CarryRate=pl.lit(0.5),
        UnitPrice=pl.lit(2.0),
    )
    channels = pl.DataFrame({"CustomerId": [1], "Channel": ["ON_TRADE"]})
    config = CONFIG.with_overrides({"carry_rate_power": 0.0})
    sales = PairSales(pairs, lines, config)
    features = cutoff_features(
        sales, channels, cutoff, config, only=pairs.select("CustomerId", "ItemId")
    )
    sku2 = features.filter(pl.col("ItemId") == 2).row(0, named=True)
    # long window: SKU 2 sold 18 x 52 = 936, the outlet 26 x 52 + 936 = 2288; expected =
    # (2288 - 936) x 1 / 26 = 52/week; recent window: SKU 2 sold 0 of the outlet's 8 x 52
    long_expected, recent_expected = 1352.0 / 26, 416.0 / 8
    assert sku2["Expected"] == pytest.approx(long_expected)
    assert sku2["IndexLong"] == pytest.approx(936.0 / 26 / long_expected)
    assert sku2["IndexRecent"] == pytest.approx(0.0)
    assert sku2["NeverBought"] == 0.0
    # the recent gap wins: (208 units - 0 - 2.0 x sqrt(208)) x 2 / 8 weeks, over 52/week
    recent_gap = (208.0 - 2.0 * math.sqrt(208.0)) * 2.0 / 8
    assert sku2["GapShare"] == pytest.approx(math.log1p(recent_gap / recent_expected))
    assert sku2["LogPrice"] == pytest.approx(math.log1p(2.0))
    assert features.filter(pl.col("ItemId") == 3)["NeverBought"].item() == 1.0
    # without `only`, the flag keeps SKUs 2 and 3 (index 0 in a window), not SKU 1 (index 100)
    flagged = cutoff_features(sales, channels, cutoff, config)
    assert flagged["ItemId"].to_list() == [2, 3]
    # with credibility: the never-bought SKU 3 counts as carried by half its peers, 0.5 ** 12
    # of its gap is left, under 1% of the outlet's revenue; SKU 2 was bought, fully credible
    strict = PairSales(pairs, lines, CONFIG)
    assert cutoff_features(strict, channels, cutoff, CONFIG)["ItemId"].to_list() == [2]


def test_nothing_on_or_after_the_cutoff_or_the_week_is_read() -> None:
    pairs, lines, visits, channels = world(outlets=120)
    cutoff = WEEK_START - timedelta(weeks=8)
    late = pl.col("SaleDate") >= cutoff
    on_the_day = pl.DataFrame(
        [(c, i, cutoff, 1e6, 1e6) for c in (1, 2, 3) for i in range(1, SKUS + 1)],
        schema=LINE_SCHEMA,
        orient="row",
    )
    scrambled = pl.concat(
        [
            lines.with_columns(
                pl.when(late)
                .then(pl.col("Amount") * 1000 + 7)
                .otherwise(pl.col("Amount"))
                .alias("Amount")
            ),
            on_the_day,
        ]
    )
    before = cutoff_features(PairSales(pairs, lines, CONFIG), channels, cutoff, CONFIG)
    assert before.height > 0
    assert before.equals(
        cutoff_features(PairSales(pairs, scrambled, CONFIG), channels, cutoff, CONFIG)
    )
    # the examples and the model read up to the week's start, never from it on
    extra = pl.concat(
        [
            lines.filter(pl.col("SaleDate") >= WEEK_START - timedelta(weeks=2)).with_columns(
                pl.col("SaleDate") + pl.duration(weeks=4), pl.col("Amount") * 50
            ),
            on_the_day.with_columns(SaleDate=pl.lit(WEEK_START)),
        ]
    )
    assert extra["SaleDate"].min() == WEEK_START
    candidates = pairs.select("CustomerId", "ItemId")
    one = gap_persistence(pairs, candidates, lines, visits, channels, WEEK_START, CONFIG)
    two = gap_persistence(
        pairs, candidates, pl.concat([lines, extra]), visits, channels, WEEK_START, CONFIG
    )
    assert one.summary() == two.summary()
    assert one.probabilities.equals(two.probabilities)


def test_real_gaps_are_told_from_passing_dips() -> None:
    pairs, lines, visits, channels = world()
    examples = training_examples(
        PairSales(pairs, lines, CONFIG), visits, channels, WEEK_START, CONFIG
    )
    assert examples["Cutoff"].n_unique() == CONFIG.persistence_cutoffs
    result = gap_persistence(
        pairs, pairs.select("CustomerId", "ItemId"), lines, visits, channels, WEEK_START, CONFIG
    )
    assert result.signal, result.reason
    assert result.ci_low > 0
    assert result.examples == examples.height
    # today's gaps: a recent dip (index 0 in the last 8 weeks only) is less likely to last
    # than a gap that has lasted the whole look-back
    now = cutoff_features(PairSales(pairs, lines, CONFIG), channels, WEEK_START, CONFIG).join(
        result.probabilities, on=["CustomerId", "ItemId"]
    )
    lasting = now.filter(pl.col("IndexLong") < 0.05)["PersistProbability"].mean()
    recent = now.filter(pl.col("IndexLong") > 0.6)["PersistProbability"].mean()
    assert isinstance(lasting, float) and isinstance(recent, float)
    assert lasting > recent + 0.2


def test_no_signal_when_nothing_tells_which_gaps_last() -> None:
    pairs, lines, visits, channels = world(memoryless=True)
    result = gap_persistence(
        pairs, pairs.select("CustomerId", "ItemId"), lines, visits, channels, WEEK_START, CONFIG
    )
    assert not result.signal
    assert result.examples >= CONFIG.persistence_min_examples  # the skill test ran
    assert result.ci_low <= 0  # no skill beyond the base rate (an overfit model loses some)
    assert result.probabilities.is_empty()
    assert "do not predict" in result.reason


def test_too_few_examples_and_no_visits_say_so() -> None:
    pairs, lines, visits, channels = world(outlets=30)
    result = gap_persistence(
        pairs, pairs.select("CustomerId", "ItemId"), lines, visits, channels, WEEK_START, CONFIG
    )
    assert not result.signal and "too few" in result.reason
    result = gap_persistence(
        pairs, pairs.select("CustomerId", "ItemId"), lines, None, channels, WEEK_START, CONFIG
    )
    assert not result.signal and "no visit history" in result.reason


def test_visited_outlets_are_not_learned_from() -> None:
    pairs, lines, _, channels = world(outlets=120)
    everyone = pl.DataFrame(
        {
            "CustomerId": np.repeat(np.arange(1, 61), 60),
            "VisitDate": [WEEK_START - timedelta(weeks=int(w)) for w in np.tile(np.arange(60), 60)],
        }
    )
    examples = training_examples(
        PairSales(pairs, lines, CONFIG), everyone, channels, WEEK_START, CONFIG
    )
    assert examples.height > 0
    assert examples["CustomerId"].min() > 60


def test_cutoffs_stop_where_the_lookback_leaves_the_data() -> None:
    _, lines, _, _ = world(outlets=20, weeks=60)
    first = lines["SaleDate"].min()
    assert isinstance(first, date)
    cutoffs = past_cutoffs(first, WEEK_START, CONFIG)
    # 60 weeks of data, 26 of look-back: cut-offs 8, 16, 24 and 32 weeks back (the look-back
    # of 40 weeks back would start 66 weeks back)
    assert cutoffs == [WEEK_START - timedelta(weeks=8 * k) for k in range(1, 5)]
    assert all(c - timedelta(weeks=26) >= first for c in cutoffs)
    # a look-back starting exactly on the first sales day is whole
    exact = WEEK_START - timedelta(weeks=8 * 3 + 26)
    assert past_cutoffs(exact, WEEK_START, CONFIG)[-1] == WEEK_START - timedelta(weeks=24)
    assert len(past_cutoffs(exact + timedelta(days=1), WEEK_START, CONFIG)) == 2
    assert past_cutoffs(None, WEEK_START, CONFIG) == []


def test_deterministic() -> None:
    pairs, lines, visits, channels = world(seed=3)
    candidates = pairs.select("CustomerId", "ItemId")
    runs = [
        gap_persistence(
            pairs,
            candidates,
            lines.sample(fraction=1.0, shuffle=True, seed=s),
            visits,
            channels,
            WEEK_START,
            CONFIG,
        )
        for s in (1, 2)
    ]
    assert runs[0].summary() == runs[1].summary()
    assert runs[0].probabilities.equals(runs[1].probabilities)


def test_skus_are_pushed_by_expected_gain() -> None:
    scores = pl.DataFrame(
        {
            "CustomerId": [1, 1, 1],
            "ItemId": [10, 11, 12],
            "IndexScore": [0.0, 10.0, 20.0],
            "GapValue": [100.0, 60.0, 30.0],
            "OutletRevenue": [1000.0] * 3,
        }
    )
    plain = skus_to_push(scores, CONFIG)
    assert plain["ItemId"].to_list() == [10, 11, 12]
    assert plain["ExpectedGain"].to_list() == plain["GapValue"].to_list()
    assert plain["PersistProbability"].null_count() == 3
    probabilities = pl.DataFrame(
        {"CustomerId": [1, 1, 1], "ItemId": [10, 11, 12], "PersistProbability": [0.2, 0.9, 0.5]}
    )
    weighted = skus_to_push(scores, CONFIG, probabilities)
    # 100 x 0.2 = 20, 60 x 0.9 = 54, 30 x 0.5 = 15
    assert weighted["ItemId"].to_list() == [11, 10, 12]
    assert weighted["ExpectedGain"].to_list() == pytest.approx([54.0, 20.0, 15.0])
    assert weighted["SkuRank"].to_list() == [1, 2, 3]
    assert opportunities(scores, CONFIG).height == 3


def test_priority_sums_the_expected_gains() -> None:
    scores = pl.DataFrame(
        {
            "CustomerId": [1, 1, 2],
            "ItemId": [10, 11, 10],
            "IndexScore": [0.0, 10.0, 5.0],
            "GapValue": [100.0, 60.0, 80.0],
            "OutletRevenue": [1000.0, 1000.0, 1000.0],
        }
    )
    probabilities = pl.DataFrame(
        {"CustomerId": [1, 1, 2], "ItemId": [10, 11, 10], "PersistProbability": [0.5, 1.0, 0.25]}
    )
    pushed = skus_to_push(scores, CONFIG, probabilities)
    recency = pl.DataFrame(
        {
            "CustomerId": [1, 2, 3],
            "DaysSinceLastVisit": [10, None, 3],
            "RecencyWeight": [0.8, 1.0, 0.5],
        }
    )
    priorities = outlet_priorities(opportunity_counts(scores, CONFIG), pushed, recency)
    rows = {r["CustomerId"]: r for r in priorities.iter_rows(named=True)}
    # outlet 1: gaps 100 + 60 = 160, expected gains 50 + 60 = 110, x 0.8 = 88
    assert rows[1]["OpportunityValue"] == pytest.approx(160.0)
    assert rows[1]["ExpectedGain"] == pytest.approx(110.0)
    assert rows[1]["Priority"] == pytest.approx(88.0)
    # outlet 2: 80 x 0.25 = 20, never visited (weight 1); outlet 3 has nothing to push
    assert rows[2]["Priority"] == pytest.approx(20.0)
    assert rows[3]["Priority"] == 0.0 and rows[3]["ExpectedGain"] == 0.0


def test_cutoffs_before_the_visit_log_are_not_learned_from() -> None:
    pairs, lines, visits, channels = world()
    late = visits.filter(pl.col("VisitDate") >= WEEK_START - timedelta(weeks=20))
    sales = PairSales(pairs, lines, CONFIG)
    cutoffs = training_examples(sales, late, channels, WEEK_START, CONFIG)["Cutoff"].unique()
    first = late["VisitDate"].min()
    assert isinstance(first, date)
    assert cutoffs.len() == 2 and (cutoffs >= first).all()  # 8 and 16 weeks back


@pytest.mark.parametrize("customers", [[5, 9, 12], [5, 9, 10**15]])  # compact and sparse ids
def test_lines_find_their_pair_whatever_the_ids(customers: list[int]) -> None:
    items = [-3, 7, 2**40]
    grid = pl.DataFrame(
        {
            "CustomerId": np.repeat(customers, len(items)),
            "ItemId": np.tile(items, len(customers)),
        }
    ).with_columns(PeerRatio=pl.lit(0.5), CarryRate=pl.lit(1.0), UnitPrice=pl.lit(1.0))
    day = date(2025, 1, 8)
    lines = pl.DataFrame(
        [
            (customers[1], 7, day, 1.0, 10.0),
            (customers[1], 7, day, 1.0, 2.5),
            (customers[2], 2**40, day, 1.0, 4.0),
            (customers[2], -3, day, 1.0, 1.0),
            (6, 7, day, 1.0, 100.0),  # an outlet not in the grid: not counted
            (customers[0], 8, day, 1.0, 100.0),  # an item not in the grid
        ],
        schema=LINE_SCHEMA,
        orient="row",
    )
    sales = PairSales(grid, lines, CONFIG)
    assert sales.pairs.height == grid.height  # every bound 0.5 >= 1%
    revenue, total = sales.revenue(day, day + timedelta(days=1))
    got = sales.pairs.select("CustomerId", "ItemId").with_columns(Revenue=revenue, Total=total)
    value = {(c, i): (r, t) for c, i, r, t in got.iter_rows()}
    assert value[(customers[1], 7)] == (12.5, 12.5)
    assert value[(customers[2], 2**40)] == (4.0, 5.0)
    assert value[(customers[2], -3)] == (1.0, 5.0)
    assert value[(customers[0], 7)] == (0.0, 0.0)
    keys = pl.DataFrame({"CustomerId": [customers[2], 6], "ItemId": [-3, -3]})
    (row,) = sales.rows(keys)  # the unknown outlet is left out
    assert sales.pairs.row(int(row), named=True)["CustomerId"] == customers[2]


def test_a_net_return_counts_as_no_sale() -> None:
    grid = pl.DataFrame({"CustomerId": [1, 1, 1], "ItemId": [1, 2, 3]}).with_columns(
        PeerRatio=pl.lit(0.5), CarryRate=pl.lit(1.0), UnitPrice=pl.lit(1.0)
    )
    day = date(2025, 1, 8)
    lines = pl.DataFrame(
        [(1, 1, day, 1.0, 30.0), (1, 2, day, 1.0, 5.0), (1, 2, day, -1.0, -20.0)],
        schema=LINE_SCHEMA,
        orient="row",
    )
    revenue, total = PairSales(grid, lines, CONFIG).revenue(day, day + timedelta(days=1))
    # SKU 2 nets -15: it counts 0, and the outlet's total is 30, not 15
    assert revenue.tolist() == [30.0, 0.0, 0.0]
    assert total.tolist() == [30.0, 30.0, 30.0]
