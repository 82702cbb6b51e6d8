"""The proposed order: interval logic, quantities, novelty budget, feedback."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import polars as pl
import pytest

from scoring.orders import OrderConfig, OrderInputs, propose_orders
from scoring.orders.extension import top_k_cells
from scoring.orders.feedback import adjust, adjustment_factors, outcomes
from scoring.orders.novelty import must_sell_lines, within_budget
from scoring.orders.rhythm import baskets, baskets_until, customer_rhythm, item_seasonality
from visitrank.pipeline.orders_documents import attach_proposed_orders

START = date(2026, 1, 5)  # a Monday; 20 weekly orders end on 2026-05-18
WEEKLY, MONTHLY, ITEM_A, ITEM_M = 1, 2, 101, 102


def _lines(monthly_item_offset: int) -> pl.DataFrame:
    """Customer 1 orders every 7 days: 10 x A each time, 40 x M every 4th order (starting at
    order `monthly_item_offset`). Customer 2 orders 20 x A every 28 days."""
    rows = []
    for k in range(20):
        day = START + timedelta(days=7 * k)
        rows.append((WEEKLY, ITEM_A, day, 10.0))
        if k % 4 == monthly_item_offset:
            rows.append((WEEKLY, ITEM_M, day, 40.0))
    for k in range(6):
        rows.append((MONTHLY, ITEM_A, START + timedelta(days=28 * k), 20.0))
    return pl.DataFrame(
        rows, schema=["CustomerId", "ItemId", "SaleDate", "Quantity"], orient="row"
    ).with_columns(Amount=pl.col("Quantity") * 2.0)


def _inputs(lines: pl.DataFrame) -> OrderInputs:
    customers = pl.DataFrame(
        {
            "CustomerId": [WEEKLY, MONTHLY],
            "AreaId": [1, 1],
            "Channel": ["ON_TRADE", "OFF_TRADE"],
            "Routable": [True, True],
        }
    )
    items = pl.DataFrame(
        {"ItemId": [ITEM_A, ITEM_M, 103], "ItemName": ["A", "M", "X"], "UnitPrice": [2.0] * 3}
    )
    visits = pl.DataFrame(schema={"CustomerId": pl.Int64, "LastVisitDate": pl.Date})
    return OrderInputs(customers, items, lines, visits)


LAST_WEEKLY = START + timedelta(days=7 * 19)
CONFIG = OrderConfig(lookback_weeks=26, calibration_weeks=4)


def _order(lines: pl.DataFrame, customer: int, config: OrderConfig = CONFIG) -> dict[int, float]:
    proposal = propose_orders(_inputs(lines), LAST_WEEKLY, config)
    mine = proposal.lines.filter(pl.col("CustomerId") == customer)
    return dict(zip(mine["ItemId"].to_list(), mine["Quantity"].to_list(), strict=True))


def test_monthly_item_is_not_proposed_right_after_it_was_bought() -> None:
    # M was bought in the last order (orders 3, 7, 11, 15, 19): not due for 3 more orders.
    assert _order(_lines(monthly_item_offset=3), WEEKLY) == {ITEM_A: 10.0}


def test_monthly_item_is_proposed_when_due_with_a_months_quantity() -> None:
    # M last bought 3 orders ago (orders 0, 4, ..., 16): due now; it covers 28 days -> 40.
    assert _order(_lines(monthly_item_offset=0), WEEKLY) == {ITEM_A: 10.0, ITEM_M: 40.0}


def test_monthly_customer_is_expected_monthly_with_a_months_quantity() -> None:
    lines = _lines(monthly_item_offset=0)
    rhythm = customer_rhythm(baskets(lines), LAST_WEEKLY, CONFIG)
    monthly = rhythm.filter(pl.col("CustomerId") == MONTHLY).row(0, named=True)
    last_monthly = START + timedelta(days=28 * 5)
    assert monthly["IntervalDays"] == 28.0
    assert monthly["NextOrder"] == last_monthly + timedelta(days=28)
    # 20 units per 28 days: the order covers a month, not a week (which would be 5).
    assert _order(lines, MONTHLY) == {ITEM_A: 20.0}


def test_overdue_customer_is_expected_tomorrow() -> None:
    lines = _lines(monthly_item_offset=0)
    late = LAST_WEEKLY + timedelta(days=20)
    rhythm = customer_rhythm(baskets(lines), late, CONFIG)
    assert rhythm.filter(pl.col("CustomerId") == WEEKLY)["NextOrder"][0] == late + timedelta(1)


def test_no_line_after_as_of_is_used() -> None:
    lines = _lines(monthly_item_offset=0)
    future = pl.DataFrame(
        {
            "CustomerId": [WEEKLY] * 3,
            "ItemId": [103, ITEM_A, ITEM_M],
            "SaleDate": [LAST_WEEKLY + timedelta(days=1)] * 3,
            "Quantity": [500.0, 999.0, 999.0],
            "Amount": [1.0, 1.0, 1.0],
        }
    )
    with_future = propose_orders(_inputs(pl.concat([lines, future])), LAST_WEEKLY, CONFIG)
    without = propose_orders(_inputs(lines), LAST_WEEKLY, CONFIG)
    assert with_future.lines.equals(without.lines)
    assert with_future.customers.equals(without.customers)


def _novelties() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "CustomerId": [1, 1, 1, 1, 2, 2],
            "ItemId": [11, 12, 13, 14, 21, 22],
            "Probability": [0.3, 0.9, 0.5, 0.1, 0.2, 0.24],
        }
    )


def test_novelty_budget_keeps_the_most_probable_above_the_threshold() -> None:
    kept = within_budget(_novelties(), OrderConfig(max_new_items=2, novelty_min_probability=0.25))
    assert kept.select("CustomerId", "ItemId").rows() == [(1, 12), (1, 13)]
    assert within_budget(_novelties(), OrderConfig(max_new_items=0)).height == 0
    loose = within_budget(_novelties(), OrderConfig(max_new_items=5, novelty_min_probability=0))
    assert loose.height == 6


def test_must_sell_items_per_segment() -> None:
    customers = pl.DataFrame(
        {"CustomerId": [1, 2], "Channel": ["ON_TRADE", "OFF_TRADE"], "Segment": ["s1", "s2"]}
    )
    config = OrderConfig(must_sell={"ON_TRADE": (7, 8), "*": (9,), "s2": (8,)}, max_must_sell=2)
    got = must_sell_lines(customers, config).sort("CustomerId", "ItemId")
    assert got.select("CustomerId", "ItemId").rows() == [(1, 7), (1, 8), (2, 8), (2, 9)]


def test_must_sell_line_is_added_with_its_flag() -> None:
    config = CONFIG.with_overrides({"must_sell": {"ON_TRADE": [103]}})
    proposal = propose_orders(_inputs(_lines(monthly_item_offset=3)), LAST_WEEKLY, config)
    musts = proposal.lines.filter(pl.col("Kind") == "must-sell")
    assert musts.select("CustomerId", "ItemId").rows() == [(WEEKLY, 103)]
    assert musts["Reason"][0] == "must-sell for ON_TRADE"


def _history() -> tuple[pl.DataFrame, pl.DataFrame]:
    as_of = date(2026, 3, 1)
    history = pl.DataFrame(
        {
            "CustomerId": [1, 1, 1, 2, 2, 2, 3],
            "AsOf": [as_of] * 7,
            "ItemId": [11, 12, 13, 11, 12, 13, 11],
            "Kind": [
                "extension",
                "development",
                "extension",
                "extension",
                "extension",
                "usual",
                "extension",
            ],
            "Probability": [0.4, 0.4, 0.4, 0.4, 0.4, 0.8, 0.4],
        }
    )
    basket = pl.DataFrame(
        {
            "CustomerId": [1, 2, 2, 2, 2],
            "SaleDate": [
                date(2026, 3, 4),
                date(2026, 3, 5),
                date(2026, 3, 5),
                date(2026, 3, 5),
                date(2026, 3, 9),
            ],
            "ItemId": [50, 11, 12, 13, 14],
        }
    )  # customer 3 has not ordered since: pending
    return history, basket


def test_feedback_outcomes_compare_the_next_order() -> None:
    history, basket = _history()
    scored = outcomes(history, basket, date(2026, 3, 31)).sort("CustomerId", "ItemId")
    assert scored.select("CustomerId", "ItemId", "Accepted").rows() == [
        (1, 11, False), (1, 12, False), (1, 13, False),
        (2, 11, True), (2, 12, True), (2, 13, True),
    ]  # fmt: skip


def test_feedback_lowers_novelties_for_a_customer_who_never_takes_them() -> None:
    history, basket = _history()
    config = OrderConfig(feedback_prior=3.0)
    factors = adjustment_factors(outcomes(history, basket, date(2026, 3, 31)), config)
    novelty = {
        r["CustomerId"]: r["Factor"]
        for r in factors.filter(pl.col("Group") == "novelty").to_dicts()
    }
    # customer 1: 0 accepted of 1.2 expected, prior 3 x 0.4 = 1.2 -> 1.2 / 2.4 = 0.5
    assert novelty[1] == pytest.approx(0.5)
    # customer 2: 2 accepted of 0.8 expected, prior 1.2 -> 3.2 / 2.0 = 1.6
    assert novelty[2] == pytest.approx(1.6)
    lines = pl.DataFrame({"CustomerId": [1, 2, 3], "Probability": [0.4, 0.4, 0.4]})
    adjusted = dict(adjust(lines, factors, "novelty").select("CustomerId", "Probability").rows())
    assert adjusted[1] == pytest.approx(0.25)  # odds 2/3 x 0.5 = 1/3
    assert adjusted[2] == pytest.approx(1.6 * (2 / 3) / (1 + 1.6 * (2 / 3)))
    assert adjusted[3] == pytest.approx(0.4)  # no history: unchanged
    budget = OrderConfig(novelty_min_probability=0.3)
    kept = within_budget(adjust(lines.with_columns(ItemId=pl.lit(1)), factors, "novelty"), budget)
    assert kept["CustomerId"].to_list() == [2, 3]


def test_attach_proposed_orders_adds_a_compact_list_per_visit() -> None:
    documents = [{"repId": 5, "visits": [{"customerId": 1}, {"customerId": 9}]}]
    orders = [
        {
            "customerId": 1,
            "asOf": "2026-05-18",
            "lines": [
                {"itemId": 7, "itemName": "x", "quantity": 3.0, "kind": "usual",
                 "probability": 0.9, "reason": "r"}
            ],
        }
    ]  # fmt: skip
    out = attach_proposed_orders(documents, orders)
    assert out[0]["visits"][0]["proposedOrder"] == [
        {"itemId": 7, "quantity": 3.0, "kind": "usual", "probability": 0.9}
    ]
    assert out[0]["visits"][1]["proposedOrder"] == []
    assert "proposedOrder" not in documents[0]["visits"][0]


def test_item_item_cf_by_hand() -> None:
    # Customers x items (A, B, C): 1 = {A, B}, 2 = {A, B}, 3 = {B, C}, 4 = {A}.
    # Buyers: A 3, B 3, C 1; together: AB 2, BC 1, AC 0. Cosine = co / sqrt(n_i n_j):
    # AB = 2 / sqrt(9) = 2/3, BC = 1 / sqrt(3), AC = 0.
    from scipy import sparse

    from scoring.orders.extension import _item_similarity, extension_candidates

    owned = [(1, 0), (1, 1), (2, 0), (2, 1), (3, 1), (3, 2), (4, 0)]
    matrix = sparse.csr_matrix(
        ([1.0] * len(owned), ([c - 1 for c, _ in owned], [i for _, i in owned])), shape=(4, 3)
    )
    ab, bc = 2.0 / 3.0, 1.0 / 3.0**0.5
    full = _item_similarity(matrix, neighbours=2)
    assert full == pytest.approx(np.array([[0, ab, 0], [ab, 0, bc], [0, bc, 0]]))
    # One neighbour per candidate item (column): A keeps B, B keeps A (2/3 > 1/sqrt 3) and
    # drops C, C keeps B.
    top1 = _item_similarity(matrix, neighbours=1)
    assert top1 == pytest.approx(np.array([[0, ab, 0], [ab, 0, bc], [0, 0, 0]]))

    as_of = date(2026, 3, 1)
    ids = {0: 201, 1: 202, 2: 203}
    basket = pl.DataFrame(
        {
            "CustomerId": [c for c, _ in owned],
            "ItemId": [ids[i] for _, i in owned],
            "SaleDate": [as_of - timedelta(days=3)] * len(owned),
            "Quantity": [1.0] * len(owned),
        }
    )
    customers = pl.DataFrame({"CustomerId": [1, 2, 3, 4], "Segment": ["S"] * 4})
    items = pl.DataFrame({"ItemId": [201, 202, 203], "ItemName": ["A", "B", "C"]})
    rhythm = pl.DataFrame(
        {"CustomerId": [1, 2, 3, 4], "NextOrder": [as_of + timedelta(days=4)] * 4}
    )
    season = pl.DataFrame(schema={"ItemId": pl.Int64, "Week": pl.Int32, "Season": pl.Float64})
    config = OrderConfig(neighbours=1, segment_weight=0.5)
    got = extension_candidates(basket, customers, items, rhythm, season, as_of, config).sort(
        "CustomerId", "ItemId"
    )
    # Affinity = mean similarity (top-1 matrix, sim[owned, candidate]) over the items owned;
    # popularity = share of the segment's 4 customers buying it; score = their average.
    expected = [
        (1, 203, (0 + bc) / 2, 1 / 4),  # owns A, B: sim[A, C] = 0, sim[B, C] = 1/sqrt 3
        (2, 203, (0 + bc) / 2, 1 / 4),
        (3, 201, (ab + 0) / 2, 3 / 4),  # owns B, C: sim[B, A] = 2/3, sim[C, A] = 0
        (4, 202, ab, 3 / 4),  # owns A: sim[A, B] = 2/3
        (4, 203, 0.0, 1 / 4),  # sim[A, C] = 0: only the segment popularity
    ]
    assert got.select("CustomerId", "ItemId").rows() == [(c, i) for c, i, _, _ in expected]
    assert got["Affinity"].to_list() == pytest.approx([e[2] for e in expected], abs=1e-6)
    assert got["Popularity"].to_list() == pytest.approx([e[3] for e in expected], abs=1e-6)
    assert got["Score"].to_list() == pytest.approx(
        [0.5 * e[2] + 0.5 * e[3] for e in expected], abs=1e-6
    )
    # All purchases are recent: (3 + 1) / 8 weeks over (3 + 1) / 26 weeks = 3.25 -> trending.
    assert got.filter(pl.col("CustomerId") == 4)["Reason"][0] == (
        "new: bought by 75% of similar outlets; goes with A it buys; trending"
    )


def test_expected_gap_is_the_interval_straddling_the_cut_off() -> None:
    # Intervals 7, 7, 14, 7, 21 days; 10 days after the last order the next order closes an
    # interval of at least 11 days (it comes at the earliest tomorrow): mean(14, 21) = 17.5.
    days = [0, 7, 14, 28, 35, 56]
    lines = pl.DataFrame(
        {
            "CustomerId": [1] * len(days),
            "ItemId": [ITEM_A] * len(days),
            "SaleDate": [START + timedelta(days=d) for d in days],
            "Quantity": [5.0] * len(days),
        }
    )
    as_of = START + timedelta(days=56 + 10)
    row = customer_rhythm(baskets(lines), as_of, CONFIG).row(0, named=True)
    assert row["IntervalDays"] == 7.0 and row["NextOrder"] == as_of + timedelta(days=1)
    assert row["ExpectedGapDays"] == pytest.approx(17.5)
    # 30 days in, no past interval is that long: elapsed (31) + half the rhythm (3.5).
    late = customer_rhythm(baskets(lines), as_of + timedelta(days=20), CONFIG).row(0, named=True)
    assert late["ExpectedGapDays"] == pytest.approx(31 + 3.5)


def test_truncated_poisson_median() -> None:
    from scoring.orders.usual import truncated_poisson_median

    units = pl.DataFrame({"Units": [0.5, 2.0, 40.0]})
    got = units.select(truncated_poisson_median(pl.col("Units")))["Units"].to_list()
    # mu = 2: P(X <= 1) = 3 e^-2 = 0.41 < (1 + e^-2) / 2 = 0.57 <= P(X <= 2) = 5 e^-2 = 0.68.
    assert got == [1.0, 2.0, 40.0]


def test_seasonality_counts_each_observed_week_once() -> None:
    # The same units every week for 80 weeks: weeks of the year seen twice must not look like
    # a high season (a flat profile: every Season near 1; counting units per week of the year
    # without the exposure gave 0.74 .. 1.23 here).
    first = date(2025, 1, 6)
    lines = pl.DataFrame(
        {
            "CustomerId": [1] * 80,
            "ItemId": [ITEM_A] * 80,
            "SaleDate": [first + timedelta(days=7 * k) for k in range(80)],
            "Quantity": [100.0] * 80,
        }
    )
    as_of = first + timedelta(days=7 * 80 - 1)
    season = item_seasonality(lines, as_of, OrderConfig())
    assert season.height == 52
    assert season["Season"].min() == pytest.approx(1.0, abs=0.08)
    assert season["Season"].max() == pytest.approx(1.0, abs=0.08)


def test_seasonality_smooths_over_two_weeks_each_side_around_the_year() -> None:
    # One year (1 Jan - 31 Dec, 365 days: week 51 holds 8 days) and 50 units in the first
    # week only: the +-2-week smoothing spreads 10 units over weeks 50, 51, 0, 1, 2 (circular),
    # the mean week holds 50 / 52, and 50 pseudo-units shrink the profile towards 1.
    lines = pl.DataFrame(
        {
            "CustomerId": [1],
            "ItemId": [ITEM_A],
            "SaleDate": [date(2025, 1, 1)],
            "Quantity": [50.0],
        }
    )
    season = item_seasonality(lines, date(2025, 12, 31), OrderConfig())
    by_week = dict(zip(season["Week"].to_list(), season["Season"].to_list(), strict=True))
    assert len(by_week) == 52
    mean = 50 / 52
    for week in (50, 51, 0, 1, 2):
        assert by_week[week] == pytest.approx((10 + 50) / (mean + 50))
    for week in (3, 20, 49):
        assert by_week[week] == pytest.approx(50 / (mean + 50))


def test_baskets_until_a_date_are_the_baskets_of_the_lines_until_then() -> None:
    rng = np.random.default_rng(3)
    first = date(2025, 1, 6)
    lines = pl.DataFrame(
        {
            "CustomerId": rng.integers(1, 5, 300),
            "ItemId": rng.integers(1, 8, 300),
            "SaleDate": [first + timedelta(days=int(d)) for d in rng.integers(0, 120, 300)],
            "Quantity": rng.integers(-1, 4, 300).astype(float),
        }
    )
    at = first + timedelta(days=70)
    expected = baskets(lines.filter(pl.col("SaleDate") <= at))
    got = baskets_until(baskets(lines), at)
    assert got.equals(expected)
    assert baskets_until(expected, at + timedelta(days=400)).equals(expected)


def test_quantity_errors_on_the_lines_both_methods_matched() -> None:
    from visitrank.lab.order_backtest import common_quantity_errors

    truth = pl.DataFrame(
        {"CustomerId": [1, 1, 1, 2], "ItemId": [1, 2, 3, 1], "Actual": [4, 2, 1, 6]}
    )
    mine = pl.DataFrame({"CustomerId": [1, 1, 2], "ItemId": [1, 2, 1], "Quantity": [5.0, 2.0, 3.0]})
    other = pl.DataFrame(
        {"CustomerId": [1, 1, 1], "ItemId": [1, 3, 9], "Quantity": [2.0, 1.0, 1.0]}
    )
    got = common_quantity_errors(mine, other, truth)
    # Only (1, 1) was matched by both: |5 - 4| = 1 vs |2 - 4| = 2; 2/9 vs 4/6.
    assert got == pytest.approx(
        {"lines": 1.0, "mae": 1.0, "smape": 2 / 9, "other_mae": 2.0, "other_smape": 2 / 3}
    )


def _usual_p(probabilities: list[float], basket_lines: float) -> pl.DataFrame:
    n = len(probabilities)
    return pl.DataFrame(
        {
            "CustomerId": [1] * n,
            "ItemId": list(range(201, 201 + n)),
            "Probability": probabilities,
            "BasketLines": [basket_lines] * n,
            "Bought": [1] * n,
            "N": [10] * n,
            "ItemIntervalDays": [14.0] * n,
            "DaysSince": [3] * n,
            "Quantity": [1.0] * n,
        }
    )


def test_usual_part_fills_the_expected_basket_whatever_the_probabilities() -> None:
    from scoring.orders.proposal import usual_lines

    # Orders of 3 items, every probability under the 0.4 floor: the 3 most probable anyway.
    got = usual_lines(_usual_p([0.05, 0.3, 0.01, 0.2, 0.1], 3.0), 1.0, OrderConfig())
    assert got["ItemId"].to_list() == [202, 204, 205]
    # A basket of 1 keeps further items at or above the floor (0.4), not below it.
    got = usual_lines(_usual_p([0.5, 0.45, 0.3], 1.0), 1.0, OrderConfig())
    assert got["ItemId"].to_list() == [201, 202]
    # The scale multiplies the basket: round(0.5 x 3) = 2 lines; at most max_lines.
    got = usual_lines(_usual_p([0.05, 0.3, 0.01, 0.2], 3.0), 0.5, OrderConfig())
    assert got["ItemId"].to_list() == [202, 204]
    got = usual_lines(_usual_p([0.05, 0.3, 0.01, 0.2], 3.0), 1.0, OrderConfig(max_lines=1))
    assert got["ItemId"].to_list() == [202]


def test_expected_basket_is_the_recency_weighted_mean_order_size() -> None:
    from scoring.orders.usual import expected_basket

    day = date(2026, 3, 2)
    rows = [(1, day, i) for i in (1, 2)] + [(1, day + timedelta(days=7), i) for i in (1, 2, 3, 4)]
    rows += [(2, day, 1), (2, day, 1)]  # one item twice on one day: one distinct item
    lines = pl.DataFrame(
        rows, schema=["CustomerId", "SaleDate", "ItemId"], orient="row"
    ).with_columns(Quantity=pl.lit(1.0))
    # Half-life 1 order: the last order (4 items) weighs 1, the one before (2 items) 0.5.
    got = expected_basket(
        baskets(lines), day + timedelta(days=8), OrderConfig(recency_half_life_orders=1.0)
    )
    assert got.rows() == [(1, pytest.approx((4 * 1 + 2 * 0.5) / 1.5), 2), (2, 1.0, 1)]


def test_orders_of_three_items_get_three_usual_lines_end_to_end() -> None:
    # Customer 1 buys 3 of 6 items in rotation each week: every item is in half its orders.
    rows = []
    for k in range(20):
        for j in range(3):
            rows.append((WEEKLY, 300 + (k + j) % 6, START + timedelta(days=7 * k), 2.0))
    lines = pl.DataFrame(
        rows, schema=["CustomerId", "ItemId", "SaleDate", "Quantity"], orient="row"
    ).with_columns(Amount=pl.col("Quantity"))
    inputs = _inputs(lines)
    # No usual line reaches the floor (1.0): only the expected basket (3 lines) is filled.
    config = CONFIG.with_overrides({"usual_min_probability": 1.0, "basket_scale": 1.0})
    proposal = propose_orders(inputs, LAST_WEEKLY, config)
    usual = proposal.lines.filter(pl.col("Kind") == "usual")
    assert usual.height == 3 and (usual["CustomerId"] == WEEKLY).all()
    assert proposal.customers.filter(pl.col("CustomerId") == WEEKLY)[
        "BasketLines"
    ].item() == pytest.approx(3.0)


def test_empty_proposal_carries_its_reason() -> None:
    from visitrank.pipeline.orders import order_documents

    # Customer 2 last ordered on START + 112 days; with a 4-week look-back as of START + 147
    # (window from START + 120) it has no order in the window: empty, with the reason.
    lines = _lines(0).filter(
        (pl.col("CustomerId") == WEEKLY) | (pl.col("SaleDate") <= START + timedelta(days=112))
    )
    as_of = START + timedelta(days=147)
    config = OrderConfig(lookback_weeks=4, calibration_weeks=2, season_weeks=0)
    proposal = propose_orders(_inputs(lines.filter(pl.col("SaleDate") <= as_of)), as_of, config)
    documents = {d["customerId"]: d for d in order_documents(proposal)}
    assert documents[MONTHLY]["lines"] == []
    assert documents[MONTHLY]["emptyReason"] == (
        "no order in the look-back window (4 weeks, from 2026-05-05): last order on 2026-04-27"
    )
    assert documents[WEEKLY]["lines"] and "emptyReason" not in documents[WEEKLY]


def test_tifu_vectors_and_prediction_by_hand() -> None:
    from visitrank.lab.order_backtest import TifuParams, tifu_knn, tifu_vectors

    a, b, c = 1, 2, 3
    day = date(2026, 1, 5)
    orders = {
        1: [[a], [a, b], [b], [a]],  # 4 orders -> 2 groups of 2
        2: [[c]],
        3: [[a]],
    }
    rows = [
        (customer, day + timedelta(days=k), item)
        for customer, baskets_ in orders.items()
        for k, basket in enumerate(baskets_)
        for item in basket
    ]
    past = pl.DataFrame(rows, schema=["CustomerId", "SaleDate", "ItemId"], orient="row")
    got = tifu_vectors(past, groups=2, within=0.5, across=0.5)
    # Group 1 = (0.5 {a} + {a, b}) / 2 = a 0.75, b 0.5; group 2 = (0.5 {b} + {a}) / 2 =
    # a 0.5, b 0.25; customer = (0.5 g1 + g2) / 2 = a 0.4375, b 0.25.
    assert got.rows() == [(1, a, 0.4375), (1, b, 0.25), (2, c, 1.0), (3, a, 1.0)]
    # One neighbour, alpha 0.5. Customer 1's nearest is 3 (distance 0.62 < 1.17):
    # 0.5 (a .4375, b .25) + 0.5 (a 1) = a .71875, b .125. Customer 3's nearest is 1: same.
    lengths = pl.DataFrame({"CustomerId": [1, 3], "Lines": [2, 2]})
    params = TifuParams(neighbours=1, within_decay=0.5, group_decay=0.5, alpha=0.5, groups=2)
    pred = tifu_knn(past, lengths, params)
    assert pred.select("CustomerId", "ItemId", "Rank").rows() == [
        (1, a, 1), (1, b, 2), (3, a, 1), (3, b, 2)
    ]  # fmt: skip
    assert pred["Score"].to_list() == pytest.approx([0.71875, 0.125, 0.71875, 0.125])


def test_top_k_cells_keep_k_per_row_ties_to_the_lower_columns() -> None:
    score = np.array(
        [
            [0.5, 0.9, 0.5, 0.5, 0.1],  # 0.9, then two of the three tied 0.5: columns 0 and 2
            [-np.inf, -np.inf, 2.0, -np.inf, -np.inf],  # 2.0, then the first two -inf
        ]
    )
    rows, columns = top_k_cells(score, 3)
    assert rows.tolist() == [0, 0, 0, 1, 1, 1]
    assert columns.tolist() == [0, 1, 2, 0, 1, 2]
