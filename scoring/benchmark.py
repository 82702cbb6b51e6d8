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
from functools import partial

import numpy as np
import polars as pl

from scoring.config import ScoringConfig
from scoring.robust import (
    KeyCodes,
    combine_keys,
    key_codes,
    loo_mean_values,
    loo_median_values,
    value_order,
)

PEER_LEVELS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("region", ("AreaId",)),
    ("channel", ("AreaId", "Channel")),
    ("behaviour", ("AreaId", "Channel", "Behaviour")),
    ("segment", ("AreaId", "Channel", "Behaviour", "VolumeTier")),
)
MAX_SHARE = 0.95
PeerStatistic = Callable[[np.ndarray, np.ndarray, int], tuple[np.ndarray, np.ndarray]]
"""(values, group ids, id bound) -> (statistic over each row's other members, their count)."""


def peer_level_ids(
    keys: dict[str, KeyCodes], rows: np.ndarray | None = None
) -> list[tuple[np.ndarray, int]]:
    """Per peer level (`PEER_LEVELS`), the group id of every row (its level's keys x ItemId),
    of the `rows` mask only when given."""

    def codes(col: str) -> KeyCodes:
        values, width = keys[col]
        return (values if rows is None else values[rows]), width

    count = len(keys["ItemId"][0]) if rows is None else int(rows.sum())
    return [
        combine_keys([codes(col) for col in (*cols, "ItemId")], count) for _, cols in PEER_LEVELS
    ]


def hierarchical(
    values: np.ndarray,
    levels: list[tuple[np.ndarray, int]],
    statistic: PeerStatistic,
    config: ScoringConfig,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The peer `statistic` of `values` per SKU, blended down the peer levels: (blended value,
    peers of the finest level used, index in `PEER_LEVELS` of that level)."""
    out = np.zeros(len(values))
    chosen_peers = np.zeros(len(values), dtype=np.int64)
    chosen_level = np.zeros(len(values), dtype=np.int64)
    shrinkage = float(config.shrinkage_peers)
    for depth, (ids, bound) in enumerate(levels):
        stat, peers = statistic(values, ids, bound)
        stat = np.where(peers > 0, stat, 0.0)  # no peer: 0, as the null of a lone member
        if depth == 0:
            out, chosen_peers = stat, peers
            continue
        enough = peers >= config.min_peers
        weight = peers.astype(np.float64)
        blended = (weight * stat + shrinkage * out) / (weight + shrinkage)
        out = np.where(enough, blended, out)
        chosen_peers = np.where(enough, peers, chosen_peers)
        chosen_level = np.where(enough, depth, chosen_level)
    return out, chosen_peers, chosen_level


def _median_statistic(values: np.ndarray) -> PeerStatistic:
    """The LOO median of `values` at any grouping, sharing one sort of the values."""
    return partial(loo_median_values, by_value=value_order(values))


def benchmark_shares(grid: pl.DataFrame, config: ScoringConfig) -> pl.DataFrame:
    """The grid with BenchmarkShare (of the outlet's total), SubBenchmarkShare (within the
    subcategory, among peers that buy the subcategory; null without such peers), CarryRate,
    Peers and PeerLevel (the finest level that had at least `min_peers` peers)."""
    keys = key_codes(grid, [*PEER_LEVELS[-1][1], "ItemId"])
    levels = peer_level_ids(keys)
    share = grid.get_column("Share").fill_null(0.0).to_numpy()
    benchmark, peers, level = hierarchical(share, levels, _median_statistic(share), config)
    carried = (grid.get_column("Revenue") > 0).cast(pl.Float64).to_numpy()
    carry_rate, _, _ = hierarchical(carried, levels, loo_mean_values, config)
    buyer = grid.get_column("SubShare").is_not_null().to_numpy()
    sub_share = grid.get_column("SubShare").to_numpy()[buyer]
    buyer_levels = peer_level_ids(keys, buyer)
    sub_benchmark = np.full(grid.height, np.nan)
    sub_benchmark[buyer] = hierarchical(
        sub_share, buyer_levels, _median_statistic(sub_share), config
    )[0]
    level_names = pl.Series([name for name, _ in PEER_LEVELS], dtype=pl.String)
    return grid.with_columns(
        pl.Series("BenchmarkShare", benchmark).clip(0.0, MAX_SHARE),
        pl.Series("Peers", peers),
        level_names.gather(level).alias("PeerLevel"),
        pl.Series("CarryRate", carry_rate),
        pl.Series("SubBenchmarkShare", sub_benchmark, nan_to_null=True).clip(0.0, MAX_SHARE),
    )
