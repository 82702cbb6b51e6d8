"""The timed weekly planner: hand-computed times on a small week, the day's rules (opening
hours, pins, exclusions, day length) checked by an independent recomputation, determinism,
and the planner's value against the count-based plan it starts from."""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl
import pytest

from scoring.geo import pairwise_haversine_km
from scoring.routing import RoutingParams, plan_weeks, travel_price
from scoring.timed_routing import TimeParams
from scoring.timed_weeks import left_out, plan_timed_weeks

from .plan_checker import plan_problems

HOME = (45.0, 5.0)
KM_PER_DEGREE_LAT = 111.195  # haversine on the 6371 km sphere
TIMING = TimeParams(speed_kmh=39.0, road_factor=1.3, visit_minutes=20.0, iterations=200)
ROUTING = RoutingParams(
    visits_per_week=30, days=5, max_visits_per_day=7, candidate_pool=90, travel_tradeoff=0.02
)
HOURS = pl.List(pl.Struct({"Weekday": pl.Int8, "Opens": pl.Int16, "Closes": pl.Int16}))


def outlet(customer: int, north_km: float, priority: float, **extra: Any) -> dict[str, Any]:
    return {
        "RepId": 1,
        "CustomerId": customer,
        "Latitude": HOME[0] + north_km / KM_PER_DEGREE_LAT,
        "Longitude": HOME[1],
        "Priority": priority,
        "HomeLatitude": HOME[0],
        "HomeLongitude": HOME[1],
        **extra,
    }


def frame(rows: list[dict[str, Any]]) -> pl.DataFrame:
    return pl.DataFrame(
        rows,
        schema_overrides={"Hours": HOURS, "PinnedDay": pl.Int8, "PinnedStart": pl.Int16},
        infer_schema_length=None,
    )


def test_one_outlet_ten_km_away_is_reached_in_twenty_minutes() -> None:
    """10 km straight x 1.3 road = 13 km at 39 km/h = 20 minutes: leave home at 08:30,
    arrive 08:50, leave 09:10 after the 20-minute visit, home at 09:30."""
    candidates = frame([outlet(7, 10.0, 100.0)])
    visits, days = plan_timed_weeks(candidates, ROUTING, TIMING)
    assert visits.select("CustomerId", "Arrival", "Departure").row(0) == (7, 530, 550)
    assert days.select("Visits", "Start", "End").row(0) == (1, 510, 570)
    assert days["Km"][0] == pytest.approx(20.0, abs=0.01)  # there and back, straight line


def test_hours_pins_and_exclusions_decide_the_days() -> None:
    bar = {"Hours": [{"Weekday": 2, "Opens": 16 * 60, "Closes": 22 * 60}]}
    candidates = frame(
        [
            outlet(1, 5.0, 50.0, **bar),  # open on Tuesday evening only
            outlet(2, 6.0, 40.0, PinnedDay=3, PinnedStart=10 * 60),  # Wednesday 10:00
            outlet(3, 7.0, 90.0, FreeFromDay=5),  # excluded until Thursday
            outlet(4, 8.0, 30.0, FreeFromDay=8),  # excluded all week
            outlet(5, 3.0, 20.0, VisitMinutes=45.0),
        ]
    )
    visits, days = plan_timed_weeks(candidates, ROUTING, TIMING)
    day = dict(zip(visits["CustomerId"], visits["Day"], strict=True))
    assert day[1] == 2 and day[2] == 3 and day[3] == 5 and 4 not in day
    bar_visit = visits.filter(pl.col("CustomerId") == 1).row(0, named=True)
    assert bar_visit["Arrival"] >= 16 * 60 and bar_visit["Departure"] <= 22 * 60 - 0
    pinned = visits.filter(pl.col("CustomerId") == 2).row(0, named=True)
    assert 600 <= pinned["Arrival"] <= 615
    long_visit = visits.filter(pl.col("CustomerId") == 5).row(0, named=True)
    assert long_visit["Departure"] - long_visit["Arrival"] == 45
    assert plan_problems(visits, days, candidates, TIMING) == []


def test_a_day_never_runs_past_its_end() -> None:
    """Outlets 90 km away: 2 h each way; a 9-hour day with a 30-minute break holds two of
    them at most (4 h 20 min of driving between and 40 min of visits would fit, a third trip
    would not), so some are left out rather than planned late."""
    far = [outlet(100 + i, 90.0 + i * 0.2, 100.0 - i) for i in range(12)]
    timing = TimeParams(speed_kmh=58.5, road_factor=1.3, iterations=200, days=1)
    routing = RoutingParams(
        visits_per_week=6, days=1, max_visits_per_day=6, candidate_pool=12, travel_tradeoff=0.0
    )
    visits, days = plan_timed_weeks(frame(far), routing, timing)
    assert 0 < visits.height < 12
    assert plan_problems(visits, days, frame(far), timing) == []


def territory(reps: int, outlets: int, seed: int) -> pl.DataFrame:
    """Random territories: outlets around each rep's home, a third with evening hours, a
    few pinned and excluded."""
    rng = np.random.default_rng(seed)
    rows = []
    for rep in range(reps):
        home = (45 + rng.uniform(-1, 1), 5 + rng.uniform(-1, 1))
        for i in range(outlets):
            hours = None
            if i % 3 == 0:
                opens = int(rng.choice([8 * 60, 11 * 60, 16 * 60]))
                hours = [
                    {"Weekday": d, "Opens": opens, "Closes": opens + 6 * 60}
                    for d in range(1, 6)
                    if rng.random() < 0.7
                ]
            rows.append(
                {
                    "RepId": rep,
                    "CustomerId": rep * 10_000 + i,
                    "Latitude": home[0] + rng.normal(0, 0.12),
                    "Longitude": home[1] + rng.normal(0, 0.16),
                    "Priority": float(rng.gamma(2.0, 50.0)),
                    "HomeLatitude": home[0],
                    "HomeLongitude": home[1],
                    "Hours": hours or None,
                    "VisitMinutes": float(rng.choice([15.0, 25.0, 40.0])),
                    "PinnedDay": int(rng.integers(1, 6)) if i in (5, 40) else None,
                    "PinnedStart": None,
                    "FreeFromDay": 3 if i in (1, 2) else None,
                }
            )
    return frame(rows)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_territories_give_feasible_deterministic_plans(seed: int) -> None:
    candidates = territory(reps=3, outlets=120, seed=seed)
    visits, days = plan_timed_weeks(candidates, ROUTING, TIMING)
    assert plan_problems(visits, days, candidates, TIMING) == []
    assert visits.group_by("RepId").len()["len"].min() >= 20  # the weeks are not empty
    again = plan_timed_weeks(candidates, ROUTING, TIMING)
    assert visits.equals(again[0]) and days.equals(again[1])


def test_the_timed_week_is_worth_at_least_its_seed_when_unconstrained() -> None:
    """Without hours, pins or exclusions, and a day long enough for the count-based plan,
    the timed plan's objective (value minus the price of its km) is never below the
    count-based plan's, which it starts from (cut to the same visits per day)."""
    candidates = territory(reps=3, outlets=120, seed=7).with_columns(
        Hours=pl.lit(None, dtype=HOURS),
        PinnedDay=pl.lit(None, dtype=pl.Int8),
        FreeFromDay=pl.lit(None, dtype=pl.Int8),
        VisitMinutes=pl.lit(5.0),
    )
    routing = RoutingParams(
        visits_per_week=30, days=5, max_visits_per_day=6, candidate_pool=90, travel_tradeoff=0.5
    )
    timing = TimeParams(day_minutes=14 * 60, iterations=200, speed_kmh=60.0)
    basic = candidates.select("RepId", "CustomerId", "Latitude", "Longitude", "Priority")
    counted, counted_days = plan_weeks(basic, routing)
    timed, timed_days = plan_timed_weeks(candidates, routing, timing)
    for rep, pool in basic.sort("Priority", descending=True).group_by("RepId"):
        top = pool.head(routing.candidate_pool)
        lam = travel_price(
            top["Priority"].to_numpy(),
            pairwise_haversine_km(top["Latitude"].to_numpy(), top["Longitude"].to_numpy()),
            routing,
        )

        mine = pl.col("RepId") == rep[0]
        timed_value = (
            timed.filter(mine)["Priority"].sum() - lam * timed_days.filter(mine)["Km"].sum()
        )
        counted_value = (
            counted.filter(mine)["Priority"].sum() - lam * counted_days.filter(mine)["Km"].sum()
        )
        assert timed_value >= counted_value - 1e-6


def test_the_outlets_left_out_say_why() -> None:
    saturday_only = {"Hours": [{"Weekday": 6, "Opens": 9 * 60, "Closes": 18 * 60}]}
    candidates = frame(
        [
            outlet(1, 2.0, 90.0, FreeFromDay=8),  # excluded all week
            outlet(2, 3.0, 80.0, **saturday_only),  # closed Monday to Friday
            outlet(3, 300.0, 70.0),  # 300 km x 1.3 by road at 39 km/h: 10 h each way
            outlet(4, 4.0, 0.0),  # nothing to gain, but the week has room: it is filled
            outlet(5, 1.0, 10.0),
        ]
    )
    visits, _ = plan_timed_weeks(candidates, ROUTING, TIMING)
    assert sorted(visits["CustomerId"].to_list()) == [4, 5]
    why = dict(left_out(candidates, visits, TIMING).select("CustomerId", "Why").iter_rows())
    assert why[1] == "excluded this week"
    assert why[2] == "closed on the working days"
    assert why[3] == "too far for a day: 1200 min there and back from the rep's home"


def test_visit_frequencies_hold_back_force_in_and_say_so() -> None:
    candidates = frame(
        [
            outlet(1, 2.0, 90.0, VisitEveryWeeks=2, DaysSinceLastVisit=5),  # due in 9 days
            outlet(2, 3.0, 0.0, VisitEveryWeeks=1, DaysSinceLastVisit=20),  # overdue
            outlet(3, 4.0, 50.0, VisitEveryWeeks=2, DaysSinceLastVisit=8),  # due on Thursday
            outlet(4, 5.0, 40.0, VisitEveryWeeks=4),  # never visited
            outlet(5, 6.0, 30.0),  # no rule
            outlet(6, 2.5, 20.0, VisitEveryWeeks=2, DaysSinceLastVisit=21),
        ]
    )
    visits, days = plan_timed_weeks(candidates, ROUTING, TIMING)
    planned = {row["CustomerId"]: row for row in visits.iter_rows(named=True)}
    assert 1 not in planned
    # worth nothing, but a week overdue: forced in
    assert planned[2]["Rule"] == "every 1 week(s): overdue, must visit, last visit 20 days ago"
    # fortnightly, three weeks since: its value rises to 1.5 x max(own 20, the rep's median
    # of 0, 20, 30, 40, 50, 90 = 35)
    assert planned[6]["Rule"] == "every 2 week(s): overdue, value x1.5, last visit 21 days ago"
    assert planned[6]["Priority"] == pytest.approx(1.5 * 35.0)
    # 14 - 3 days after the last visit 8 days before Monday: from Thursday (day 4)
    assert planned[3]["Day"] >= 4
    assert planned[3]["Rule"] == "every 2 week(s): due, last visit 8 days ago"
    assert planned[4]["Rule"] == "every 4 week(s): due, never visited"
    assert planned[5]["Rule"] is None
    why = dict(left_out(candidates, visits, TIMING).select("CustomerId", "Why").iter_rows())
    assert why[1] == "every 2 week(s): not due, last visit 5 days ago"
    assert plan_problems(visits, days, candidates, TIMING) == []


def test_appointments_that_clash_keep_the_first_and_say_why_of_the_rest() -> None:
    """Two appointments on Monday at 10:00, 30 km apart (an hour's drive): both cannot be
    kept. The one worth more keeps its time; the other becomes an ordinary visit on another
    day rather than both losing their pins."""
    candidates = frame(
        [
            outlet(1, 15.0, 80.0, PinnedDay=1, PinnedStart=10 * 60),
            outlet(2, -15.0, 60.0, PinnedDay=1, PinnedStart=10 * 60),
            outlet(3, 2.0, 10.0),
        ]
    )
    visits, _ = plan_timed_weeks(candidates, ROUTING, TIMING)
    planned = {row["CustomerId"]: row for row in visits.iter_rows(named=True)}
    assert planned[1]["Day"] == 1 and 600 <= planned[1]["Arrival"] <= 615
    assert 2 in planned and not (planned[2]["Day"] == 1 and planned[2]["Arrival"] <= 615)


def test_a_pin_that_cannot_be_kept_is_left_out_with_why() -> None:
    """Pinned to Monday, but open on Tuesdays only: no visit is possible that day."""
    tuesday = {"Hours": [{"Weekday": 2, "Opens": 9 * 60, "Closes": 18 * 60}]}
    candidates = frame([outlet(1, 3.0, 50.0, PinnedDay=1, **tuesday), outlet(2, 4.0, 5.0)])
    visits, _ = plan_timed_weeks(candidates, ROUTING, TIMING)
    assert visits["CustomerId"].to_list() == [2]
    why = dict(left_out(candidates, visits, TIMING).select("CustomerId", "Why").iter_rows())
    assert why[1] == (
        "pinned or overdue, but it does not fit the week's time with the other required "
        "visits (opening hours, day length)"
    )
