"""Robust peer statistics: the leave-one-out median (and mean) of a value within groups.

An outlet's benchmark must come from its peers, never from itself: the leave-one-out (LOO) median
of a group is, for each member, the median of the *other* members. It is computed exactly and
vectorised: for a group of n sorted values s[0..n-1], removing the member of rank r leaves a
sample whose median only needs s[h-1], s[h] and s[h+1] with h = n // 2.

The statistics run on numpy arrays over dense group ids (`group_ids`): one value sort serves every
peer level, and each level only re-sorts the integer group ids (a radix sort up to 65,536 groups),
so a region's dense outlet x SKU grid is benchmarked in a few linear passes rather than one hash
group-by, one per-group sort and one join per statistic. A null key is a key value of its own,
as in a polars group-by (the earlier polars version joined the statistics back without matching
nulls, so such rows got none; the scoring's keys are never null).
"""

from __future__ import annotations

import numpy as np
import polars as pl

RADIX_GROUPS = 1 << 16  # group ids below this sort with numpy's radix sort (uint16)


KeyCodes = tuple[np.ndarray, int]
"""Integer codes of one key column per row, in [0, width), and the width."""


def key_codes(frame: pl.DataFrame, cols: list[str]) -> dict[str, KeyCodes]:
    """The codes of each key column: compute once, combine per grouping (`combine_keys`)."""
    return {col: _column_codes(frame.get_column(col)) for col in dict.fromkeys(cols)}


def combine_keys(keys: list[KeyCodes], rows: int) -> tuple[np.ndarray, int]:
    """A dense-enough integer id per row of the combination of the keys (equal keys, equal
    ids) and an upper bound of the ids; uint16 ids up to 65,536 groups (radix-sortable and
    small: a 40,000-outlet region has 12M rows per peer level)."""
    ids = np.zeros(rows, dtype=np.int64)
    bound = 1
    for codes, width in keys:
        if bound * width >= 1 << 62:  # keep the mixed-radix id inside int64
            ids, bound = _densify(ids)
        ids = ids * width + codes
        bound *= width
    if bound > RADIX_GROUPS and rows:
        ids, bound = _densify(ids)
    if bound <= RADIX_GROUPS:
        return ids.astype(np.uint16), bound
    return ids.astype(np.int32 if bound < 1 << 31 else np.int64), bound


def group_ids(frame: pl.DataFrame, cols: list[str]) -> tuple[np.ndarray, int]:
    """A dense-enough integer id per row of the combination of `cols` and an upper bound of
    the ids (see `combine_keys`). Null is a key value of its own."""
    codes = key_codes(frame, cols)
    return combine_keys([codes[col] for col in cols], frame.height)


def _column_codes(series: pl.Series) -> KeyCodes:
    """Integer codes of one key column: offsets for compact integer columns (strings through
    their categorical codes), dense ranks with null as 0 otherwise."""
    if series.dtype in (pl.String, pl.Categorical) or isinstance(series.dtype, pl.Enum):
        series = series.cast(pl.Categorical).to_physical()
    if series.dtype.is_integer() and series.null_count() == 0 and series.len():
        low, high = series.min(), series.max()
        assert isinstance(low, int) and isinstance(high, int)
        if high - low < max(series.len(), RADIX_GROUPS):
            # offset in polars: a UInt64 near 2**64 does not fit numpy's int64 before it
            offsets = (series - low).cast(pl.Int32).to_numpy()
            return offsets, high - low + 1
    ranks = series.rank("dense").fill_null(0).cast(pl.Int32).to_numpy()
    return ranks, int(ranks.max(initial=0)) + 1


def _densify(ids: np.ndarray) -> tuple[np.ndarray, int]:
    unique, inverse = np.unique(ids, return_inverse=True)
    return inverse.astype(np.int64), len(unique)


def value_order(values: np.ndarray) -> np.ndarray:
    """The stable ascending order of `values`; shared by every grouping of the same values."""
    return np.argsort(values, kind="stable")


def _grouped_order(ids: np.ndarray, by_value: np.ndarray) -> np.ndarray:
    """Rows ordered by group id, then by value (a stable sort of the ids in value order)."""
    return by_value[np.argsort(ids[by_value], kind="stable")]


def loo_median_values(
    values: np.ndarray, ids: np.ndarray, bound: int, by_value: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(median of the value over the other members of each row's group, NaN when the row has
    no peer; number of other members) for `values` grouped by `ids` (from `group_ids`).
    `by_value` is `value_order(values)` when the caller already has it."""
    size = len(values)
    if size == 0:
        return np.zeros(0), np.zeros(0, dtype=np.int64)
    order = _grouped_order(ids, value_order(values) if by_value is None else by_value)
    counts = np.bincount(ids, minlength=bound)
    starts = np.cumsum(counts) - counts  # groups lie in id order in `order`
    half = counts // 2
    last = np.maximum(counts - 1, 0)
    low = values[order[np.minimum(starts + np.maximum(half - 1, 0), size - 1)]]
    mid = values[order[np.minimum(starts + half, size - 1)]]
    high = values[order[np.minimum(starts + np.minimum(half + 1, last), size - 1)]]
    # Removing the member of rank r: below, at or above the middle rank h = n // 2.
    # n even: the LOO sample has odd size n-1, its median is s[h] for r < h, else s[h-1].
    # n odd: the LOO sample has even size n-1, its median is the mean of two of s[h-1..h+1].
    even = counts % 2 == 0
    below = np.where(even, mid, (mid + high) / 2)
    at = np.where(even, low, (low + high) / 2)
    above = np.where(even, low, (low + mid) / 2)
    choices = np.stack([below, at, above], axis=1)
    choices[counts <= 1] = np.nan
    position = np.empty(size, dtype=np.int64)
    position[order] = np.arange(size)
    side = np.sign(position - starts[ids] - half[ids]) + 1
    return choices[ids, side], counts[ids] - 1


def loo_mean_values(
    values: np.ndarray, ids: np.ndarray, bound: int
) -> tuple[np.ndarray, np.ndarray]:
    """(mean of the value over the other members of each row's group, NaN without peers;
    number of other members) for `values` grouped by `ids` (from `group_ids`). Group totals
    are summed in row order: exact for integer values (the carry flags), within the last bits
    of any other summation order for general floats."""
    totals = np.bincount(ids, weights=values, minlength=bound)
    counts = np.bincount(ids, minlength=bound)
    n = counts[ids]
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = np.where(n > 1, (totals[ids] - values) / (n - 1), np.nan)
    return mean, n - 1


def _values(frame: pl.DataFrame, value_col: str) -> np.ndarray:
    column = frame.get_column(value_col)
    if column.null_count():
        first = column.is_null().arg_true()[0]
        raise ValueError(f"peer statistic of {value_col!r}: null value at row {first}")
    return column.cast(pl.Float64).to_numpy()


def _attach(
    frame: pl.DataFrame, out_col: str, stat: np.ndarray, peers_col: str, peers: np.ndarray
) -> pl.DataFrame:
    """The frame with the statistic (null for rows without peers) and the peer count."""
    counted = pl.Series(peers_col, peers)
    return frame.with_columns(
        pl.Series(out_col, stat).zip_with(counted > 0, pl.Series([None], dtype=pl.Float64)),
        counted,
    )


def loo_median(
    frame: pl.DataFrame, group_cols: list[str], value_col: str, *, out_col: str, peers_col: str
) -> pl.DataFrame:
    """Adds `out_col` (Float64: median of the value over the other members of the row's group;
    null when the row has no peer) and `peers_col` (how many other members the group has). The
    value column must have no nulls."""
    ids, bound = group_ids(frame, group_cols)
    median, peers = loo_median_values(_values(frame, value_col), ids, bound)
    return _attach(frame, out_col, median, peers_col, peers)


def loo_mean(
    frame: pl.DataFrame, group_cols: list[str], value_col: str, *, out_col: str, peers_col: str
) -> pl.DataFrame:
    """Adds `out_col` (Float64: mean of the value over the other members of the row's group;
    null when the row has no peer) and `peers_col` (how many other members the group has). The
    value column must have no nulls."""
    ids, bound = group_ids(frame, group_cols)
    mean, peers = loo_mean_values(_values(frame, value_col), ids, bound)
    return _attach(frame, out_col, mean, peers_col, peers)
