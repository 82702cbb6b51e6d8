"""What the weekly planner knows about each outlet besides its priority: how long a visit takes,
how often it is due, when the outlet is open, whether it is pinned to a day of the planned week,
and whether it must not be visited yet.

The contract's optional planning inputs (``docs/data-contract.md``: ``MV_SetupCustomer``'s
``VisitMinutes`` and ``VisitEveryWeeks``, ``MV_OutletHours``, ``MV_VisitPin``,
``MV_VisitExclusion``), once quarantined, shaped into one row per customer with fixed columns,
so that the planner never has to know whether the data had them: absent inputs are nulls. Both
drivers compute them from the same clean tables (the local run once for every region, in
``visitrank.adapters.local_stage``; the Azure scoring activity per region) and join them onto
the scored outlets they stage (:func:`with_routing_attributes`).

Times of day become minutes from midnight (Int16), the unit the planner counts in.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Final

import polars as pl

from scoring.inputs import ScoringWindow
from visitrank.contract.tables import (
    CUSTOMER,
    OUTLET_HOURS,
    VISIT_EXCLUSION,
    VISIT_PIN,
    complete,
)

HOURS_TYPE: Final = pl.List(pl.Struct({"Weekday": pl.Int8, "Opens": pl.Int16, "Closes": pl.Int16}))
"""An outlet's opening intervals, sorted by weekday then opening time (a split shift is two
intervals of one weekday); minutes from midnight."""

ROUTING_SCHEMA: Final[dict[str, pl.DataType]] = {
    "CustomerId": pl.Int64(),
    "VisitMinutes": pl.Float64(),
    "VisitEveryWeeks": pl.Int64(),
    "Hours": HOURS_TYPE,
    "PinnedDate": pl.Date(),
    "PinnedStart": pl.Int16(),
    "ExcludedUntil": pl.Date(),
    "ExclusionReason": pl.String(),
}
"""The columns of :func:`routing_attributes`, in order."""

ROUTING_COLUMNS: Final = tuple(name for name in ROUTING_SCHEMA if name != "CustomerId")
"""The columns :func:`with_routing_attributes` adds to the scored outlets."""


def routing_attributes(clean: Mapping[str, pl.DataFrame], window: ScoringWindow) -> pl.DataFrame:
    """One row per clean customer of ``clean`` (``ROUTING_SCHEMA``, sorted by CustomerId):

    * ``VisitMinutes``, ``VisitEveryWeeks``: the customer's (null when absent or invalid);
    * ``Hours``: its opening intervals (``HOURS_TYPE``), null when it has no hours rows (open
      whenever the rep works); a weekday missing from a non-null list is a closed day;
    * ``PinnedDate``, ``PinnedStart``: its earliest pin in the planned week
      ``[week_start, week_start + 7 days)`` and that pin's start in minutes (null: at any
      time); pins of other weeks are not this week's business;
    * ``ExcludedUntil``, ``ExclusionReason``: its latest exclusion whose ``Until`` is not
      before the week's start, and that exclusion's reason; past exclusions are over.

    ``clean`` is a quarantine's clean tables (``Quarantined.tables``); optional tables or
    columns it lacks count as empty or null.
    """
    tables = complete(clean)
    week_start = window.week_start
    week_end = week_start + timedelta(days=7)
    customers = tables[CUSTOMER.name].lazy().select("CustomerId", "VisitMinutes", "VisitEveryWeeks")
    hours = (
        tables[OUTLET_HOURS.name]
        .lazy()
        .sort("CustomerId", "Weekday", "Opens", "Closes")
        .group_by("CustomerId", maintain_order=True)
        .agg(
            pl.struct(
                pl.col("Weekday").cast(pl.Int8),
                _minutes(pl.col("Opens")).alias("Opens"),
                _minutes(pl.col("Closes")).alias("Closes"),
            ).alias("Hours")
        )
    )
    pins = (
        tables[VISIT_PIN.name]
        .lazy()
        .filter((pl.col("VisitDate") >= week_start) & (pl.col("VisitDate") < week_end))
        .sort("CustomerId", "VisitDate")
        .group_by("CustomerId", maintain_order=True)
        .agg(
            pl.col("VisitDate").first().alias("PinnedDate"),
            _minutes(pl.col("StartTime")).first().alias("PinnedStart"),
        )
    )
    exclusions = (
        tables[VISIT_EXCLUSION.name]
        .lazy()
        .filter(pl.col("Until") >= week_start)
        .sort("CustomerId", "Until")
        .group_by("CustomerId", maintain_order=True)
        .agg(
            pl.col("Until").last().alias("ExcludedUntil"),
            pl.col("Reason").last().alias("ExclusionReason"),
        )
    )
    return (
        customers.join(hours, on="CustomerId", how="left")
        .join(pins, on="CustomerId", how="left")
        .join(exclusions, on="CustomerId", how="left")
        .select(pl.col(name).cast(dtype) for name, dtype in ROUTING_SCHEMA.items())
        .sort("CustomerId")
        .collect()
    )


def with_routing_attributes(outlets: pl.DataFrame, attributes: pl.DataFrame) -> pl.DataFrame:
    """The scored ``outlets`` with the ``ROUTING_COLUMNS`` of ``attributes`` (a
    :func:`routing_attributes` frame) joined on CustomerId, in the outlets' order: every
    column present, null for an outlet without a row (so the planner can rely on them)."""
    columns = attributes.select("CustomerId", *ROUTING_COLUMNS)
    return outlets.drop(ROUTING_COLUMNS, strict=False).join(
        columns, on="CustomerId", how="left", maintain_order="left"
    )


def empty_routing_attributes() -> pl.DataFrame:
    """A :func:`routing_attributes` frame without rows."""
    return pl.DataFrame(schema=ROUTING_SCHEMA)


def _minutes(time_of_day: pl.Expr) -> pl.Expr:
    """A time of day as whole minutes from midnight (seconds dropped), Int16."""
    return (
        time_of_day.dt.hour().cast(pl.Int16) * 60 + time_of_day.dt.minute().cast(pl.Int16)
    ).cast(pl.Int16)
