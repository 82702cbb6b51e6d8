"""The fan-in turns the routing inputs' dates into days of the planned week."""

from __future__ import annotations

from datetime import date

import polars as pl

from visitrank.pipeline.fan_in import routing_columns

MONDAY = date(2026, 11, 16)


def test_pins_and_exclusions_become_days_of_the_week_and_homes_join_by_rep() -> None:
    outlets = pl.DataFrame(
        {
            "RepId": [1, 1, 2],
            "CustomerId": [10, 11, 12],
            "PinnedDate": [date(2026, 11, 19), None, None],  # a Thursday: day 4
            # no visit before Wednesday (day 3); before the week's Monday + 7: not this week
            "ExcludedUntil": [None, date(2026, 11, 18), date(2026, 11, 30)],
        }
    )
    reps = pl.DataFrame(
        {"RepId": [1, 2], "HomeLatitude": [45.0, None], "HomeLongitude": [5.0, None]}
    )
    routed = routing_columns(outlets, reps, MONDAY).sort("CustomerId")
    assert routed["PinnedDay"].to_list() == [4, None, None]
    assert routed["FreeFromDay"].to_list() == [None, 3, 8]
    assert routed["HomeLatitude"].to_list() == [45.0, 45.0, None]
