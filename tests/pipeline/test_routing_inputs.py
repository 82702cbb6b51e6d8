"""What the planner gets of the optional planning inputs: routing attributes per outlet, reps'
homes, in both drivers' frames; and the health findings of the invalid ones."""

from __future__ import annotations

import json
from datetime import date, time, timedelta
from typing import Any

import polars as pl

from scoring.inputs import ScoringWindow
from visitrank.contract.quarantine import quarantine
from visitrank.contract.tables import ALL_TABLES
from visitrank.pipeline.health import DataFacts, input_findings
from visitrank.pipeline.region import REP_SCHEMA, merge_reps, rep_table
from visitrank.pipeline.routing_inputs import (
    HOURS_TYPE,
    ROUTING_COLUMNS,
    ROUTING_SCHEMA,
    routing_attributes,
    with_routing_attributes,
)

MONDAY = date(2026, 11, 16)
WINDOW = ScoringWindow(
    week_start=MONDAY,
    as_of=MONDAY - timedelta(days=1),
    window_start=MONDAY - timedelta(weeks=12),
    history_start=MONDAY - timedelta(weeks=52),
)


def frame(name: str, rows: list[tuple[Any, ...]]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=ALL_TABLES[name].all_columns, orient="row")


def customer(customer_id: int, minutes: float | None, weeks: int | None) -> tuple[Any, ...]:
    return (customer_id, f"c{customer_id}", 1, 1, 48.85, 2.35, "ON_TRADE", 1, minutes, weeks)


def clean_tables() -> dict[str, pl.DataFrame]:
    """Four outlets (hand-made): 1 with everything, 2 with a split shift and a past and a
    future pin, 3 with nothing, 4 with pins and exclusions outside the week only."""
    day = timedelta(days=1)
    return {
        "MV_SetupCustomer": frame(
            "MV_SetupCustomer",
            [
                customer(1, 25.0, 2),
                customer(2, None, 4),
                customer(3, None, None),
                customer(4, 40.0, 1),
            ],
        ),
        "MV_OutletHours": frame(
            "MV_OutletHours",
            [
                (1, 3, time(16), time(23)),
                (1, 2, time(16), time(23)),
                (2, 1, time(14), time(19)),  # the afternoon of a split shift, listed first
                (2, 1, time(8), time(12, 30)),
                (2, 6, time(8, 0, 30), time(12, 30, 59)),  # seconds are dropped
            ],
        ),
        "MV_VisitPin": frame(
            "MV_VisitPin",
            [
                (1, MONDAY + 3 * day, time(10, 30), "appointment"),
                (1, MONDAY + 1 * day, None, "manager"),  # the earliest pin of the week
                (2, MONDAY - day, time(9), "last week"),  # outside the week: ignored
                (2, MONDAY + 4 * day, time(15, 45), None),
                (4, MONDAY + 7 * day, time(9), "next week"),  # the week's end is excluded
                (4, MONDAY - 7 * day, time(9), "last week"),
            ],
        ),
        "MV_VisitExclusion": frame(
            "MV_VisitExclusion",
            [
                (1, MONDAY + 14 * day, "works"),
                (1, MONDAY + 28 * day, "dispute"),  # the latest is kept
                (1, MONDAY - 7 * day, "over"),
                (2, MONDAY, "until the week's start"),  # still >= week_start: kept
                (4, MONDAY - day, "over the day before"),  # over
            ],
        ),
    }


def test_routing_attributes_on_a_hand_made_example() -> None:
    attributes = routing_attributes(clean_tables(), WINDOW)
    assert dict(attributes.schema) == ROUTING_SCHEMA
    assert attributes.rows(named=True) == [
        {
            "CustomerId": 1,
            "VisitMinutes": 25.0,
            "VisitEveryWeeks": 2,
            "Hours": [
                {"Weekday": 2, "Opens": 960, "Closes": 1380},
                {"Weekday": 3, "Opens": 960, "Closes": 1380},
            ],
            "PinnedDate": MONDAY + timedelta(days=1),
            "PinnedStart": None,
            "ExcludedUntil": MONDAY + timedelta(days=28),
            "ExclusionReason": "dispute",
        },
        {
            "CustomerId": 2,
            "VisitMinutes": None,
            "VisitEveryWeeks": 4,
            "Hours": [
                {"Weekday": 1, "Opens": 480, "Closes": 750},  # split shifts in one list
                {"Weekday": 1, "Opens": 840, "Closes": 1140},
                {"Weekday": 6, "Opens": 480, "Closes": 750},
            ],
            "PinnedDate": MONDAY + timedelta(days=4),
            "PinnedStart": 945,
            "ExcludedUntil": MONDAY,
            "ExclusionReason": "until the week's start",
        },
        {
            "CustomerId": 3,
            "VisitMinutes": None,
            "VisitEveryWeeks": None,
            "Hours": None,  # no hours rows: open whenever the rep works
            "PinnedDate": None,
            "PinnedStart": None,
            "ExcludedUntil": None,
            "ExclusionReason": None,
        },
        {
            "CustomerId": 4,
            "VisitMinutes": 40.0,
            "VisitEveryWeeks": 1,
            "Hours": None,
            "PinnedDate": None,
            "PinnedStart": None,
            "ExcludedUntil": None,
            "ExclusionReason": None,
        },
    ]


def test_routing_attributes_without_the_optional_inputs_are_null() -> None:
    """Clean tables of data without them (a quarantine of the required tables only, or the
    customers alone): one row per customer, every attribute null."""
    customers = pl.DataFrame(
        {"CustomerId": [7, 5], "VisitMinutes": [None, None], "AreaId": [1, 1]},
        schema={"CustomerId": pl.Int64, "VisitMinutes": pl.Float64, "AreaId": pl.Int64},
    ).drop("VisitMinutes")
    attributes = routing_attributes({"MV_SetupCustomer": customers}, WINDOW)
    assert dict(attributes.schema) == ROUTING_SCHEMA
    assert attributes["CustomerId"].to_list() == [5, 7]
    assert attributes.drop("CustomerId").null_count().row(0) == (2,) * len(ROUTING_COLUMNS)
    assert attributes.schema["Hours"] == HOURS_TYPE


def test_the_scored_outlets_get_every_routing_column() -> None:
    outlets = pl.DataFrame({"CustomerId": [3, 9, 1], "Priority": [1.0, 2.0, 3.0]})
    joined = with_routing_attributes(outlets, routing_attributes(clean_tables(), WINDOW))
    assert joined.columns == ["CustomerId", "Priority", *ROUTING_COLUMNS]
    assert joined["CustomerId"].to_list() == [3, 9, 1]  # the outlets' order
    assert joined["VisitMinutes"].to_list() == [None, None, 25.0]  # 9: no row, nulls
    assert joined["ExclusionReason"].to_list() == [None, None, "dispute"]
    again = with_routing_attributes(joined, routing_attributes(clean_tables(), WINDOW))
    assert again.equals(joined)  # joining twice replaces, never duplicates


def test_rep_table_has_the_homes_and_merge_reps_keeps_them() -> None:
    reps = frame(
        "MV_SetupRep",
        [(1, "home", 1, 48.9, 2.4), (2, "no home", 1, None, None), (3, "bad home", 1, 95.0, None)],
    )
    customers = frame(
        "MV_SetupCustomer",
        [(i, f"c{i}", 1, 1, 48.85, 2.35, "ON_TRADE", i, None, None) for i in (1, 2, 3)],
    )
    base = {
        "MV_SetupArea": pl.DataFrame({"AreaId": [1], "AreaName": ["a"]}),
        "MV_SetupCity": pl.DataFrame({"CityId": [1], "CityName": ["c"], "AreaId": [1]}),
    }
    empty = {
        name: pl.DataFrame(schema=ALL_TABLES[name].columns)
        for name in (
            "MV_SetupCategory",
            "MV_SetupSubCategory",
            "MV_SetupBrand",
            "MV_SetupItem",
            "MV_Sales",
            "MV_SalesDetail",
            "MV_Visit",
        )
    }
    clean = quarantine(base | empty | {"MV_SetupRep": reps, "MV_SetupCustomer": customers})
    table = rep_table(clean.tables).sort("RepId")
    assert dict(table.schema) == REP_SCHEMA
    assert table.rows() == [
        (1, "home", 48.9, 2.4, 1),
        (2, "no home", None, None, 1),
        (3, "bad home", None, None, 1),  # invalid: ignored
    ]
    without_homes = rep_table(
        {
            "MV_SetupRep": reps.select("RepId", "RepName", "AreaId"),
            "MV_SetupCustomer": clean.tables["MV_SetupCustomer"],
        }
    )
    assert without_homes["HomeLatitude"].null_count() == 3
    merged = merge_reps(
        [table.head(2), table.tail(2), table.select("RepId", "RepName", "EligibleOutlets")]
    )
    assert dict(merged.schema) == REP_SCHEMA
    assert merged.rows() == [
        (1, "home", 48.9, 2.4, 2),
        (2, "no home", None, None, 3),
        (3, "bad home", None, None, 2),
    ]
    assert dict(merge_reps([]).schema) == REP_SCHEMA


def test_invalid_planning_inputs_are_health_warnings_with_examples() -> None:
    rows = {
        "MV_SetupRep": frame("MV_SetupRep", [(3, "r", 1, 95.0, None)]).with_columns(
            Reason=pl.lit("invalid_home")
        ),
        "MV_OutletHours": frame("MV_OutletHours", [(2, 8, time(10), time(12))]).with_columns(
            Reason=pl.lit("bad_hours")
        ),
    }
    quarantined = {
        "MV_SetupRep": {"invalid_home": 1},
        "MV_OutletHours": {"bad_hours": 1},
        "MV_SetupCustomer": {"invalid_visit_minutes": 2, "invalid_visit_frequency": 1},
        "MV_VisitPin": {"unknown_customer": 1},
    }
    facts = DataFacts(
        today=None,
        first_sale=None,
        last_sale=None,
        window=WINDOW,
        lookback_weeks=12,
        input_rows={"MV_SetupCustomer": 5},
        clean_rows={"MV_SetupCustomer": 5},
        set_aside=rows,
        quarantined=quarantined,
        routable_outlets=5,
    )
    found = {finding.check: finding for finding in input_findings(facts)}
    assert {check: found[check].count for check in found} == {
        "invalid_home": 1,
        "bad_hours": 1,
        "invalid_visit_minutes": 2,
        "invalid_visit_frequency": 1,
        "unknown_customer": 1,
    }
    assert all(finding.severity == "warning" for finding in found.values())
    assert found["invalid_home"].examples == (
        {"RepId": 3, "HomeLatitude": 95.0, "HomeLongitude": None},
    )
    assert found["bad_hours"].examples == (
        {"CustomerId": 2, "Weekday": 8, "Opens": "10:00:00", "Closes": "12:00:00"},
    )
    json.dumps([finding.to_json() for finding in found.values()])  # times as text
