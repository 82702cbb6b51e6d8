from datetime import date

import polars as pl

from scoring.config import ScoringConfig
from scoring.sku_clusters import cluster_skus, quarter_days, seasonality


def test_price_tiers_within_category() -> None:
    items = pl.DataFrame(
        {
            "ItemId": [1, 2, 3, 4, 5, 6],
            "CategoryId": [1, 1, 1, 2, 2, 2],
            "UnitPrice": [9.0, 1.0, 5.0, 100.0, 300.0, 200.0],
        }
    )
    lines = pl.DataFrame(schema={"ItemId": pl.Int64, "SaleDate": pl.Date, "Quantity": pl.Float64})
    out = cluster_skus(items, lines, date(2024, 1, 1), date(2024, 12, 31), ScoringConfig())
    tiers = dict(zip(out["ItemId"], out["PriceTier"], strict=True))
    assert tiers == {
        2: "value",
        3: "mainstream",
        1: "premium",
        4: "value",
        6: "mainstream",
        5: "premium",
    }
    assert out.filter(pl.col("ItemId") == 1)["SkuCluster"][0] == "c1|premium|flat"


def test_quarter_days_of_a_leap_year() -> None:
    days = dict(quarter_days(date(2024, 1, 1), date(2024, 12, 31)).iter_rows())
    assert days == {1: 91, 2: 91, 3: 92, 4: 92}


def test_seasonal_peak_is_per_covered_day() -> None:
    # Item 1 sells 40 units in Q4 and 20 in each other quarter: Q4 share of daily rate
    # = (40/92) / (20/91 + 20/91 + 20/92 + 40/92) = 0.3986 >= 0.34 -> Q4.
    # Item 2 sells 25 everywhere: 0.25-ish shares -> flat.
    q_days = [date(2024, 2, 1), date(2024, 5, 1), date(2024, 8, 1), date(2024, 11, 1)]
    lines = pl.DataFrame(
        {
            "ItemId": [1, 1, 1, 1, 2, 2, 2, 2, 2],
            "SaleDate": [*q_days, *q_days, date(2024, 1, 1)],  # data cover the whole year
            "Quantity": [20.0, 20.0, 20.0, 40.0, 25.0, 25.0, 25.0, 25.0, 0.0],
        }
    )
    out = seasonality(lines, date(2024, 1, 1), date(2024, 12, 31), ScoringConfig())
    assert dict(out.sort("ItemId").iter_rows()) == {1: "Q4", 2: "flat"}


def test_short_history_is_flat() -> None:
    lines = pl.DataFrame({"ItemId": [1], "SaleDate": [date(2024, 12, 1)], "Quantity": [100.0]})
    out = seasonality(lines, date(2024, 7, 1), date(2024, 12, 31), ScoringConfig())
    assert out["Season"].to_list() == ["flat"]


def test_coverage_starts_at_the_first_sale() -> None:
    # history window asks for 2 years but the data start on 2024-01-01: one year of coverage,
    # so quarters are weighted by 91/91/92/92 days, not by two years' days
    q_days = [date(2024, 2, 1), date(2024, 5, 1), date(2024, 8, 1), date(2024, 11, 1)]
    lines = pl.DataFrame(
        {
            "ItemId": [1] * 5,
            "SaleDate": [date(2024, 1, 1), *q_days],
            "Quantity": [0.0, 20.0, 20.0, 20.0, 40.0],
        }
    )
    out = seasonality(lines, date(2023, 1, 1), date(2024, 12, 31), ScoringConfig())
    assert out["Season"].to_list() == ["Q4"]
    short = seasonality(
        lines.filter(pl.col("SaleDate") >= date(2024, 6, 1)),
        date(2023, 1, 1),
        date(2024, 12, 31),
        ScoringConfig(),
    )
    assert short["Season"].to_list() == ["flat"]  # half a year of data only
