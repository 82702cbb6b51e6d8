"""Visit priority: the money a visit can unlock this week, and the SKUs to push there.

An opportunity is an outlet x SKU at or under `opportunity_index_max` with a noise-discounted gap.
Each has an expected gain: the gap times its probability to be real where the region's history
shows which gaps persist (scoring/gap_persistence.py), else the gap itself. A visit pushes at
most `skus_per_visit` of them, the largest expected gains first, and only those worth at least
`min_sku_gap_share` of the visit's largest (a rep pitches a few things well rather than a long
list). The visit's priority is the sum of the pushed expected gains times the recency weight. A
saturated pair (over-indexed) has no gap, so it never adds value.
"""

from __future__ import annotations

import polars as pl

from scoring.config import ScoringConfig
from scoring.exact import exact_sum


def opportunities(scores: pl.DataFrame, config: ScoringConfig) -> pl.DataFrame:
    """The pairs worth a pitch: index at or under `opportunity_index_max` and a gap of at least
    `min_sku_gap_value` and `min_sku_outlet_share` of the outlet's weekly revenue."""
    return scores.filter(
        (pl.col("IndexScore") <= config.opportunity_index_max)
        & (pl.col("GapValue") >= config.min_sku_gap_value)
        & (pl.col("GapValue") >= config.min_sku_outlet_share * pl.col("OutletRevenue"))
    )


def skus_to_push(
    scores: pl.DataFrame, config: ScoringConfig, probabilities: pl.DataFrame | None = None
) -> pl.DataFrame:
    """The opportunities to push per outlet, with PersistProbability (null without a
    persistence signal), ExpectedGain and SkuRank 1..n (largest expected gain first).

    `probabilities`: CustomerId, ItemId, PersistProbability (`Persistence.probabilities`)."""
    found = opportunities(scores, config)
    if probabilities is None:
        found = found.with_columns(PersistProbability=pl.lit(None, dtype=pl.Float64))
    else:
        found = found.join(probabilities, on=["CustomerId", "ItemId"], how="left")
    ranked = (
        found.with_columns(
            ExpectedGain=pl.col("GapValue") * pl.col("PersistProbability").fill_null(1.0)
        )
        .sort(["CustomerId", "ExpectedGain", "ItemId"], descending=[False, True, False])
        .with_columns(
            SkuRank=pl.int_range(1, pl.len() + 1).over("CustomerId"),
            TopGain=pl.col("ExpectedGain").max().over("CustomerId"),
        )
    )
    return ranked.filter(
        (pl.col("SkuRank") <= config.skus_per_visit)
        & (pl.col("ExpectedGain") >= config.min_sku_gap_share * pl.col("TopGain"))
    ).drop("TopGain")


def opportunity_counts(scores: pl.DataFrame, config: ScoringConfig) -> pl.DataFrame:
    """CustomerId, Opportunities (pairs under `opportunity_index_max` with a gap), Saturated
    (pairs at or over `saturated_index_min`) of the outlets in `scores`. Counts of several
    batches of SKUs add up (`summed_counts`)."""
    return scores.group_by("CustomerId").agg(
        Opportunities=(
            (pl.col("IndexScore") <= config.opportunity_index_max) & (pl.col("GapValue") > 0)
        )
        .sum()
        .cast(pl.Int64),
        Saturated=(pl.col("IndexScore") >= config.saturated_index_min).sum().cast(pl.Int64),
    )


def summed_counts(counts: list[pl.DataFrame]) -> pl.DataFrame:
    """The `opportunity_counts` of batches of SKUs, added up per outlet."""
    return pl.concat(counts).group_by("CustomerId").agg(pl.col("Opportunities", "Saturated").sum())


def outlet_priorities(
    counts: pl.DataFrame, pushed: pl.DataFrame, recency: pl.DataFrame
) -> pl.DataFrame:
    """CustomerId, Opportunities, Saturated (`counts`: `opportunity_counts`), OpportunityValue
    (the pushed gaps), ExpectedGain (the pushed expected gains: the gaps themselves without a
    persistence signal), PushedSkus, DaysSinceLastVisit, RecencyWeight, Priority — one row per
    customer in `recency` (0 where nothing to push)."""
    value = pushed.group_by("CustomerId").agg(
        OpportunityValue=exact_sum("GapValue"),
        ExpectedGain=exact_sum("ExpectedGain"),
        PushedSkus=pl.len(),
    )
    return (
        recency.join(counts, on="CustomerId", how="left")
        .join(value, on="CustomerId", how="left")
        .with_columns(
            pl.col("Opportunities", "Saturated", "PushedSkus").fill_null(0).cast(pl.Int64),
            pl.col("OpportunityValue", "ExpectedGain").fill_null(0.0),
        )
        .with_columns(Priority=pl.col("ExpectedGain") * pl.col("RecencyWeight"))
    )
