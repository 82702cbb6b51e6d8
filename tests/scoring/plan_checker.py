"""An independent check of a timed weekly plan: recomputes from the visits and days frames, the
candidates and the day's rules (never from the solver's own numbers) that every day leaves
home at its start, reaches each outlet in time, visits it inside its opening hours, keeps
pins and exclusions, fits the working day and comes back home before its end."""

from __future__ import annotations

from typing import Any

import polars as pl

from scoring.geo import centroid_deg, haversine_km
from scoring.timed_routing import PIN_SLACK_MINUTES, TimeParams
from scoring.timed_weeks import with_routing_columns

ROUNDING = 1  # minutes: the solver works in whole seconds, the frames in whole minutes


def plan_problems(
    visits: pl.DataFrame, days: pl.DataFrame, candidates: pl.DataFrame, timing: TimeParams
) -> list[str]:
    """Every broken rule, in words (empty: the plan is feasible)."""
    problems: list[str] = []
    outlets = {
        row["CustomerId"]: row for row in with_routing_columns(candidates).iter_rows(named=True)
    }
    if visits["CustomerId"].is_duplicated().any():
        problems.append("an outlet is visited twice")
    for rep, count in visits.group_by("RepId").len().iter_rows():
        if count > timing.visits_per_week:
            problems.append(f"rep {rep}: {count} visits > {timing.visits_per_week} a week")
    starts = {(row["RepId"], row["Day"]): row["Start"] for row in days.iter_rows(named=True)}
    for (rep, day), route in visits.sort("RouteOrder").group_by(
        ["RepId", "Day"], maintain_order=True
    ):
        key = (int(str(rep)), int(str(day)))
        problems += _day_problems(*key, starts[key], route, outlets, timing)
    for row in days.iter_rows(named=True):
        planned = visits.filter((pl.col("RepId") == row["RepId"]) & (pl.col("Day") == row["Day"]))
        if planned.height != row["Visits"]:
            problems.append(f"rep {row['RepId']} day {row['Day']}: Visits {row['Visits']}")
    for customer, outlet in outlets.items():
        every, since = outlet["VisitEveryWeeks"], outlet["DaysSinceLastVisit"]
        overdue = every == 1 and since is not None and since >= 14  # a weekly account
        if overdue and visits.filter(pl.col("CustomerId") == customer).height == 0:
            problems.append(f"outlet {customer} is a weekly account overdue and not planned")
        pinned = outlet["PinnedDay"]
        if pinned is not None and 1 <= pinned <= timing.days:
            planned = visits.filter(pl.col("CustomerId") == customer)
            if planned.height == 0 or planned["Day"][0] != pinned:
                problems.append(f"outlet {customer} pinned to day {pinned} is not planned then")
    return problems


def _day_problems(
    rep: int,
    day: int,
    start: int,
    route: pl.DataFrame,
    outlets: dict[Any, dict[str, Any]],
    timing: TimeParams,
) -> list[str]:
    """The rules of one day's route, from leaving home at ``start`` (the rep may leave after
    the day's start, e.g. for an evening outlet, never before)."""
    where = f"rep {rep} day {day}"
    problems: list[str] = []
    if start < timing.day_start:
        problems.append(f"{where}: leaves home at {start}, before the day starts")
    if route.height > timing.day_capacities[day - 1]:
        problems.append(f"{where}: {route.height} visits > {timing.day_capacities[day - 1]}")
    rep_outlets = [o for o in outlets.values() if o["RepId"] == rep]
    home = _home(rep_outlets)
    clock = float(start)
    position = home
    for visit in route.iter_rows(named=True):
        outlet = outlets[visit["CustomerId"]]
        here = (outlet["Latitude"], outlet["Longitude"])
        clock += _travel_minutes(position, here, timing)
        arrival, departure = visit["Arrival"], visit["Departure"]
        minutes = outlet["VisitMinutes"] or timing.visit_minutes
        what = f"{where}: outlet {visit['CustomerId']}"
        if arrival < clock - ROUNDING:
            problems.append(f"{what} reached at {clock:.0f}, not {arrival}")
        if abs(departure - arrival - minutes) > ROUNDING:
            problems.append(f"{what}: the visit lasts {departure - arrival} minutes")
        if not _open(outlet, day, arrival, departure):
            problems.append(f"{what} is closed at {arrival}-{departure}")
        free = outlet["FreeFromDay"] or 1
        if day < free:
            problems.append(f"{what} is excluded before day {free}")
        every, since = outlet["VisitEveryWeeks"], outlet["DaysSinceLastVisit"]
        if every is not None and since is not None and since + day - 1 < 7 * every - 3:
            problems.append(f"{what} visited {since + day - 1} days after its last: not due")
        appointment = outlet["PinnedStart"] if outlet["PinnedDay"] == day else None
        if appointment is not None and not (
            appointment - ROUNDING <= arrival <= appointment + PIN_SLACK_MINUTES + ROUNDING
        ):
            problems.append(f"{what}: appointment at {appointment} kept at {arrival}")
        clock = max(clock, arrival) + minutes
        position = here
    back = clock + _travel_minutes(position, home, timing)
    if back > timing.day_start + timing.day_minutes + ROUNDING:
        problems.append(f"{where}: home at {back:.0f}, after the day's end")
    if back - start > timing.day_minutes - timing.break_minutes + ROUNDING:
        problems.append(f"{where}: {back - start:.0f} minutes leave no break")
    return problems


def _home(outlets: list[dict[str, Any]]) -> tuple[float, float]:
    homes = [(o["HomeLatitude"], o["HomeLongitude"]) for o in outlets if o["HomeLatitude"]]
    if homes:
        return homes[0]
    lat, lon = centroid_deg([o["Latitude"] for o in outlets], [o["Longitude"] for o in outlets])
    return float(lat), float(lon)


def _travel_minutes(a: tuple[float, float], b: tuple[float, float], timing: TimeParams) -> float:
    km = float(haversine_km(a[0], a[1], b[0], b[1]))
    return km * timing.road_factor / timing.speed_kmh * 60


def _open(outlet: dict[str, Any], day: int, arrival: int, departure: int) -> bool:
    hours = outlet["Hours"]
    if hours is None:
        return True
    return any(
        h["Weekday"] == day
        and h["Opens"] - ROUNDING <= arrival
        and departure <= h["Closes"] + ROUNDING
        for h in hours
    )


def travel_minutes_between(
    a: tuple[float, float], b: tuple[float, float], timing: TimeParams
) -> float:
    """Travel minutes of the plan's rules (for hand-computed expectations)."""
    return _travel_minutes(a, b, timing)
