"""The outlet's own history: what it used to give a SKU before the look-back window.

An outlet that used to sell a SKU well and has stopped has a proven potential that no peer
benchmark can see (its peers may simply not like the SKU as much). Its own share of purchases in
the history before the window, corrected by the trend of that SKU among its peers between the two
periods (seasonality, launches, de-listings), predicts what it should sell now.
"""

from __future__ import annotations

import polars as pl

from scoring.exact import exact_sum
from scoring.inputs import ScoringWindow

MIN_TREND, MAX_TREND = 0.2, 5.0
MAX_OWN_SHARE = 0.95
"""An own share is capped here: share / (1 - share) stays finite."""


def prior_shares(lines: pl.DataFrame, window: ScoringWindow) -> pl.DataFrame:
    """CustomerId, ItemId, PriorRevenue, PriorTotal over the history before the window."""
    prior = (
        lines.lazy()
        .filter(pl.col("SaleDate").is_between(window.history_start, window.window_start, "left"))
        .group_by("CustomerId", "ItemId")
        .agg(PriorRevenue=exact_sum("Amount"))
        .filter(pl.col("PriorRevenue") > 0)
        .with_columns(PriorTotal=exact_sum("PriorRevenue").over("CustomerId"))
    )
    return prior.collect()


def trended_own_share(
    with_prior: pl.DataFrame, key: str, revenue: str, prior_revenue: str, name: str
) -> pl.Series:
    """`name`: each row's prior share (`prior_revenue` / PriorTotal) times the trend of `key`
    (an item or a subcategory) between the two periods: its pooled share of the purchases
    (`revenue` / Total) among the outlets present in both, per region x channel, over its
    pooled prior share; clipped to [0, MAX_OWN_SHARE], null without prior sales. The pooled
    sums are aggregated once per group and joined back (cheaper than four window sums)."""
    both = pl.col("PriorTotal").is_not_null()
    group = ["AreaId", "Channel", key]
    pooled = (
        with_prior.filter(both)
        .group_by(group)
        .agg(
            _rr=exact_sum(revenue),
            _rt=exact_sum("Total"),
            _pr=exact_sum(prior_revenue),
            _pt=exact_sum("PriorTotal"),
        )
    )
    recent_share = pl.col("_rr") / pl.col("_rt")
    prior_share = pl.col("_pr") / pl.col("_pt")
    trend = pl.when(prior_share > 0).then(recent_share / prior_share).otherwise(1.0)
    share = (pl.col(prior_revenue) / pl.col("PriorTotal") * trend.clip(MIN_TREND, MAX_TREND)).clip(
        0.0, MAX_OWN_SHARE
    )
    return (
        with_prior.join(pooled, on=group, how="left", nulls_equal=True, maintain_order="left")
        .select(pl.when(both).then(share).alias(name))
        .get_column(name)
    )


def own_expectation(grid: pl.DataFrame, prior: pl.DataFrame) -> pl.DataFrame:
    """The grid with OwnShare: the share of its purchases the outlet would give the SKU now at
    its own prior share times the SKU's peer trend (region x channel); null without prior
    sales at all, 0 for a SKU it did not buy before."""
    # attached through the key columns only: joining the whole (wide) grid copies every column
    keys = grid.select("CustomerId", "ItemId", "AreaId", "Channel", "Revenue", "Total")
    with_prior = (
        keys.join(
            prior.select("CustomerId", "ItemId", "PriorRevenue"),
            on=["CustomerId", "ItemId"],
            how="left",
            maintain_order="left",
        )
        .join(
            prior.select("CustomerId", "PriorTotal").unique(),
            on="CustomerId",
            how="left",
            maintain_order="left",
        )
        .with_columns(pl.col("PriorRevenue").fill_null(0.0))
    )
    own = trended_own_share(with_prior, "ItemId", "Revenue", "PriorRevenue", "OwnShare")
    return grid.with_columns(own)


def own_subcategory_expectation(
    grid: pl.DataFrame, prior: pl.DataFrame, items: pl.DataFrame
) -> pl.DataFrame:
    """The grid with OwnSubShare: the share of its purchases the outlet would give the SKU's
    subcategory now at its own prior subcategory share times the subcategory's peer trend
    (region x channel); null without prior sales. What a lost SKU costs is at most what its
    subcategory lost: an outlet that replaced a SKU by another of the same subcategory keeps
    its subcategory share (`substitution_cap`)."""
    sub_of = items.select("ItemId", "SubCategoryId")
    prior_sub = (
        prior.join(sub_of, on="ItemId", how="left")
        .group_by("CustomerId", "SubCategoryId")
        .agg(PriorSubRevenue=exact_sum("PriorRevenue"))
    )
    # one row per outlet x subcategory of the grid, with its window subcategory revenue
    outlet_sub = grid.select(
        "CustomerId", "SubCategoryId", "AreaId", "Channel", "SubTotal", "Total"
    )
    outlet_sub = outlet_sub.unique(["CustomerId", "SubCategoryId"], keep="first")
    with_prior = (
        outlet_sub.join(prior_sub, on=["CustomerId", "SubCategoryId"], how="left")
        .join(prior.select("CustomerId", "PriorTotal").unique(), on="CustomerId", how="left")
        .with_columns(pl.col("PriorSubRevenue").fill_null(0.0))
    )
    per_sub = with_prior.select("CustomerId", "SubCategoryId").with_columns(
        trended_own_share(with_prior, "SubCategoryId", "SubTotal", "PriorSubRevenue", "OwnSubShare")
    )
    own_sub = (
        grid.select("CustomerId", "SubCategoryId")
        .join(
            per_sub,
            on=["CustomerId", "SubCategoryId"],
            how="left",
            nulls_equal=True,
            maintain_order="left",
        )
        .get_column("OwnSubShare")
    )
    return grid.with_columns(own_sub)
