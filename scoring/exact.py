"""Order-independent sums of money and quantities.

Floating-point addition is not associative, and a multi-threaded group-by adds the rows of a group
in whatever order the threads meet them, so two runs on the same data could differ in the last
bits — and a rank or a rounded figure could flip. Sums of money and units are therefore taken in
fixed point (1e-4 of a unit, as 64-bit integers), which is exact, then turned back into floats.
"""

from __future__ import annotations

import polars as pl

SCALE = 10_000
SHARE_SCALE = 1_000_000_000_000
"""Fixed point of shares (0..1): 1e-12, so a sum over a million outlets still fits 64 bits."""


def exact_sum(expr: pl.Expr | str, scale: int = SCALE) -> pl.Expr:
    """The sum of `expr` computed in fixed point (1 / `scale`, default 1e-4), so it is the same
    in any row order."""
    column = pl.col(expr) if isinstance(expr, str) else expr
    return (column * scale).round().cast(pl.Int64).sum() / scale
