"""Development opportunities: under-bought items from the scoring, with a chance to convert.

The scoring (`scoring.pipeline.score_region`, per region) gives the SKUs to push per outlet:
index under `opportunity_index_max` with a gap in money. A development line proposes a share
of the gap (`development_quantity_share` of the missing units over the expected interval, at
least one). Its probability is calibrated on history (`calibration.py`) from the index, the
gap and whether the outlet buys the item at all: how often gaps like it were closed by the
next order.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
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
SEGMENT_SCHEMA: dict[str, pl.DataType] = {"CustomerId": pl.Int64(), "Segment": pl.String()}


@dataclass(frozen=True)
class WeekScores:
    """The week's own scoring of a region, handed to the proposal instead of scoring again.

    gaps: the SKUs to push (`PUSHED_SCHEMA` columns, more are ignored); segments: CustomerId,
    Segment of every scored outlet. The weekly run scores every region for the visit lists
    before it proposes the orders: with these, a development line is one of the SKUs the
    visit pushes, and the region is scored once for both."""

    gaps: pl.DataFrame
    segments: pl.DataFrame
    as_of: date | None = None
    """The date they were scored as of (needed for kept scores a later run calibrates on)."""

    @classmethod
    def from_scores(
        cls, skus: pl.DataFrame, outlets: pl.DataFrame, as_of: date | None = None
    ) -> WeekScores:
        """From the scoring's staged frames (`RegionScores.skus` and `.outlets`, one region or
        several)."""
        gaps = skus.filter(pl.col("ItemId") > 0).select(list(PUSHED_SCHEMA))
        return cls(
            gaps=gaps.cast(PUSHED_SCHEMA),  # type: ignore[arg-type]
            segments=outlets.select(list(SEGMENT_SCHEMA)).cast(SEGMENT_SCHEMA),  # type: ignore[arg-type]
            as_of=as_of,
        )

    def of_customers(self, customers: pl.Series) -> WeekScores:
        """The scores of `customers` only (one region's part of a run's scores)."""
        keep = pl.col("CustomerId").is_in(customers.implode())
        return WeekScores(self.gaps.filter(keep), self.segments.filter(keep), self.as_of)


CALIBRATION_SLACK_DAYS = 3
"""How far the as-of date of kept week scores may be from the calibration date
(`calibration_weeks` before the as-of date) to be calibrated on: the weekly runs' as-of dates
are each week's last sales day, which moves when a day has no sales."""


def calibration_date(as_of: date, weeks: int, kept: Iterable[date]) -> date | None:
    """The date among `kept` (as-of dates of kept week scores) to calibrate on: the closest to
    `weeks` weeks before `as_of`, within `CALIBRATION_SLACK_DAYS` days (a tie: the earlier);
    None when no kept date is that close."""
    target = as_of - timedelta(days=7 * weeks)
    near = [d for d in kept if abs((d - target).days) <= CALIBRATION_SLACK_DAYS and d < as_of]
    return min(near, key=lambda d: (abs((d - target).days), d)) if near else None


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
    history, items = fold_rare_items(history, items, scoring.min_peers)
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
        frames.append(scores.skus.filter(pl.col("ItemId") > 0).select(cols))
        segments.append(scores.outlets.select("CustomerId", "Segment"))
    segment_frame = pl.concat(segments) if segments else pl.DataFrame(schema=SEGMENT_SCHEMA)
    if not frames:
        return pl.DataFrame(schema=PUSHED_SCHEMA), segment_frame
    return pl.concat(frames, how="vertical_relaxed"), segment_frame


def fold_rare_items(
    history: pl.DataFrame, items: pl.DataFrame, min_buyers: int
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(history, items) where the lines of an item fewer than `min_buyers` customers of its
    area bought are re-labelled as one pseudo-item per subcategory (ItemId = -SubCategoryId,
    never pushed) and `items` gains those pseudo-items.

    Such an item has no peer group to benchmark an outlet against (the scoring's `min_peers`),
    but its sales stay in the outlet's and subcategory's totals, so the other items' shares do
    not move. Without it the scoring's outlet x SKU grid spans a whole grocery catalogue (60k+
    items) and takes minutes per area. `history`: CustomerId, AreaId, ItemId, SaleDate,
    Quantity, Amount."""
    buyers = history.group_by("AreaId", "ItemId").agg(Buyers=pl.col("CustomerId").n_unique())
    rare = buyers.filter(pl.col("Buyers") < min_buyers).select("AreaId", "ItemId")
    if rare.height == 0:
        return history, items
    sub = items.select("ItemId", "SubCategoryId")
    folded = (
        history.join(rare.with_columns(Rare=pl.lit(True)), on=["AreaId", "ItemId"], how="left")
        .join(sub, on="ItemId", how="left")
        .with_columns(
            ItemId=pl.when(pl.col("Rare"))
            .then(-pl.col("SubCategoryId").fill_null(0))
            .otherwise(pl.col("ItemId"))
        )
        .drop("Rare", "SubCategoryId")
    )
    pseudo_ids = folded.filter(pl.col("ItemId") <= 0).select("ItemId").unique()
    prices = (
        folded.filter(pl.col("ItemId") <= 0)
        .group_by("ItemId")
        .agg(UnitPrice=pl.col("Amount").sum() / pl.col("Quantity").sum().clip(lower_bound=1e-9))
    )
    subcats = items.select("SubCategoryId", "CategoryId", "BrandId").unique("SubCategoryId")
    pseudo = (
        pseudo_ids.join(prices, on="ItemId", how="left")
        .with_columns(SubCategoryId=-pl.col("ItemId"))
        .join(subcats, on="SubCategoryId", how="left")
        .with_columns(ItemName=pl.format("other items of subcategory {}", pl.col("SubCategoryId")))
    )
    pseudo = pseudo.select([c for c in items.columns if c in pseudo.columns])
    out_items = pl.concat([items, pseudo], how="diagonal_relaxed")
    return folded, out_items


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
