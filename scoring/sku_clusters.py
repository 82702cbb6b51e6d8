"""SKU clusters: category x price tier x seasonality profile.

SKUs of one cluster play the same role on a shelf or a menu (a premium winter spirit, a value
summer beer). Clusters describe what an outlet buys (the features of its behaviour segment) and
explain recommendations. Price tiers are price quantiles within the category; the seasonality
profile is the quarter that holds an unusually large share of the SKU's daily sales, or "flat".
"""

from __future__ import annotations

from datetime import date, timedelta

import polars as pl

from scoring.config import ScoringConfig
from scoring.exact import exact_sum

TIER_NAMES = {1: ["all"], 2: ["value", "premium"], 3: ["value", "mainstream", "premium"]}


def price_tier_names(tiers: int) -> list[str]:
    """Readable names of the price tiers, cheapest first."""
    return TIER_NAMES.get(tiers, [f"tier{i + 1}" for i in range(tiers)])


def quarter_days(start: date, end: date) -> pl.DataFrame:
    """How many days of each calendar quarter the window [start, end] covers."""
    days = pl.date_range(start, end, interval="1d", eager=True)
    return (
        pl.DataFrame({"day": days})
        .group_by(pl.col("day").dt.quarter().alias("Quarter"))
        .agg(Days=pl.len())
    )


def seasonality(lines: pl.DataFrame, start: date, end: date, config: ScoringConfig) -> pl.DataFrame:
    """ItemId, Season ("Q1".."Q4" or "flat") from units per covered day of each quarter.

    The covered days count from the first sales day on or after `start` (data often begin later
    than the history window). Needs a full year of history: with less, every SKU is "flat" (a
    quarter seen once or never cannot be told apart from a trend).
    """
    first = lines.filter(pl.col("SaleDate").is_between(start, end))["SaleDate"].min()
    if isinstance(first, date):
        start = max(start, first)
    if (end - start) < timedelta(days=364):
        return lines.select("ItemId").unique().with_columns(Season=pl.lit("flat"))
    covered = quarter_days(start, end)
    per_quarter = (
        lines.filter(pl.col("SaleDate").is_between(start, end))
        .group_by("ItemId", pl.col("SaleDate").dt.quarter().alias("Quarter"))
        .agg(Units=exact_sum("Quantity"))
        .join(covered, on="Quarter")
        .with_columns(Rate=(pl.col("Units") / pl.col("Days")).clip(lower_bound=0))
        .with_columns(Share=pl.col("Rate") / pl.col("Rate").sum().over("ItemId"))
    )
    peak = per_quarter.sort("Share", "Quarter", descending=[True, False]).group_by("ItemId").first()
    return peak.select(
        "ItemId",
        Season=pl.when(pl.col("Share") >= config.seasonal_peak_share)
        .then(pl.format("Q{}", pl.col("Quarter")))
        .otherwise(pl.lit("flat")),
    )


def cluster_skus(
    items: pl.DataFrame, lines: pl.DataFrame, start: date, end: date, config: ScoringConfig
) -> pl.DataFrame:
    """ItemId, PriceTier, Season, SkuCluster for every item."""
    names = dict(enumerate(price_tier_names(config.price_tiers)))
    rank = pl.col("UnitPrice").rank("ordinal").over("CategoryId") - 1
    size = pl.len().over("CategoryId")
    tier_index = (rank * config.price_tiers // size).cast(pl.Int64)
    tiers = items.select(
        "ItemId", "CategoryId", PriceTier=tier_index.replace_strict(names, return_dtype=pl.String)
    )
    season = seasonality(lines, start, end, config)
    return (
        tiers.join(season, on="ItemId", how="left")
        .with_columns(pl.col("Season").fill_null("flat"))
        .with_columns(
            SkuCluster=pl.format("c{}|{}|{}", "CategoryId", "PriceTier", "Season"),
        )
        .drop("CategoryId")
    )
