"""Hand-computed benchmark shares, fallbacks and index scores on a six-outlet region."""

import math

import polars as pl
import pytest

from scoring.benchmark import benchmark_shares
from scoring.config import ScoringConfig
from scoring.grid import outlet_sku_grid
from scoring.indexation import index_scores

# Outlets A-D are tier 1, E-F tier 2; same region, channel and behaviour.
# Revenue of SKU 1 (X) and SKU 2 (Y); every outlet's total is 100, so X shares are
# A .1, B .2, C .3, D 0, E .5, F .4
OUTLETS = {101: 10.0, 102: 20.0, 103: 30.0, 104: 0.0, 105: 50.0, 106: 40.0}
# the plain segment benchmark: no subcategory cap, no own history, no carry-rate weighting
PLAIN = {
    "benchmark": "segment_median",
    "subcategory_benchmark": False,
    "own_history": False,
    "carry_rate_power": 0.0,
}
TIER = {101: 1, 102: 1, 103: 1, 104: 1, 105: 2, 106: 2}


def region() -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    segments = pl.DataFrame(
        {
            "CustomerId": list(OUTLETS),
            "AreaId": [1] * 6,
            "Channel": ["ON_TRADE"] * 6,
            "Behaviour": [0] * 6,
            "VolumeTier": [TIER[c] for c in OUTLETS],
            "Revenue": [100.0] * 6,
        }
    )
    rows = [(c, 1, x) for c, x in OUTLETS.items() if x > 0] + [
        (c, 2, 100.0 - x) for c, x in OUTLETS.items()
    ]
    outlet_sku = pl.DataFrame(
        rows, schema=["CustomerId", "ItemId", "Revenue"], orient="row"
    ).with_columns(RecentRevenue=pl.col("Revenue") / 2)
    items = pl.DataFrame(
        {"ItemId": [1, 2, 3], "SubCategoryId": [7, 8, 8], "UnitPrice": [1.0, 1.0, 5.0]}
    )
    return segments, outlet_sku, items


def benchmarked(**overrides: float) -> pl.DataFrame:
    segments, outlet_sku, items = region()
    config = ScoringConfig().with_overrides(
        {"min_peers": 3, "benchmark": "segment_median", **overrides}
    )
    grid = outlet_sku_grid(segments, outlet_sku, items)
    return benchmark_shares(grid, config).filter(pl.col("ItemId") == 1).sort("CustomerId")


def test_grid_includes_zero_sale_pairs_and_only_sold_items() -> None:
    segments, outlet_sku, items = region()
    grid = outlet_sku_grid(segments, outlet_sku, items)
    assert grid.height == 12  # 6 outlets x 2 sold SKUs (SKU 3 sold nowhere)
    d = grid.filter((pl.col("CustomerId") == 104) & (pl.col("ItemId") == 1))
    assert d["Revenue"][0] == 0.0
    assert d["Share"][0] == 0.0


def test_segment_loo_median_without_shrinkage() -> None:
    out = benchmarked(shrinkage_peers=0.0)
    shares = dict(zip(out["CustomerId"], out["BenchmarkShare"], strict=True))
    # tier 1 (4 outlets, 3 peers each): A: med(.2,.3,0)=.2, B: med(.1,.3,0)=.1,
    # C: med(.1,.2,0)=.1, D: med(.1,.2,.3)=.2
    assert shares[101] == pytest.approx(0.2)
    assert shares[102] == pytest.approx(0.1)
    assert shares[103] == pytest.approx(0.1)
    assert shares[104] == pytest.approx(0.2)
    # tier 2 has 1 peer < min_peers 3: falls back to the behaviour group of 6:
    # E: med(.1,.2,.3,0,.4) = .2 ; F: med(.1,.2,.3,0,.5) = .2
    assert shares[105] == pytest.approx(0.2)
    assert shares[106] == pytest.approx(0.2)
    levels = dict(zip(out["CustomerId"], out["PeerLevel"], strict=True))
    assert levels[101] == "segment"
    assert levels[105] == "behaviour"
    assert dict(zip(out["CustomerId"], out["Peers"], strict=True))[105] == 5


def test_shrinkage_towards_parent() -> None:
    out = benchmarked(shrinkage_peers=3.0)
    a = out.filter(pl.col("CustomerId") == 101)["BenchmarkShare"][0]
    # region = channel = behaviour level for A: med(.2,.3,0,.5,.4) = .3 (identical groups, so
    # the blends at channel and behaviour level stay .3); segment: (3*.2 + 3*.3) / 6 = .25
    assert a == pytest.approx(0.25)


def test_an_outlet_never_benchmarks_itself() -> None:
    # D sells none of X; its benchmark stays .2 whatever its own share
    out = benchmarked(shrinkage_peers=0.0)
    assert out.filter(pl.col("CustomerId") == 104)["BenchmarkShare"][0] == pytest.approx(0.2)


def test_index_and_noise_discounted_gap() -> None:
    segments, outlet_sku, items = region()
    config = ScoringConfig().with_overrides(
        {"min_peers": 3, "shrinkage_peers": 0.0, "noise_z": 1.0, **PLAIN}
    )
    bench = benchmark_shares(outlet_sku_grid(segments, outlet_sku, items), config)
    scores = index_scores(bench, items, weeks=1.0, config=config)
    x = scores.filter(pl.col("ItemId") == 1).sort("CustomerId")
    d = x.filter(pl.col("CustomerId") == 104)
    # D: rest = 100, b = .2 -> expected = 100 * .2 / .8 = 25; index 0;
    # gap units 25 - 0 - 1 * sqrt(25) = 20, price 1
    assert d["Expected"][0] == pytest.approx(25.0)
    assert d["IndexScore"][0] == pytest.approx(0.0)
    assert d["GapValue"][0] == pytest.approx(20.0)
    a = x.filter(pl.col("CustomerId") == 101)
    # A: rest 90, b .2 -> expected 22.5, actual 10, index 44.44, gap 12.5 - sqrt(22.5)
    assert a["Expected"][0] == pytest.approx(22.5)
    assert a["IndexScore"][0] == pytest.approx(100 * 10 / 22.5)
    assert a["GapValue"][0] == pytest.approx(12.5 - math.sqrt(22.5))
    c = x.filter(pl.col("CustomerId") == 103)
    # C: b = .1, rest 70 -> expected 7.78, actual 30: over-indexed, no gap
    assert c["IndexScore"][0] == pytest.approx(100 * 30 / (70 * 0.1 / 0.9))
    assert c["GapValue"][0] == 0.0


def test_weekly_figures_divide_by_weeks() -> None:
    segments, outlet_sku, items = region()
    config = ScoringConfig().with_overrides({"min_peers": 3, "shrinkage_peers": 0.0, **PLAIN})
    bench = benchmark_shares(outlet_sku_grid(segments, outlet_sku, items), config)
    one = index_scores(bench, items, weeks=1.0, config=config).sort("CustomerId", "ItemId")
    ten = index_scores(bench, items, weeks=10.0, config=config).sort("CustomerId", "ItemId")
    assert ten["Expected"].to_list() == pytest.approx((one["Expected"] / 10).to_list())
    assert ten["IndexScore"].to_list() == pytest.approx(one["IndexScore"].to_list(), nan_ok=True)


def test_carry_rate_is_the_share_of_other_peers_buying() -> None:
    out = benchmarked(shrinkage_peers=0.0)
    rates = dict(zip(out["CustomerId"], out["CarryRate"], strict=True))
    # tier 1: A, B, C buy X, D does not. A's peers B, C, D: 2/3; D's peers A, B, C: 3/3
    assert rates[101] == pytest.approx(2 / 3)
    assert rates[104] == pytest.approx(1.0)
    # tier 2 falls back to the behaviour group of 6: E's peers A, B, C, D, F: 4/5
    assert rates[105] == pytest.approx(4 / 5)


def test_gap_weighted_by_carry_rate() -> None:
    segments, outlet_sku, items = region()
    plain = {"min_peers": 3, "shrinkage_peers": 0.0, "noise_z": 0.0, **PLAIN}
    base = ScoringConfig().with_overrides(plain)
    weighted = base.with_overrides({"carry_rate_power": 2.0})
    bench = benchmark_shares(outlet_sku_grid(segments, outlet_sku, items), base)
    g0 = index_scores(bench, items, 1.0, base).filter(pl.col("ItemId") == 1).sort("CustomerId")
    g2 = index_scores(bench, items, 1.0, weighted).filter(pl.col("ItemId") == 1)
    g2 = g2.sort("CustomerId")
    # A: gap 12.5 (no noise discount), carry rate 2/3 -> 12.5 * 4/9
    assert g0["GapValue"][0] == pytest.approx(12.5)
    assert g2["GapValue"][0] == pytest.approx(12.5 * 4 / 9)


def test_recent_window_gap_wins_when_larger() -> None:
    """Outlet D lost SKU X recently: over 10 weeks it sold 10 (index 40 of an expected 25), but
    nothing in the last 2 weeks, where 5 were expected. The recent gap per week is larger."""
    segments, outlet_sku, items = region()
    d_x = pl.DataFrame(
        {"CustomerId": [104], "ItemId": [1], "Revenue": [10.0], "RecentRevenue": [0.0]}
    )
    outlet_sku = pl.concat([outlet_sku, d_x])
    config = ScoringConfig().with_overrides(
        {"min_peers": 3, "shrinkage_peers": 0.0, "noise_z": 0.0, "recent_noise_z": None, **PLAIN}
    )
    bench = benchmark_shares(outlet_sku_grid(segments, outlet_sku, items), config)
    long_only = index_scores(bench, items, 10.0, config)
    both = index_scores(bench, items, 10.0, config, recent_weeks=2.0)
    d_long = long_only.filter((pl.col("CustomerId") == 104) & (pl.col("ItemId") == 1))
    d_both = both.filter((pl.col("CustomerId") == 104) & (pl.col("ItemId") == 1))
    # D's total stays 100 (segments), its share of X is .1; its peers' LOO median stays .2 ->
    # ratio .25. Long window: rest 90 x .25 = 22.5 expected, actual 10 -> 12.5 / 10 weeks
    assert d_long["GapValue"][0] == pytest.approx(1.25)
    assert d_long["GapWindow"][0] == 10.0
    # recent: every recent revenue is half the window revenue except D's X (0). D's recent
    # total = its Y 100 / 2 = 50, all rest -> expected 50 x .25 x season, where season = X's
    # pooled recent share / its pooled window share among the 6 outlets
    # window: X 10+20+30+10+50+40 = 160, Y 90+80+70+100+50+60 = 450;
    # recent: X (10+20+30+50+40) / 2 = 75, Y 225
    x_recent = 75 / (75 + 225)
    x_window = 160 / (160 + 450)
    season = x_recent / x_window
    assert d_both["GapWindow"][0] == 2.0
    assert d_both["Actual"][0] == pytest.approx(0.0)
    assert d_both["GapValue"][0] == pytest.approx(50 * 0.25 * season / 2)
    # the outlet's weekly revenue that a pushed gap is measured against (min_sku_outlet_share)
    # is taken over the same window as the gap: long 100 / 10 weeks, recent 50 / 2 weeks
    assert d_long["OutletRevenue"][0] == pytest.approx(10.0)
    assert d_both["OutletRevenue"][0] == pytest.approx(25.0)


def test_the_recent_window_has_its_own_noise_discount() -> None:
    """The recent gap of D's X (test above) discounted by recent_noise_z x sqrt(expected
    units), the long window's by noise_z (0 here)."""
    segments, outlet_sku, items = region()
    d_x = pl.DataFrame(
        {"CustomerId": [104], "ItemId": [1], "Revenue": [10.0], "RecentRevenue": [0.0]}
    )
    outlet_sku = pl.concat([outlet_sku, d_x])
    config = ScoringConfig().with_overrides(
        {"min_peers": 3, "shrinkage_peers": 0.0, "noise_z": 0.0, "recent_noise_z": 1.0, **PLAIN}
    )
    bench = benchmark_shares(outlet_sku_grid(segments, outlet_sku, items), config)
    scores = index_scores(bench, items, 10.0, config, recent_weeks=2.0)
    d = scores.filter((pl.col("CustomerId") == 104) & (pl.col("ItemId") == 1))
    season = (75 / 300) / (160 / 610)
    expected_units = 50 * 0.25 * season  # price 1: units = revenue
    assert d["GapWindow"][0] == 2.0
    assert d["GapValue"][0] == pytest.approx((expected_units - math.sqrt(expected_units)) / 2)
    long_only = index_scores(bench, items, 10.0, config)
    d_long = long_only.filter((pl.col("CustomerId") == 104) & (pl.col("ItemId") == 1))
    assert d_long["GapValue"][0] == pytest.approx(1.25)  # the long window: noise_z 0


def test_the_recent_window_also_expects_the_outlets_own_earlier_weeks() -> None:
    """D sold 20 of X in the first 8 of 10 weeks and none in the last 2: against its own earlier
    weeks (a share of 20 / 50, moved by X's pooled trend) it lost much more than its
    peers' median says. The gap's noise counts the early weeks' count too."""
    segments, outlet_sku, items = region()
    d_x = pl.DataFrame(
        {"CustomerId": [104], "ItemId": [1], "Revenue": [20.0], "RecentRevenue": [0.0]}
    )
    outlet_sku = pl.concat([outlet_sku, d_x])
    overrides = {"min_peers": 3, "shrinkage_peers": 0.0, "noise_z": 0.0, "recent_noise_z": 1.0}
    config = ScoringConfig().with_overrides({**overrides, **PLAIN})
    bench = benchmark_shares(outlet_sku_grid(segments, outlet_sku, items), config)
    d = index_scores(bench, items, 10.0, config, recent_weeks=2.0).filter(
        (pl.col("CustomerId") == 104) & (pl.col("ItemId") == 1)
    )
    # X over the window: 10+20+30+20+50+40 = 170 of 620; recent 75 of 300 (every recent
    # revenue is half the window's except D's X, 0); early 95 of 320
    season = (75 / 300) / (170 / 620)
    trend = (75 / 300) / (95 / 320)
    # D: total 100, recent total 50 (its Y); early X 20 of an early total 100 - 50 = 50:
    # share .4, moved by the trend, as a ratio to the other purchases
    own_share = 20 / 50 * trend
    own_expected = 50 * own_share / (1 - own_share)
    peer_expected = 50 * 0.25 * season
    assert own_expected > peer_expected
    assert d["Basis"][0] == "own history"
    assert d["GapWindow"][0] == 2.0
    assert d["Expected"][0] == pytest.approx(own_expected / 2)
    # the variance of (recent - expected) holds the early count's too: x (1 + 2 / 8)
    assert d["GapValue"][0] == pytest.approx((own_expected - math.sqrt(own_expected * 1.25)) / 2)

    off = config.with_overrides({"recent_own_baseline": False})
    d_off = index_scores(bench, items, 10.0, off, recent_weeks=2.0).filter(
        (pl.col("CustomerId") == 104) & (pl.col("ItemId") == 1)
    )
    assert d_off["Basis"][0] == "peers"
    assert d_off["GapValue"][0] == pytest.approx((peer_expected - math.sqrt(peer_expected)) / 2)


def test_a_gap_against_the_outlets_own_past_is_at_most_what_its_subcategory_lost() -> None:
    """SKU A used to be 30% of each outlet's purchases (OwnShare .3), and so was its
    subcategory (OwnSubShare .3); no outlet buys A now. Outlet 1 buys 30 of another SKU of the
    subcategory instead (a substitution: no sale lost), outlet 2 nothing of it (all lost),
    outlet 3 buys 10 of it. Over 10 weeks, noise off: A's own expectation is 100 x .3 / .7 =
    42.86 (on the rest of the purchases), a gap of 4.286 a week; the subcategory's is .3 of
    the outlet's 100, 30 (on the share itself)."""
    grid = pl.DataFrame(
        {
            "CustomerId": [1, 2, 3],
            "ItemId": [1, 1, 1],
            "AreaId": [1, 1, 1],
            "Channel": ["ON_TRADE"] * 3,
            "SubCategoryId": [7, 7, 7],
            "Revenue": [0.0, 0.0, 0.0],
            "Total": [100.0, 100.0, 100.0],
            "SubTotal": [30.0, 0.0, 10.0],
            "OwnShare": [0.3, 0.3, 0.3],
            "OwnSubShare": [0.3, 0.3, 0.3],
            "BenchmarkShare": [0.1, 0.1, 0.1],
            "CarryRate": [1.0, 1.0, 1.0],
            "Peers": [5, 5, 5],
            "PeerLevel": ["segment"] * 3,
        }
    )
    items = pl.DataFrame({"ItemId": [1], "UnitPrice": [1.0]})
    config = ScoringConfig().with_overrides(
        {**PLAIN, "own_history": True, "noise_z": 0.0, "recent_weeks": 0, "substitution_cap": True}
    )
    ratio = 0.3 / 0.7
    capped = index_scores(grid, items, 10.0, config).sort("CustomerId")
    assert capped["Basis"].to_list() == ["own history"] * 3
    assert capped["GapValue"].to_list() == pytest.approx([0.0, 30 / 10, (30 - 10) / 10])
    uncapped = index_scores(
        grid, items, 10.0, config.with_overrides({"substitution_cap": False})
    ).sort("CustomerId")
    assert uncapped["GapValue"].to_list() == pytest.approx([100 * ratio / 10] * 3)


def test_the_lost_skus_of_a_subcategory_share_what_it_lost() -> None:
    """SKUs A and B were each 20% of the outlet's purchases and its subcategory 50% (with C at
    10%); now it buys only C, 40 of its 100. Each own gap is 100 x .2 / .8 = 25 over 10
    weeks, 2.5 a week, 5 together; the subcategory lost .5 x 100 - 40 = 10, 1 a week: A and
    B share it, 0.5 a week each (a cap per SKU would give each the whole 1)."""
    grid = pl.DataFrame(
        {
            "CustomerId": [1, 1],
            "ItemId": [1, 2],
            "AreaId": [1, 1],
            "Channel": ["ON_TRADE"] * 2,
            "SubCategoryId": [7, 7],
            "Revenue": [0.0, 0.0],
            "Total": [100.0, 100.0],
            "SubTotal": [40.0, 40.0],
            "OwnShare": [0.2, 0.2],
            "OwnSubShare": [0.5, 0.5],
            "BenchmarkShare": [0.01, 0.01],
            "CarryRate": [1.0, 1.0],
            "Peers": [5, 5],
            "PeerLevel": ["segment"] * 2,
        }
    )
    items = pl.DataFrame({"ItemId": [1, 2], "UnitPrice": [1.0, 1.0]})
    config = ScoringConfig().with_overrides(
        {**PLAIN, "own_history": True, "noise_z": 0.0, "recent_weeks": 0, "substitution_cap": True}
    )
    scores = index_scores(grid, items, 10.0, config).sort("ItemId")
    assert scores["GapValue"].to_list() == pytest.approx([0.5, 0.5])
    assert sum(scores["GapValue"]) == pytest.approx((0.5 * 100 - 40) / 10)
