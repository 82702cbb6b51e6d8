"""The push floor follows the region's assortment; the cadence sentence follows the visit log."""

from __future__ import annotations

from datetime import date

import polars as pl
import pytest

from scoring.assortment_scale import scaled_config, skus_per_outlet
from scoring.config import ScoringConfig
from scoring.visit_cadence import cadence_words, typical_visit_interval


def totals(bought: dict[int, int]) -> pl.DataFrame:
    """Outlet -> number of SKUs with revenue; plus one zero-revenue pair per outlet."""
    rows = []
    for outlet, n in bought.items():
        rows += [{"CustomerId": outlet, "ItemId": i, "Revenue": 5.0} for i in range(n)]
        rows.append({"CustomerId": outlet, "ItemId": 999, "Revenue": 0.0})
    return pl.DataFrame(
        rows, schema={"CustomerId": pl.Int64, "ItemId": pl.Int64, "Revenue": pl.Float64}
    )


def test_median_skus_bought_ignores_zero_revenue_pairs() -> None:
    # outlets buy 10, 20 and 40 SKUs: the median is 20 (the zero-revenue pair never counts)
    assert skus_per_outlet(totals({1: 10, 2: 20, 3: 40})) == 20.0
    assert skus_per_outlet(totals({})) == 0.0


def test_floor_is_a_share_of_the_average_sku() -> None:
    config = ScoringConfig(min_sku_average_share=0.25)
    scaled, scale = scaled_config(config, totals({1: 20, 2: 30, 3: 25}))
    # 0.25 of an average SKU at 25 SKUs an outlet = 1% of the outlet's revenue
    assert scaled.min_sku_outlet_share == pytest.approx(0.01)
    assert scale.derived and scale.skus_per_outlet == 25.0
    # 250 SKUs an outlet: a tenth of that
    scaled, _ = scaled_config(config, totals({1: 250}))
    assert scaled.min_sku_outlet_share == pytest.approx(0.001)


def test_fixed_share_when_not_derived_or_no_sales() -> None:
    fixed = ScoringConfig(min_sku_average_share=None, min_sku_outlet_share=0.03)
    scaled, scale = scaled_config(fixed, totals({1: 250}))
    assert scaled.min_sku_outlet_share == 0.03 and not scale.derived
    default = ScoringConfig()
    scaled, scale = scaled_config(default, totals({}))
    assert scaled.min_sku_outlet_share == default.min_sku_outlet_share and not scale.derived
    # a single-SKU outlet cannot ask for more than its whole revenue
    scaled, _ = scaled_config(ScoringConfig(min_sku_average_share=3.0), totals({1: 1}))
    assert scaled.min_sku_outlet_share == 1.0


def visits(days: dict[int, list[date]]) -> pl.DataFrame:
    return pl.DataFrame(
        [{"CustomerId": c, "VisitDate": d} for c, ds in days.items() for d in ds],
        schema={"CustomerId": pl.Int64, "VisitDate": pl.Date},
    )


def test_typical_visit_interval_is_the_median_outlet_mean() -> None:
    log = visits(
        {
            1: [date(2024, 1, 1), date(2024, 1, 15), date(2024, 1, 29)],  # every 14 days
            2: [date(2024, 1, 1), date(2024, 1, 22)],  # 21 days
            3: [date(2024, 1, 1), date(2024, 3, 1)],  # 60 days
            4: [date(2024, 1, 1)],  # once: no interval
        }
    )
    assert typical_visit_interval(log) == 21.0
    assert typical_visit_interval(visits({4: [date(2024, 1, 1)]})) is None


def test_cadence_words_say_why_the_comparison_has_no_data() -> None:
    log = visits({1: [date(2024, 1, 1), date(2024, 1, 15), date(2024, 1, 29)]})
    assert "about every 14 days" in cadence_words(log, 28)
    assert "few go the 28 days without a visit" in cadence_words(log, 28)
    assert "few go" not in cadence_words(log, 7)
    assert "no outlet was visited twice" in cadence_words(visits({1: [date(2024, 1, 1)]}), 28)
