"""Robust peer statistics: the leave-one-out median of a value within groups.

An outlet's benchmark must come from its peers, never from itself: the leave-one-out (LOO) median
of a group is, for each member, the median of the *other* members. It is computed exactly and
vectorised: for a group of n sorted values s[0..n-1], removing the member of rank r leaves a
sample whose median only needs s[h-1], s[h] and s[h+1] with h = n // 2.
"""

from __future__ import annotations

import polars as pl


def loo_median(
    frame: pl.DataFrame, group_cols: list[str], value_col: str, *, out_col: str, peers_col: str
) -> pl.DataFrame:
    """Adds `out_col` (median of the value over the other members of the row's group; null when
    the row has no peer) and `peers_col` (how many other members the group has)."""
    size = pl.len().cast(pl.Int64)
    h = size // 2
    stats = frame.group_by(group_cols).agg(
        _n=pl.len(),
        _lo=pl.col(value_col).sort().get(pl.max_horizontal(h - 1, 0)),
        _mid=pl.col(value_col).sort().get(h),
        _hi=pl.col(value_col).sort().get(pl.min_horizontal(h + 1, size - 1)),
    )
    rank = pl.col(value_col).rank("ordinal").over(group_cols).cast(pl.Int64) - 1
    n = pl.col("_n").cast(pl.Int64)
    half = n // 2
    # n even: LOO sample has odd size n-1, median index j = n/2 - 1.
    even_median = pl.when(half - 1 < pl.col("_r")).then(pl.col("_lo")).otherwise(pl.col("_mid"))
    # n odd: LOO sample has even size n-1, median = mean of indexes j1 = (n-3)/2 and j2 = (n-1)/2.
    first = pl.when(half - 1 < pl.col("_r")).then(pl.col("_lo")).otherwise(pl.col("_mid"))
    second = pl.when(half < pl.col("_r")).then(pl.col("_mid")).otherwise(pl.col("_hi"))
    odd_median = (first + second) / 2
    # computed on the group and value columns only, then attached: joining the whole (wide)
    # frame would copy every column of it at each of the peer levels
    narrow = frame.select(*group_cols, value_col)
    result = (
        narrow.with_columns(_r=rank)
        .join(stats, on=group_cols, how="left", maintain_order="left")
        .select(
            pl.when(n <= 1)
            .then(None)
            .when(n % 2 == 0)
            .then(even_median)
            .otherwise(odd_median)
            .alias(out_col),
            (n - 1).alias(peers_col),
        )
    )
    return frame.with_columns(result.get_column(out_col), result.get_column(peers_col))


def loo_mean(
    frame: pl.DataFrame, group_cols: list[str], value_col: str, *, out_col: str, peers_col: str
) -> pl.DataFrame:
    """Adds `out_col` (mean of the value over the other members of the row's group; null when
    the row has no peer) and `peers_col` (how many other members the group has)."""
    stats = frame.group_by(group_cols).agg(_total=pl.col(value_col).sum(), _n=pl.len())
    total = pl.col("_total")
    n = pl.col("_n").cast(pl.Int64)
    result = (
        frame.select(*group_cols, value_col)
        .join(stats, on=group_cols, how="left", maintain_order="left")
        .select(
            pl.when(n > 1).then((total - pl.col(value_col)) / (n - 1)).alias(out_col),
            (n - 1).alias(peers_col),
        )
    )
    return frame.with_columns(result.get_column(out_col), result.get_column(peers_col))
