"""The proposed order (issue 7): interval logic, quantities, novelty budget, feedback."""

from __future__ import annotations

from datetime import date, timedelta

import polars as pl
import pytest

from scoring.orders import OrderConfig, OrderInputs, propose_orders
from scoring.orders.feedback import adjust, adjustment_factors, outcomes
from scoring.orders.novelty import must_sell_lines, within_budget
from scoring.orders.rhythm import baskets, customer_rhythm
from visitrank.orders_documents import attach_proposed_orders

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
