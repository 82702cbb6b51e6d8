"""Development opportunities: under-bought items from the scoring, with a chance to convert.

The scoring (`scoring.pipeline.score_region`, per region) gives the SKUs to push per outlet:
index under `opportunity_index_max` with a gap in money. A development line proposes a share
of the gap (`development_quantity_share` of the missing units over the expected interval, at
least one). Its probability is calibrated on history (`calibration.py`) from the index, the
gap and whether the outlet buys the item at all: how often gaps like it were closed by the
next order.
"""

from __future__ import annotations

from datetime import date, timedelta

import polars as pl

from scoring.config import ScoringConfig
from scoring.inputs import RegionInputs, ScoringWindow
from scoring.orders.config import OrderConfig
from scoring.pipeline import score_region

FEATURES = ("IndexScore", "LogGap", "BoughtBefore", "SkuRank")

PUSHED_SCHEMA: dict[str, pl.DataType] = {
    "CustomerId": pl.Int64(),
    "ItemId": pl.Int64(),
    "IndexScore": pl.Float64(),
    "Actual": pl.Float64(),
    "Expected": pl.Float64(),
    "GapValue": pl.Float64(),
    "SkuRank": pl.Int64(),
    "Peers": pl.Int64(),
    "Basis": pl.String(),
}
"""The scoring's SKUs-to-push columns this module reads (an empty frame when nothing is scored)."""


def scored_gaps(
    customers: pl.DataFrame,
    items: pl.DataFrame,
    lines: pl.DataFrame,
    last_visits: pl.DataFrame,
    as_of: date,
    scoring: ScoringConfig,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(gaps, segments) at `as_of` (lines after it are ignored): the scoring's SKUs to push of
    every region (CustomerId, ItemId, IndexScore, Actual, Expected, GapValue, SkuRank, Peers,
    Basis) and every scored outlet's Segment (CustomerId, Segment)."""
    window = ScoringWindow(
        week_start=as_of + timedelta(days=1),
        as_of=as_of,
        window_start=as_of - timedelta(days=7 * scoring.lookback_weeks - 1),
        history_start=as_of - timedelta(days=7 * scoring.history_weeks - 1),
    )
    cols = ["CustomerId", "ItemId", "IndexScore", "Actual", "Expected", "GapValue", "SkuRank"]
    cols += ["Peers", "Basis"]
    history = lines.filter(pl.col("SaleDate").is_between(window.history_start, as_of)).join(
        customers.select("CustomerId", "AreaId"), on="CustomerId"
    )
    frames, segments = [], []
    for area in sorted(customers["AreaId"].unique().to_list()):
        region = customers.filter(pl.col("AreaId") == area)
        region_lines = history.filter(pl.col("AreaId") == area)
        if region_lines.height == 0:
            continue
        inputs = RegionInputs(
            customers=region,
            items=items,
            lines=region_lines.select("CustomerId", "ItemId", "SaleDate", "Quantity", "Amount"),
            last_visits=last_visits.join(region.select("CustomerId"), on="CustomerId", how="semi"),
        )
        scores = score_region(inputs, window, scoring)
        frames.append(scores.skus.select(cols))
        segments.append(scores.outlets.select("CustomerId", "Segment"))
    segment_frame = (
        pl.concat(segments)
        if segments
        else pl.DataFrame(schema={"CustomerId": pl.Int64, "Segment": pl.String})
    )
    if not frames:
        return pl.DataFrame(schema=PUSHED_SCHEMA), segment_frame
    return pl.concat(frames, how="vertical_relaxed"), segment_frame


def development_candidates(
    gaps: pl.DataFrame, items: pl.DataFrame, rhythm: pl.DataFrame, config: OrderConfig
) -> pl.DataFrame:
    """CustomerId, ItemId, Quantity, the model FEATURES and a Reason per scored gap."""
    return (
        gaps.join(items.select("ItemId", "UnitPrice"), on="ItemId", how="left")
        .join(rhythm.select("CustomerId", "GapDays"), on="CustomerId", how="left")
        .with_columns(pl.col("GapDays").fill_null(14).cast(pl.Float64))
        .with_columns(
            Quantity=(
                (pl.col("Expected") - pl.col("Actual")).clip(lower_bound=0.0)
                / pl.col("UnitPrice").clip(lower_bound=0.01)
                * pl.col("GapDays")
                / 7.0
                * config.development_quantity_share
            )
            .round(0)
            .clip(lower_bound=1.0),
            LogGap=pl.col("GapValue").clip(lower_bound=0.0).log1p(),
            BoughtBefore=(pl.col("Actual") > 0).cast(pl.Float64),
            IndexScore=pl.col("IndexScore").cast(pl.Float64),
            SkuRank=pl.col("SkuRank").cast(pl.Float64),
            Reason=pl.format(
                "under-bought: index {} vs {}, gap {}/week",
                pl.col("IndexScore").round(0).cast(pl.Int64),
                pl.when(pl.col("Basis") == "own history")
                .then(pl.lit("its own past sales"))
                .otherwise(pl.format("{} peers", pl.col("Peers"))),
                pl.col("GapValue").round(0).cast(pl.Int64),
            ),
        )
        .select("CustomerId", "ItemId", "Quantity", *FEATURES, "Reason")
    )
