"""Indexation: actual vs expected sales of every outlet x SKU, and the money gap.

Index = 100 x actual / expected. Under 100 the outlet sells less than comparable outlets
(untapped potential), over 100 more (saturated). The expected revenue of SKU s is predicted from
the outlet's *other* purchases — rest x b / (1 - b) with b the benchmark share — so a gap on s
does not shrink its own expectation. The gap in money is discounted for noise: a shortfall of
less than `noise_z` standard deviations of a Poisson count of the expected units is no gap.
"""

from __future__ import annotations

import polars as pl

from scoring.config import ScoringConfig


def index_scores(
    benchmarked: pl.DataFrame, items: pl.DataFrame, weeks: float, config: ScoringConfig
) -> pl.DataFrame:
    """CustomerId, ItemId, Actual, Expected (weekly revenue), IndexScore, GapValue (weekly,
    noise-discounted), Peers, PeerLevel, BenchmarkShare.

    IndexScore is null where nothing is expected (no peer sells the SKU)."""
    b = pl.col("BenchmarkShare")
    rest = pl.col("Total") - pl.col("Revenue")
    expected = rest * b / (1.0 - b)
    price = pl.col("UnitPrice")
    expected_units = pl.col("_expected") / price
    actual_units = pl.col("Revenue") / price
    shortfall = (expected_units - actual_units - config.noise_z * expected_units.sqrt()).clip(
        lower_bound=0.0
    )
    return (
        benchmarked.join(items.select("ItemId", "UnitPrice"), on="ItemId", how="left")
        .with_columns(_expected=expected)
        .select(
            "CustomerId",
            "ItemId",
            Actual=pl.col("Revenue") / weeks,
            Expected=pl.col("_expected") / weeks,
            IndexScore=pl.when(pl.col("_expected") > 0).then(
                100.0 * pl.col("Revenue") / pl.col("_expected")
            ),
            GapValue=pl.when(price > 0).then(shortfall * price / weeks).otherwise(0.0),
            Peers="Peers",
            PeerLevel="PeerLevel",
            BenchmarkShare="BenchmarkShare",
        )
    )
