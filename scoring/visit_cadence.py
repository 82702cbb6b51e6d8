"""How often the outlets are visited: the words behind "the history cannot tell".

The visit response compares weeks after a visit with weeks no visit touches, and gap
persistence learns from outlets left unvisited for a whole horizon after a past cut-off. With
visits every few weeks neither kind of week exists, and the run must say so in words an analyst
can check against the visit log.
"""

from __future__ import annotations

import polars as pl


def typical_visit_interval(visits: pl.DataFrame) -> float | None:
    """The median over outlets of the mean days between two of their visits (outlets with at
    least two visit days); None when no outlet was visited twice.

    `visits`: CustomerId, VisitDate."""
    per_outlet = (
        visits.select("CustomerId", "VisitDate")
        .unique()
        .group_by("CustomerId")
        .agg(
            Days=(pl.col("VisitDate").max() - pl.col("VisitDate").min()).dt.total_days(),
            Visits=pl.len(),
        )
        .filter(pl.col("Visits") >= 2)
        .select(Interval=pl.col("Days") / (pl.col("Visits") - 1))
    )
    if per_outlet.is_empty():
        return None
    median = per_outlet["Interval"].median()
    return float(median) if isinstance(median, int | float) else None


def cadence_words(visits: pl.DataFrame, needed_days: int) -> str:
    """A sentence on the visit cadence against the untouched stretch a measurement needs."""
    interval = typical_visit_interval(visits)
    if interval is None:
        return "no outlet was visited twice, so the log shows no visit rhythm"
    if interval < needed_days:
        return (
            f"outlets are visited about every {interval:.0f} days (median), so few go the "
            f"{needed_days} days without a visit that the comparison needs"
        )
    return f"outlets are visited about every {interval:.0f} days (median)"
