"""The outlet x SKU grid a region is scored on, whole or in batches of SKUs.

The grid is every active outlet (window revenue > 0) x every SKU the region sold in the window,
gaps included by design. It is dense: a 40,000-outlet region selling 300 SKUs has 12M rows,
and with the ~20 columns the expectation and the index add to them it needed ~5 GB, more than
a 2 GB serverless instance. So the scoring takes it in batches of whole subcategories
(`GridPlan.batches`, at most `GRID_BATCH_ROWS` rows each unless one subcategory is larger).

A batch's rows are the whole grid's rows, bit for bit: every statistic of the expectation and
the index is per SKU (the peer medians and carry rates, the learned share's lookup, the own
share's trend), per outlet x subcategory (the subcategory totals and caps) or per outlet; the
few that span every SKU, the outlet's recent total and the pooled totals per area x channel
(the recent season's denominators), are computed once here from the sparse window totals, and
the learned model is fitted once on the whole outlet x SKU matrix (`scoring.learned`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from scoring.exact import exact_sum
from scoring.indexation import SEASON_GROUP

GRID_BATCH_ROWS = 2_000_000
"""Rows of the grid scored at once (~0.5 GB at their widest); the results do not depend on it."""


@dataclass(frozen=True)
class GridPlan:
    """A region's grid, described once and built batch by batch.

    outlets: the grid's outlets in grid order (CustomerId, AreaId, Channel, Behaviour,
    VolumeTier, Total, _RecentTotal); items: its SKUs in grid order (ItemId, SubCategoryId);
    season_totals: per area x channel, the grid's Revenue and RecentRevenue (exact sums);
    batches: the positions in `items` of each batch's SKUs, ascending, whole subcategories."""

    outlets: pl.DataFrame
    items: pl.DataFrame
    season_totals: pl.DataFrame
    batches: tuple[np.ndarray, ...]

    @property
    def height(self) -> int:
        """Rows of the whole grid."""
        return self.outlets.height * self.items.height

    def positions(self, batch: np.ndarray) -> np.ndarray:
        """The row in the whole grid of each row of `batch`'s grid (both outlet-major)."""
        outlets = np.arange(self.outlets.height, dtype=np.int64)
        return (outlets[:, None] * self.items.height + batch[None, :].astype(np.int64)).ravel()


def _clipped(outlet_sku: pl.DataFrame) -> pl.DataFrame:
    """CustomerId, ItemId, Revenue, RecentRevenue as the grid holds them (nulls 0, at least 0)."""
    return outlet_sku.select(
        "CustomerId",
        "ItemId",
        pl.col("Revenue", "RecentRevenue").fill_null(0.0).clip(lower_bound=0.0),
    )


def grid_plan(
    segments: pl.DataFrame,
    outlet_sku: pl.DataFrame,
    items: pl.DataFrame,
    batch_rows: int | None = GRID_BATCH_ROWS,
) -> GridPlan:
    """The plan of a region's grid: `segments` (one row per outlet: CustomerId, AreaId,
    Channel, Behaviour, VolumeTier, Revenue), `outlet_sku` (the window totals: CustomerId,
    ItemId, Revenue, RecentRevenue), `items` (ItemId, SubCategoryId, ...). `batch_rows` None:
    one batch, the whole grid."""
    active = segments.filter(pl.col("Revenue") > 0).select(
        "CustomerId", "AreaId", "Channel", "Behaviour", "VolumeTier", Total="Revenue"
    )
    sold = outlet_sku.filter(pl.col("Revenue") > 0).select("ItemId").unique()
    in_range = items.join(sold, on="ItemId", how="semi").select("ItemId", "SubCategoryId")
    cells = (
        _clipped(outlet_sku)
        .join(in_range.select("ItemId"), on="ItemId", how="semi")
        .join(active.select("CustomerId", *SEASON_GROUP), on="CustomerId", how="inner")
    )
    recent = cells.group_by("CustomerId").agg(_RecentTotal=exact_sum("RecentRevenue"))
    outlets = active.join(recent, on="CustomerId", how="left", maintain_order="left").with_columns(
        pl.col("_RecentTotal").fill_null(0.0)
    )
    pooled = cells.group_by(SEASON_GROUP).agg(
        RecentRevenue=exact_sum("RecentRevenue"), Revenue=exact_sum("Revenue")
    )
    season_totals = (
        active.select(SEASON_GROUP)
        .unique(maintain_order=True)
        .join(pooled, on=SEASON_GROUP, how="left", nulls_equal=True, maintain_order="left")
        .with_columns(pl.col("RecentRevenue", "Revenue").fill_null(0.0))
    )
    return GridPlan(outlets, in_range, season_totals, _batches(in_range, active.height, batch_rows))


def _batches(items: pl.DataFrame, outlets: int, batch_rows: int | None) -> tuple[np.ndarray, ...]:
    """Positions of the items per batch: whole subcategories (in order of first appearance),
    added to a batch while it stays within `batch_rows` grid rows."""
    if items.is_empty():
        return ()
    if batch_rows is None:
        return (np.arange(items.height),)
    groups = (
        items.with_row_index("_position")
        .group_by("SubCategoryId", maintain_order=True)
        .agg(pl.col("_position"))
        .get_column("_position")
        .to_list()
    )
    per_batch = max(1, batch_rows // max(outlets, 1))
    batches: list[list[int]] = [[]]
    for group in groups:
        if batches[-1] and len(batches[-1]) + len(group) > per_batch:
            batches.append([])
        batches[-1].extend(group)
    return tuple(np.sort(np.asarray(batch, dtype=np.int64)) for batch in batches)


def grid_rows(
    plan: GridPlan, outlet_sku: pl.DataFrame, batch: np.ndarray | None = None
) -> pl.DataFrame:
    """The grid's rows of the SKUs of `batch` (positions in `plan.items`; None: every SKU),
    outlet-major: the outlet's keys and Total, ItemId, SubCategoryId, the window revenue
    (Revenue, RecentRevenue: 0 where it bought none), its share of the outlet's revenue (Share),
    the outlet's revenue in the SKU's subcategory (SubTotal), its recent revenue of every SKU of
    the grid (RecentTotal) and the SKU's share of its subcategory (SubShare, null when the
    outlet buys nothing of the subcategory)."""
    items = plan.items if batch is None else plan.items[batch]
    cross = plan.outlets.join(items, how="cross")
    # the sales are attached through the key columns only: a join copies every column
    sales = (
        cross.select("CustomerId", "ItemId")
        .join(
            outlet_sku.select("CustomerId", "ItemId", "Revenue", "RecentRevenue"),
            on=["CustomerId", "ItemId"],
            how="left",
            maintain_order="left",
        )
        .select("Revenue", "RecentRevenue")
    )
    return (
        cross.hstack(sales)
        .with_columns(pl.col("Revenue", "RecentRevenue").fill_null(0.0).clip(lower_bound=0.0))
        .with_columns(
            Share=pl.col("Revenue") / pl.col("Total"),
            SubTotal=exact_sum("Revenue").over("CustomerId", "SubCategoryId"),
            RecentTotal=pl.col("_RecentTotal"),
        )
        .drop("_RecentTotal")
        .with_columns(
            SubShare=pl.when(pl.col("SubTotal") > 0).then(pl.col("Revenue") / pl.col("SubTotal"))
        )
    )


def outlet_sku_grid(
    segments: pl.DataFrame, outlet_sku: pl.DataFrame, items: pl.DataFrame
) -> pl.DataFrame:
    """The whole grid at once (see `grid_rows`)."""
    return grid_rows(grid_plan(segments, outlet_sku, items, batch_rows=None), outlet_sku)


def grid_cells(plan: GridPlan, outlet_sku: pl.DataFrame) -> pl.DataFrame:
    """AreaId, CustomerId, Channel, ItemId, Share of the grid's cells the outlets bought (the
    sparse part of the grid: every other cell's Share is 0)."""
    return (
        _clipped(outlet_sku)
        .filter(pl.col("Revenue") > 0)
        .join(plan.items.select("ItemId"), on="ItemId", how="semi")
        .join(
            plan.outlets.select("CustomerId", "AreaId", "Channel", "Total"),
            on="CustomerId",
            how="inner",
        )
        .select(
            "AreaId", "CustomerId", "Channel", "ItemId", Share=pl.col("Revenue") / pl.col("Total")
        )
    )
