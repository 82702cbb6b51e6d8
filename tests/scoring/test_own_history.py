from datetime import date

import polars as pl
import pytest

from scoring.inputs import ScoringWindow
from scoring.own_history import own_expectation, prior_shares

WINDOW = ScoringWindow(
    week_start=date(2024, 7, 1),
    as_of=date(2024, 6, 30),
    window_start=date(2024, 4, 1),
    history_start=date(2023, 7, 3),
)


def test_prior_shares_only_read_history_before_window() -> None:
    lines = pl.DataFrame(
        {
            "CustomerId": [1, 1, 1, 1],
            "ItemId": [10, 11, 10, 10],
            "SaleDate": [date(2023, 8, 1), date(2024, 1, 1), date(2024, 4, 1), date(2023, 7, 2)],
            "Amount": [30.0, 10.0, 99.0, 77.0],
        }
    )
    out = prior_shares(lines, WINDOW).sort("ItemId")
    # 2024-04-01 is in the window and 2023-07-02 before the history: both ignored
    assert out.select("ItemId", "PriorRevenue", "PriorTotal").rows() == [
        (10, 30.0, 40.0),
        (11, 10.0, 40.0),
    ]


def test_own_expectation_by_hand() -> None:
    # recent: outlet 1 stopped buying X (item 1); outlet 2 still buys it
    grid = pl.DataFrame(
        {
            "CustomerId": [1, 1, 2, 2],
            "ItemId": [1, 2, 1, 2],
            "AreaId": [1] * 4,
            "Channel": ["ON_TRADE"] * 4,
            "Revenue": [0.0, 100.0, 50.0, 50.0],
            "Total": [100.0, 100.0, 100.0, 100.0],
        }
    )
    prior = pl.DataFrame(
        {
            "CustomerId": [1, 1, 2, 2],
            "ItemId": [1, 2, 1, 2],
            "PriorRevenue": [50.0, 50.0, 50.0, 50.0],
            "PriorTotal": [100.0] * 4,
        }
    )
    out = own_expectation(grid, prior).sort("CustomerId", "ItemId")
    own = out["OwnShare"].to_list()
    # X pooled share: recent 50/200 = .25, prior 100/200 = .5 -> trend .5
    # outlet 1 and 2: own prior share .5 x trend .5 = .25
    assert own[0] == pytest.approx(0.25)
    assert own[2] == pytest.approx(0.25)
    # Y pooled: recent 150/200 = .75, prior .5 -> trend 1.5; own .5 x 1.5 = .75
    assert own[1] == pytest.approx(0.75)


def test_no_prior_sales_means_no_own_expectation() -> None:
    grid = pl.DataFrame(
        {
            "CustomerId": [1],
            "ItemId": [1],
            "AreaId": [1],
            "Channel": ["ON_TRADE"],
            "Revenue": [0.0],
            "Total": [10.0],
        }
    )
    prior = pl.DataFrame(
        schema={
            "CustomerId": pl.Int64,
            "ItemId": pl.Int64,
            "PriorRevenue": pl.Float64,
            "PriorTotal": pl.Float64,
        }
    )
    assert own_expectation(grid, prior)["OwnShare"].to_list() == [None]
