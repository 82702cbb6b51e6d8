"""The segment benchmark: what share of its purchases an outlet should give each SKU.

For every active outlet x SKU (pairs with no sales included: they are distribution gaps) the
benchmark share is the leave-one-out median share of the SKU among the outlet's peers, so an outlet
never benchmarks against itself and a few outliers or gaps among the peers do not move it. Peer
groups nest from the region down to region x channel x behaviour x volume tier; a group with fewer
than `min_peers` peers uses its parent's value, and every group is shrunk towards its parent by
`shrinkage_peers` pseudo-peers (empirical Bayes), so thin segments fall back smoothly.
"""

from __future__ import annotations

import polars as pl

from scoring.config import ScoringConfig
from scoring.robust import loo_median

PEER_LEVELS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("region", ("AreaId",)),
    ("channel", ("AreaId", "Channel")),
    ("behaviour", ("AreaId", "Channel", "Behaviour")),
    ("segment", ("AreaId", "Channel", "Behaviour", "VolumeTier")),
)
MAX_SHARE = 0.95


def outlet_sku_grid(
    segments: pl.DataFrame, outlet_sku: pl.DataFrame, items: pl.DataFrame
) -> pl.DataFrame:
    """Every active outlet x every SKU the region sold in the window, with its window revenue
    (0 where it bought none) and its share of the outlet's revenue."""
    active = segments.filter(pl.col("Revenue") > 0).select(
        "CustomerId", "AreaId", "Channel", "Behaviour", "VolumeTier", Total="Revenue"
    )
    sold = outlet_sku.filter(pl.col("Revenue") > 0).select("ItemId").unique()
    in_range = items.join(sold, on="ItemId", how="semi").select("ItemId")
    return (
        active.join(in_range, how="cross")
        .join(
            outlet_sku.select("CustomerId", "ItemId", "Revenue"),
            on=["CustomerId", "ItemId"],
            how="left",
        )
        .with_columns(pl.col("Revenue").fill_null(0.0).clip(lower_bound=0.0))
        .with_columns(Share=pl.col("Revenue") / pl.col("Total"))
    )


def benchmark_shares(grid: pl.DataFrame, config: ScoringConfig) -> pl.DataFrame:
    """The grid with BenchmarkShare, Peers (peers behind it) and PeerLevel (the finest level that
    had at least `min_peers` peers)."""
    out = grid
    for depth, (level, cols) in enumerate(PEER_LEVELS):
        out = loo_median(out, [*cols, "ItemId"], "Share", out_col="_med", peers_col="_peers")
        med = pl.col("_med").fill_null(0.0)
        peers = pl.col("_peers").cast(pl.Float64)
        if depth == 0:
            out = out.with_columns(
                BenchmarkShare=med, Peers=pl.col("_peers"), PeerLevel=pl.lit(level)
            )
        else:
            enough = pl.col("_peers") >= config.min_peers
            blended = (peers * med + config.shrinkage_peers * pl.col("BenchmarkShare")) / (
                peers + config.shrinkage_peers
            )
            out = out.with_columns(
                BenchmarkShare=pl.when(enough).then(blended).otherwise(pl.col("BenchmarkShare")),
                Peers=pl.when(enough).then(pl.col("_peers")).otherwise(pl.col("Peers")),
                PeerLevel=pl.when(enough).then(pl.lit(level)).otherwise(pl.col("PeerLevel")),
            )
        out = out.drop("_med", "_peers")
    return out.with_columns(pl.col("BenchmarkShare").clip(0.0, MAX_SHARE))
