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
    # the SKU's pooled share among outlets present in both periods, per region x channel,
    # aggregated once per group and joined back (cheaper than four window sums)
    both = pl.col("PriorTotal").is_not_null()
    group = ["AreaId", "Channel", "ItemId"]
    pooled = (
        with_prior.filter(both)
        .group_by(group)
        .agg(
            _rr=exact_sum("Revenue"),
            _rt=exact_sum("Total"),
            _pr=exact_sum("PriorRevenue"),
            _pt=exact_sum("PriorTotal"),
        )
    )
    recent_share = pl.col("_rr") / pl.col("_rt")
    prior_share = pl.col("_pr") / pl.col("_pt")
    trend = pl.when(prior_share > 0).then(recent_share / prior_share).otherwise(1.0)
    own_share = (
        pl.col("PriorRevenue") / pl.col("PriorTotal") * trend.clip(MIN_TREND, MAX_TREND)
    ).clip(0.0, MAX_OWN_SHARE)
    own = (
        with_prior.join(pooled, on=group, how="left", nulls_equal=True, maintain_order="left")
        .select(OwnShare=pl.when(both).then(own_share))
        .get_column("OwnShare")
    )
    return grid.with_columns(own)
