"""Recency weight: an outlet visited long ago (or never) is worth more of this week's time.

w(d) = floor + (1 - floor) x (1 - exp(-d / recency_days)) for an outlet last visited d days before
the week; never visited = 1. Visited two weeks ago counts less than three months ago.
"""

from __future__ import annotations

from datetime import date

import polars as pl

from scoring.config import ScoringConfig


def recency_weights(
    customers: pl.DataFrame, last_visits: pl.DataFrame, week_start: date, config: ScoringConfig
) -> pl.DataFrame:
    """CustomerId, DaysSinceLastVisit (null = never), RecencyWeight for every customer."""
    last = last_visits.filter(pl.col("LastVisitDate") < week_start)
    days = (pl.lit(week_start) - pl.col("LastVisitDate")).dt.total_days()
    weight = config.recency_floor + (1.0 - config.recency_floor) * (
        1.0 - (-pl.col("DaysSinceLastVisit") / config.recency_days).exp()
    )
    return (
        customers.select("CustomerId")
        .join(last, on="CustomerId", how="left")
        .with_columns(DaysSinceLastVisit=days.cast(pl.Int64))
        .with_columns(
            RecencyWeight=pl.when(pl.col("DaysSinceLastVisit").is_null())
            .then(1.0)
            .otherwise(weight)
        )
        .drop("LastVisitDate")
    )
