"""Visit priority: the money a visit can unlock this week, and the SKUs to push there.

An opportunity is an outlet x SKU at or under `opportunity_index_max` with a noise-discounted gap.
A visit pushes at most `skus_per_visit` of them, the largest gaps first, and only those worth at
least `min_sku_gap_share` of the visit's largest gap (a rep pitches a few things well rather than
a long list). The visit's value is the sum of the pushed gaps; its priority is that value times
the recency weight. A saturated pair (over-indexed) has no gap, so it never adds value.
"""

from __future__ import annotations

import polars as pl

from scoring.config import ScoringConfig
from scoring.exact import exact_sum


def skus_to_push(scores: pl.DataFrame, config: ScoringConfig) -> pl.DataFrame:
    """The opportunities to push per outlet, with SkuRank 1..n (largest gap first)."""
    opportunities = scores.filter(
        (pl.col("IndexScore") <= config.opportunity_index_max)
        & (pl.col("GapValue") >= config.min_sku_gap_value)
        & (pl.col("GapValue") >= config.min_sku_outlet_share * pl.col("OutletRevenue"))
    )
    ranked = opportunities.sort(
        ["CustomerId", "GapValue", "ItemId"], descending=[False, True, False]
    ).with_columns(
        SkuRank=pl.int_range(1, pl.len() + 1).over("CustomerId"),
        TopGap=pl.col("GapValue").max().over("CustomerId"),
    )
    return ranked.filter(
        (pl.col("SkuRank") <= config.skus_per_visit)
        & (pl.col("GapValue") >= config.min_sku_gap_share * pl.col("TopGap"))
    ).drop("TopGap")


def outlet_priorities(
    scores: pl.DataFrame, pushed: pl.DataFrame, recency: pl.DataFrame, config: ScoringConfig
) -> pl.DataFrame:
    """CustomerId, Opportunities, Saturated, OpportunityValue, PushedSkus, DaysSinceLastVisit,
    RecencyWeight, Priority — one row per customer in `recency` (0 where nothing to push)."""
    counts = scores.group_by("CustomerId").agg(
        Opportunities=(
            (pl.col("IndexScore") <= config.opportunity_index_max) & (pl.col("GapValue") > 0)
        ).sum(),
        Saturated=(pl.col("IndexScore") >= config.saturated_index_min).sum(),
    )
    value = pushed.group_by("CustomerId").agg(
        OpportunityValue=exact_sum("GapValue"), PushedSkus=pl.len()
    )
    return (
        recency.join(counts, on="CustomerId", how="left")
        .join(value, on="CustomerId", how="left")
        .with_columns(
            pl.col("Opportunities", "Saturated", "PushedSkus").fill_null(0).cast(pl.Int64),
            pl.col("OpportunityValue").fill_null(0.0),
        )
        .with_columns(Priority=pl.col("OpportunityValue") * pl.col("RecencyWeight"))
    )
