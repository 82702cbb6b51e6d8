"""The segment benchmark: what share of its purchases an outlet should give each SKU.

For every active outlet x SKU (pairs with no sales included: they are distribution gaps) the
benchmark is a robust statistic of the outlet's peers only — the leave-one-out median share — so an
outlet never benchmarks against itself and a few outliers or gaps among the peers do not move it.
Two shares are benchmarked: the SKU's share of the outlet's whole purchases, and its share within
the outlet's purchases of the SKU's subcategory (what an outlet that sells the subcategory should
give this SKU of it). The share of peers that buy the SKU at all (carry rate) is kept too.

Peer groups nest from the region down to region x channel x behaviour x volume tier; a group
with fewer than `min_peers` peers uses its parent's value, and every group is shrunk towards its
parent by `shrinkage_peers` pseudo-peers (empirical Bayes), so thin segments fall back smoothly.
"""

from __future__ import annotations

from collections.abc import Callable

import polars as pl

from scoring.config import ScoringConfig
from scoring.exact import exact_sum
from scoring.robust import loo_mean, loo_median

PEER_LEVELS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("region", ("AreaId",)),
    ("channel", ("AreaId", "Channel")),
    ("behaviour", ("AreaId", "Channel", "Behaviour")),
    ("segment", ("AreaId", "Channel", "Behaviour", "VolumeTier")),
)
MAX_SHARE = 0.95
Statistic = Callable[..., pl.DataFrame]


def outlet_sku_grid(
    segments: pl.DataFrame, outlet_sku: pl.DataFrame, items: pl.DataFrame
) -> pl.DataFrame:
    """Every active outlet x every SKU the region sold in the window, with its window revenue
    (0 where it bought none), its share of the outlet's revenue (Share), the outlet's revenue in
    the SKU's subcategory (SubTotal) and the SKU's share of it (SubShare, null when the outlet
    buys nothing of the subcategory)."""
    active = segments.filter(pl.col("Revenue") > 0).select(
        "CustomerId", "AreaId", "Channel", "Behaviour", "VolumeTier", Total="Revenue"
    )
    sold = outlet_sku.filter(pl.col("Revenue") > 0).select("ItemId").unique()
    in_range = items.join(sold, on="ItemId", how="semi").select("ItemId", "SubCategoryId")
    return (
        active.join(in_range, how="cross")
        .join(
            outlet_sku.select("CustomerId", "ItemId", "Revenue", "RecentRevenue"),
            on=["CustomerId", "ItemId"],
            how="left",
        )
        .with_columns(pl.col("Revenue", "RecentRevenue").fill_null(0.0).clip(lower_bound=0.0))
        .with_columns(
            Share=pl.col("Revenue") / pl.col("Total"),
            SubTotal=exact_sum("Revenue").over("CustomerId", "SubCategoryId"),
            RecentTotal=exact_sum("RecentRevenue").over("CustomerId"),
        )
        .with_columns(
            SubShare=pl.when(pl.col("SubTotal") > 0).then(pl.col("Revenue") / pl.col("SubTotal"))
        )
    )


def hierarchical(
    frame: pl.DataFrame,
    value_col: str,
    statistic: Statistic,
    config: ScoringConfig,
    *,
    out_col: str,
    peers_col: str | None = None,
    level_col: str | None = None,
) -> pl.DataFrame:
    """Adds the peer `statistic` of `value_col` per SKU, blended down the peer levels."""
    out = frame
    for depth, (level, cols) in enumerate(PEER_LEVELS):
        out = statistic(out, [*cols, "ItemId"], value_col, out_col="_stat", peers_col="_peers")
        stat = pl.col("_stat").fill_null(0.0)
        peers = pl.col("_peers").cast(pl.Float64)
        if depth == 0:
            out = out.with_columns(stat.alias(out_col), _p=pl.col("_peers"), _l=pl.lit(level))
        else:
            enough = pl.col("_peers") >= config.min_peers
            blended = (peers * stat + config.shrinkage_peers * pl.col(out_col)) / (
                peers + config.shrinkage_peers
            )
            out = out.with_columns(
                pl.when(enough).then(blended).otherwise(pl.col(out_col)).alias(out_col),
                _p=pl.when(enough).then(pl.col("_peers")).otherwise(pl.col("_p")),
                _l=pl.when(enough).then(pl.lit(level)).otherwise(pl.col("_l")),
            )
        out = out.drop("_stat", "_peers")
    renames = {k: v for k, v in (("_p", peers_col), ("_l", level_col)) if v}
    return out.rename(renames).drop([c for c in ("_p", "_l") if c not in renames])


def benchmark_shares(grid: pl.DataFrame, config: ScoringConfig) -> pl.DataFrame:
    """The grid with BenchmarkShare (of the outlet's total), SubBenchmarkShare (within the
    subcategory, among peers that buy the subcategory; null without such peers), CarryRate,
    Peers and PeerLevel (the finest level that had at least `min_peers` peers)."""
    out = hierarchical(
        grid,
        "Share",
        loo_median,
        config,
        out_col="BenchmarkShare",
        peers_col="Peers",
        level_col="PeerLevel",
    )
    out = hierarchical(
        out.with_columns(_carried=(pl.col("Revenue") > 0).cast(pl.Float64)),
        "_carried",
        loo_mean,
        config,
        out_col="CarryRate",
    ).drop("_carried")
    buyers = hierarchical(
        out.filter(pl.col("SubShare").is_not_null()).select(
            "CustomerId", "ItemId", "SubShare", *{c for _, cols in PEER_LEVELS for c in cols}
        ),
        "SubShare",
        loo_median,
        config,
        out_col="SubBenchmarkShare",
    ).select("CustomerId", "ItemId", "SubBenchmarkShare")
    # attached through the key columns only: a join of the whole grid would copy every column
    sub = (
        out.select("CustomerId", "ItemId")
        .join(buyers, on=["CustomerId", "ItemId"], how="left", maintain_order="left")
        .get_column("SubBenchmarkShare")
    )
    return out.with_columns(sub).with_columns(
        pl.col("BenchmarkShare").clip(0.0, MAX_SHARE),
        pl.col("SubBenchmarkShare").clip(0.0, MAX_SHARE),
    )
