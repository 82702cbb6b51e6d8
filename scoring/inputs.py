"""What the scoring of one region takes in: its frames and the dates that frame the week."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import polars as pl

from scoring.config import ScoringConfig


@dataclass(frozen=True)
class ScoringWindow:
    """The dates of one weekly run.

    `as_of` is the last sales day used (the day before the week starts, or the last day with
    sales if the data stop earlier); the look-back window and the longer history window end on it.
    """

    week_start: date
    as_of: date
    window_start: date
    history_start: date

    @classmethod
    def for_week(
        cls,
        week_start: date,
        last_sale_date: date | None,
        config: ScoringConfig,
        first_sale_date: date | None = None,
    ) -> ScoringWindow:
        """The window of the week starting on `week_start` (must be a Monday).

        With `first_sale_date`, the windows start no earlier than the first sale: with 4 weeks
        of data a 26-week look-back would divide 4 weeks of sales by 26 and understate every
        weekly value 6.5 times, so the look-back shrinks to the weeks that exist (weekly
        values are per real week)."""
        if week_start.weekday() != 0:
            raise ValueError(f"week_start {week_start.isoformat()} is not a Monday")
        day_before = week_start - timedelta(days=1)
        as_of = day_before if last_sale_date is None else min(day_before, last_sale_date)
        window_start = as_of - timedelta(days=7 * config.lookback_weeks - 1)
        history_start = as_of - timedelta(days=7 * config.history_weeks - 1)
        if first_sale_date is not None and first_sale_date <= as_of:
            window_start = max(window_start, first_sale_date)
            history_start = max(history_start, first_sale_date)
        return cls(
            week_start=week_start,
            as_of=as_of,
            window_start=window_start,
            history_start=history_start,
        )


def next_monday(day: date) -> date:
    """The first Monday strictly after `day`: the default week to plan after the last sales day."""
    return day + timedelta(days=7 - day.weekday())


@dataclass(frozen=True)
class RegionInputs:
    """The clean frames of one region (see docs/data-contract.md for the source tables).

    customers: CustomerId, CustomerName, AreaId, Latitude, Longitude, Channel, RepId, Routable
    items: ItemId, ItemName, BrandId, SubCategoryId, CategoryId, UnitPrice (all items)
    lines: CustomerId, ItemId, SaleDate, Quantity, Amount (the region's sales lines in the
        history window)
    last_visits: CustomerId, LastVisitDate (last logged visit before the week)
    visits: CustomerId, VisitDate (the region's logged visits in the history window before the
        week, see `history_visits`), from which the visit response is measured; None when the
        caller has no visit history (no response is measured: every factor is 1)
    """

    customers: pl.DataFrame
    items: pl.DataFrame
    lines: pl.DataFrame
    last_visits: pl.DataFrame
    visits: pl.DataFrame | None = None


def history_visits(visits: pl.LazyFrame, window: ScoringWindow) -> pl.LazyFrame:
    """CustomerId, VisitDate: the distinct logged visits from the history start to the day
    before the week, sorted (the `RegionInputs.visits` of a region, from an `MV_Visit` frame)."""
    return (
        visits.filter(
            (pl.col("VisitDate") >= window.history_start)
            & (pl.col("VisitDate") < window.week_start)
        )
        .select("CustomerId", "VisitDate")
        .unique()
        .sort("CustomerId", "VisitDate")
    )
