import math
from datetime import date

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scoring.config import ScoringConfig
from scoring.priority import opportunity_counts, outlet_priorities, skus_to_push
from scoring.recency import recency_weights

WEEK = date(2024, 6, 3)


def test_recency_weights_by_hand() -> None:
    config = ScoringConfig().with_overrides({"recency_floor": 0.5, "recency_days": 45.0})
    customers = pl.DataFrame({"CustomerId": [1, 2, 3, 4]})
    visits = pl.DataFrame(
        {
            "CustomerId": [1, 2, 4],
            "LastVisitDate": [date(2024, 5, 20), date(2024, 3, 5), date(2024, 6, 10)],
        }
    )
    out = recency_weights(customers, visits, WEEK, config).sort("CustomerId")
    days = out["DaysSinceLastVisit"].to_list()
    assert days == [14, 90, None, None]  # 4's only visit is after the week start: ignored
    w = out["RecencyWeight"].to_list()
    assert w[0] == pytest.approx(0.5 + 0.5 * (1 - math.exp(-14 / 45)))
    assert w[1] == pytest.approx(0.5 + 0.5 * (1 - math.exp(-90 / 45)))
    assert w[2] == 1.0
    assert w[0] < w[1] < w[2]


def scores_frame(
    rows: list[tuple[int, int, float | None, float]], outlet_revenue: float = 0.0
) -> pl.DataFrame:
    return pl.DataFrame(
        rows, schema=["CustomerId", "ItemId", "IndexScore", "GapValue"], orient="row"
    ).with_columns(OutletRevenue=pl.lit(outlet_revenue))


def test_skus_to_push_keeps_largest_gaps_under_threshold() -> None:
    config = ScoringConfig().with_overrides(
        {"opportunity_index_max": 60, "skus_per_visit": 2, "min_sku_gap_share": 0.2}
    )
    scores = scores_frame(
        [
            (1, 10, 10.0, 50.0),
            (1, 11, 50.0, 30.0),
            (1, 12, 20.0, 40.0),  # third largest: cut by skus_per_visit = 2
            (1, 13, 70.0, 90.0),  # index over 60: not an opportunity
            (2, 10, 0.0, 100.0),
            (2, 11, 5.0, 19.0),  # 19 < 0.2 * 100: too small next to the top gap
            (3, 10, None, 0.0),
        ]
    )
    pushed = skus_to_push(scores, config).sort("CustomerId", "SkuRank")
    assert pushed.select("CustomerId", "ItemId", "SkuRank").rows() == [
        (1, 10, 1),
        (1, 12, 2),
        (2, 10, 1),
    ]


def test_skus_to_push_needs_a_gap_worth_a_share_of_the_outlet() -> None:
    config = ScoringConfig().with_overrides(
        {"min_sku_outlet_share": 0.02, "min_sku_gap_share": 0.0, "skus_per_visit": 5}
    )
    # weekly revenue 1,000: a gap is pushed only from 0.02 x 1,000 = 20 a week
    scores = scores_frame(
        [(1, 10, 10.0, 50.0), (1, 11, 5.0, 20.0), (1, 12, 0.0, 19.99), (2, 10, 0.0, 19.0)],
        outlet_revenue=1000.0,
    )
    pushed = skus_to_push(scores, config).sort("CustomerId", "SkuRank")
    assert pushed.select("CustomerId", "ItemId").rows() == [(1, 10), (1, 11)]
    # the same gaps at an outlet selling 500 a week all clear the bar (0.02 x 500 = 10)
    smaller = scores.with_columns(OutletRevenue=pl.lit(500.0))
    assert skus_to_push(smaller, config).height == 4


def test_priority_is_pushed_value_times_recency() -> None:
    config = ScoringConfig().with_overrides(
        {"skus_per_visit": 5, "min_sku_gap_share": 0.0, "saturated_index_min": 130}
    )
    scores = scores_frame(
        [(1, 10, 10.0, 50.0), (1, 11, 200.0, 0.0), (2, 10, 150.0, 0.0), (2, 11, 140.0, 0.0)]
    )
    pushed = skus_to_push(scores, config)
    recency = pl.DataFrame(
        {
            "CustomerId": [1, 2, 3],
            "DaysSinceLastVisit": [10, None, None],
            "RecencyWeight": [0.6, 1.0, 1.0],
        }
    )
    out = outlet_priorities(opportunity_counts(scores, config), pushed, recency).sort("CustomerId")
    assert out["Priority"].to_list() == pytest.approx([30.0, 0.0, 0.0])
    assert out["Saturated"].to_list() == [1, 2, 0]
    assert out["Opportunities"].to_list() == [1, 0, 0]
    assert out["PushedSkus"].to_list() == [1, 0, 0]


@settings(max_examples=60, deadline=None)
@given(
    under=st.floats(0.0, 99.0),
    over=st.floats(100.0, 1000.0),
    gap=st.floats(0.01, 1e5),
    others=st.lists(st.tuples(st.floats(0, 200), st.floats(0, 1e4)), max_size=5),
)
def test_saturated_pair_never_outranks_identical_underindexed(
    under: float, over: float, gap: float, others: list[tuple[float, float]]
) -> None:
    """Two outlets identical but for one SKU: under-indexed with a gap at outlet 1, saturated
    (so no gap) at outlet 2. Outlet 1's priority is never below outlet 2's."""
    config = ScoringConfig()
    rows: list[tuple[int, int, float | None, float]] = []
    for customer in (1, 2):
        rows += [(customer, 100 + i, idx, g) for i, (idx, g) in enumerate(others)]
    rows.append((1, 1, under, gap))
    rows.append((2, 1, over, 0.0))
    scores = scores_frame(rows)
    recency = pl.DataFrame(
        {"CustomerId": [1, 2], "DaysSinceLastVisit": [30, 30], "RecencyWeight": [0.7, 0.7]}
    )
    out = outlet_priorities(
        opportunity_counts(scores, config), skus_to_push(scores, config), recency
    )
    p = dict(zip(out["CustomerId"], out["Priority"], strict=True))
    assert p[1] >= p[2]
