"""Weekly visit planning in time: each rep's week as a prize-collecting vehicle routing problem
with time windows, solved by PyVRP.

The count-based planner (``scoring.routing``) picks visits and packs them into days by number:
days from the centroid of the rep's outlets, 7-7-7-7-2 visits, a bar that opens at 17:00
planned for Monday morning. Here a rep's week is what a rep works:

* **Days are vehicles.** Working day ``d`` (1 = Monday) is one route from the rep's home
  (``HomeLatitude``/``HomeLongitude``; the centroid of the rep's outlets when unknown) back
  home, inside ``[day_start, day_start + day_minutes]`` on its own stretch of a week-long
  clock, with at most ``day_minutes - break_minutes`` from leaving home to coming back and at
  most ``ceil(visits_per_week / days)`` visits (so the week holds ``visits_per_week`` and the
  days are balanced).
* **Time.** Travel minutes = straight-line km x ``road_factor`` / ``speed_kmh``; a visit takes
  the outlet's ``VisitMinutes`` (else ``visit_minutes``) and must end before the outlet closes.
* **Opening hours.** An outlet with ``Hours`` (weekday, opens, closes, in minutes) can be
  visited only inside those intervals; one copy of the outlet per open interval of a working
  day, the copies in a mutually exclusive group (at most one visit). Without hours it is open
  whenever the rep works.
* **Pins, exclusions and overdue outlets.** A pinned outlet (``PinnedDay``: 1..7 of this
  week, optional ``PinnedStart``) is visited that day (within 15 minutes of the time, when
  given) and is required; a must-visit outlet (overdue by its visit frequency) is required on
  any day; an outlet with ``FreeFromDay`` > 1 may only be visited from that day on (8: not
  this week).
* **Objective** as the count-based planner's: first as many visits as the week holds (each
  visit also earns a bonus larger than any visit's value and travel, so a day is never left
  idle while an outlet fits), then the value collected (``Priority``) minus ``λ`` x
  straight-line km, λ derived the same way (``routing.travel_price``). PyVRP minimises
  distance cost plus uncollected prizes, which is the same up to a constant.
* **Starts and fallback.** The search starts from the better feasible of two plans: the
  outlets inserted one at a time where PyVRP's own route check accepts them and they add the
  fewest km (required outlets first, then the count-based plan's, then the rest of the pool,
  by priority), and the count-based plan cut to what fits each weekday (feasible when its
  days fit the time rules; then the week is never worth less than the count-based one). It
  returns the start if the search ends below it. Iterations and seed are fixed, so the same
  data give the same plan (PyVRP's wall-clock limits would not). If the search ends without
  a feasible plan (pins or overdue outlets that do not fit together), the required outlets
  the insertion could not place become ordinary visits, then, if still infeasible, all of
  them; the plan's notes say how many.

Why PyVRP: a maintained (MIT) solver whose model has exactly these pieces (optional clients
with prizes, time windows, per-vehicle depots and shifts, mutually exclusive groups), with
deterministic fixed-iteration runs; measured against the count-based heuristic and OR-Tools
before adoption (docs/routing.md).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pyvrp
from pyvrp.stop import MaxIterations

from scoring.geo import FloatArray, centroid_deg, pairwise_haversine_km

IntArray = npt.NDArray[np.int64]

SECONDS_PER_DAY = 86_400
PIN_SLACK_MINUTES = 15
ANY_DAY = -1
"""The day of a client copy that may be visited on any working day."""
COST_SCALE = 1_000
"""Priorities and km costs are scaled to integers (PyVRP works in integers)."""
SOLVE_PARAMS = pyvrp.SolveParams(penalty=pyvrp.PenaltyParams(max_penalty=1e12))
"""PyVRP's default penalty ceiling (1e5 per unit of excess load or second of lateness) is below
one visit's scaled prize, so an overloaded day would pay: the ceiling is raised."""


@dataclass(frozen=True)
class TimeParams:
    """How a rep's day works (see the module docstring)."""

    days: int = 5
    visits_per_week: int = 30
    max_visits_per_day: int = 7
    day_start: int = 8 * 60 + 30
    day_minutes: int = 9 * 60
    break_minutes: int = 30
    speed_kmh: float = 35.0
    road_factor: float = 1.3
    visit_minutes: float = 20.0
    iterations: int = 800
    seed: int = 0

    def __post_init__(self) -> None:
        if not 0 <= self.day_start < 24 * 60:
            raise ValueError(f"day_start must be minutes in a day, got {self.day_start}")
        if not 0 < self.day_minutes <= 24 * 60 - self.day_start:
            raise ValueError(f"day_minutes must fit the day, got {self.day_minutes}")
        if not 0 <= self.break_minutes < self.day_minutes:
            raise ValueError(f"break_minutes must be in [0, day_minutes), got {self.break_minutes}")
        if not (self.speed_kmh > 0 and self.road_factor >= 1 and self.visit_minutes > 0):
            raise ValueError(
                "speed_kmh > 0, road_factor >= 1 and visit_minutes > 0 required, got "
                f"{self.speed_kmh}, {self.road_factor}, {self.visit_minutes}"
            )

    @property
    def day_capacities(self) -> tuple[int, ...]:
        """The visits each day holds: the week's visits spread evenly, the first days taking
        the remainder, so the week never holds more than ``visits_per_week``."""
        even, extra = divmod(self.visits_per_week, self.days)
        return tuple(min(self.max_visits_per_day, even + (day < extra)) for day in range(self.days))

    def travel_seconds(self, km: FloatArray) -> IntArray:
        """Travel time of straight-line distances, in whole seconds."""
        return np.rint(km * self.road_factor / self.speed_kmh * 3600).astype(np.int64)


Window = tuple[int, int, int]
"""(weekday 1..7, opens, closes) in minutes from midnight."""


@dataclass(frozen=True)
class RepWeek:
    """One rep's candidates, sorted by Priority descending (the pool)."""

    lat: FloatArray
    lon: FloatArray
    priority: FloatArray
    visit_minutes: FloatArray
    hours: Sequence[Sequence[Window] | None]
    pinned_day: IntArray
    pinned_start: IntArray
    free_from_day: IntArray
    home: tuple[float, float] | None = None
    must_visit: npt.NDArray[np.bool_] | None = None
    """Overdue outlets (a frequency rule): planned on some day of the week, like a pin."""

    def required(self, row: int) -> bool:
        """Whether the outlet at ``row`` must be in the week (pinned or must-visit)."""
        must = self.must_visit is not None and bool(self.must_visit[row])
        return must or int(self.pinned_day[row]) > 0

    def __len__(self) -> int:
        return int(self.lat.size)


@dataclass(frozen=True)
class TimedPlan:
    """A rep's week: per visit the pool row, day (1 = Monday), order, arrival and departure
    (minutes from midnight); per used day its start and end (minutes) and straight-line km;
    and why the plan is what it is (``notes``)."""

    row: IntArray
    day: IntArray
    order: IntArray
    arrival: IntArray
    departure: IntArray
    day_start: dict[int, int]
    day_end: dict[int, int]
    day_km: dict[int, float]
    objective: float
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Model:
    """The PyVRP problem of one rep and the pool row and day of every client copy."""

    data: pyvrp.ProblemData
    copy_row: IntArray
    copy_day: IntArray
    dist_km: FloatArray


def plan_rep_week(
    week: RepWeek, params: TimeParams, lam: float, seed_days: dict[int, list[int]] | None = None
) -> TimedPlan:
    """Plan one rep's week (see the module docstring). ``lam``: value per straight-line km.
    ``seed_days``: the count-based plan, day -> pool rows in route order, to start from."""
    notes: list[str] = []
    model = _build(week, params, lam)
    result = _solve(model, week, params, seed_days)
    required = frozenset(row for row in range(len(week)) if week.required(row))
    if not result.is_feasible() and required:
        # first only the required visits that the insertion start could not place become
        # ordinary ones (the others stay required), then all of them
        start = _insertion_seed(model, seed_days or {}, week, params)
        placed = {int(model.copy_row[a.idx]) for r in start.routes() for a in r.schedule()}
        for relaxed in (required - placed, required):
            if relaxed:
                model = _build(week, params, lam, relaxed=relaxed)
                result = _solve(model, week, params, seed_days)
                if result.is_feasible():
                    break
        notes.append(
            f"{len(relaxed)} pinned or overdue visit(s) could not be kept: planned as "
            "ordinary visits"
        )
    return _read(model, result, week, params, lam, notes)


def _home(week: RepWeek) -> tuple[float, float]:
    if week.home is not None:
        return week.home
    lat, lon = centroid_deg(week.lat, week.lon)
    return float(lat), float(lon)


def _windows(week: RepWeek, row: int, params: TimeParams, pins: bool) -> list[tuple[int, int, int]]:
    """(day 0-based, earliest start, latest start) in seconds of the week clock, for every
    interval the outlet at ``row`` may be visited in."""
    service = round(float(week.visit_minutes[row]) * 60)
    day_open, day_close = params.day_start, params.day_start + params.day_minutes
    pinned = int(week.pinned_day[row]) if pins else 0
    first = int(week.free_from_day[row]) - 1
    hours = week.hours[row]
    if hours is None and not pinned and first <= 0:
        # open whenever the rep works: one client, the days' shifts bound its visit
        last = (params.days - 1) * SECONDS_PER_DAY + day_close * 60 - service
        return [(ANY_DAY, day_open * 60, last)]
    days = [pinned - 1] if 0 < pinned <= params.days else list(range(params.days))
    windows = []
    for day in days:
        if day < first:
            continue
        intervals = (
            [(day_open, day_close)]
            if hours is None
            else [(opens, closes) for weekday, opens, closes in hours if weekday == day + 1]
        )
        if pinned and int(week.pinned_start[row]) >= 0:
            start = int(week.pinned_start[row])
            intervals = [(start, start + PIN_SLACK_MINUTES + math.ceil(week.visit_minutes[row]))]
        for opens, closes in intervals:
            early = max(opens, day_open) * 60
            late = min(closes, day_close) * 60 - service
            if late >= early:
                windows.append((day, day * SECONDS_PER_DAY + early, day * SECONDS_PER_DAY + late))
    return windows


def _build(
    week: RepWeek, params: TimeParams, lam: float, *, relaxed: frozenset[int] = frozenset()
) -> _Model:
    """The PyVRP problem of the rep's week; the pool rows in ``relaxed`` lose their pin or
    must-visit rule (ordinary visits on any day they are free)."""
    home_lat, home_lon = _home(week)
    lat = np.r_[home_lat, week.lat]
    lon = np.r_[home_lon, week.lon]
    dist_km = pairwise_haversine_km(lat, lon)
    # every visit also earns more than any visit is worth or costs in km: the week is filled
    # first (its visits_per_week, when the days hold them), then valued
    bonus = float(week.priority.max(initial=0.0)) + lam * 2 * float(dist_km.max()) + 1.0
    model = pyvrp.Model()
    # coordinates only guide PyVRP's neighbourhoods: km east and north of the home
    x = (lon - home_lon) * 111.32 * math.cos(math.radians(home_lat))
    y = (lat - home_lat) * 110.57
    locations = [model.add_location(float(a), float(b)) for a, b in zip(x, y, strict=True)]
    depot = model.add_depot(locations[0])
    shift = (params.day_minutes - params.break_minutes) * 60
    for day in range(params.days):
        start = day * SECONDS_PER_DAY + params.day_start * 60
        model.add_vehicle_type(
            capacity=params.day_capacities[day],
            start_depot=depot,
            end_depot=depot,
            tw_early=start,
            tw_late=start + params.day_minutes * 60,
            shift_duration=shift,
            name=f"day {day + 1}",
        )
    copy_row, copy_day = [], []
    for row in range(len(week)):
        pins = row not in relaxed
        windows = _windows(week, row, params, pins)
        if not windows:
            continue
        # a pin on a day the rep does not work (a Saturday) cannot be kept: an ordinary visit
        pinned = int(week.pinned_day[row])
        required = pins and week.required(row) and pinned <= params.days
        group = model.add_client_group(required=required) if len(windows) > 1 else None
        service = round(float(week.visit_minutes[row]) * 60)
        prize = round((float(week.priority[row]) + bonus) * COST_SCALE)
        for day, early, late in windows:
            model.add_client(
                locations[row + 1],
                delivery=1,
                service_duration=service,
                tw_early=early,
                tw_late=late,
                prize=prize,
                required=required and group is None,
                group=group,
            )
            copy_row.append(row)
            copy_day.append(day)
    distances: list[Any] = [np.rint(dist_km * lam * COST_SCALE).astype(np.int64)]
    durations: list[Any] = [params.travel_seconds(dist_km)]
    data = model.data().replace(distance_matrices=distances, duration_matrices=durations)
    return _Model(data, np.asarray(copy_row, np.int64), np.asarray(copy_day, np.int64), dist_km)


def _count_seed(
    model: _Model, seed_days: dict[int, list[int]], params: TimeParams
) -> pyvrp.Solution:
    """The count-based plan in this model: each visit on its day's copy (or the outlet's
    first open day with room), at most the day's capacity, in the plan's order. Feasible
    when the plan fits the time rules (no hours, days long enough): then the search starts
    from it and never ends below it."""
    copies: dict[tuple[int, int], int] = {}
    for index, (row, day) in enumerate(zip(model.copy_row, model.copy_day, strict=True)):
        copies.setdefault((int(row), int(day)), index)
    routes: dict[int, list[int]] = {day: [] for day in range(params.days)}
    placed: set[int] = set()
    for day, rows in sorted(seed_days.items()):
        for row in rows:
            for option in [day - 1, *range(params.days)]:
                copy = copies.get((row, option), copies.get((row, ANY_DAY)))
                room = option in routes and len(routes[option]) < params.day_capacities[option]
                if copy is not None and row not in placed and room:
                    routes[option].append(copy)
                    placed.add(row)
                    break
    solution_routes = [
        pyvrp.Route(model.data, visits, day) for day, visits in routes.items() if visits
    ]
    return pyvrp.Solution(model.data, solution_routes)


def _insertion_seed(
    model: _Model, seed_days: dict[int, list[int]], week: RepWeek, params: TimeParams
) -> pyvrp.Solution:
    """A feasible start for the search: the outlets inserted one at a time, each where it
    adds the fewest km among the places PyVRP's own route check accepts (its open days and
    intervals, the day's capacity, length and shift) - required outlets first, then the
    count-based plan's, then the rest of the pool, each group by priority - until the days are
    full. The count-based plan itself ignores hours and time: with opening hours it broke a
    window on every demo rep, and a search started there lost value it never found again
    (docs/routing.md)."""
    copies: dict[int, list[int]] = {}
    for index, row in enumerate(model.copy_row):
        copies.setdefault(int(row), []).append(index)
    counted = {row for rows in seed_days.values() for row in rows}
    # pool rows are sorted by priority, best first
    order = sorted(copies, key=lambda row: (not week.required(row), row not in counted, row))
    routes: list[list[int]] = [[] for _ in range(params.days)]
    km = [0] * params.days
    room = sum(params.day_capacities)
    for row in order:
        if room == 0:
            break
        best: tuple[int, int, list[int]] | None = None
        for copy in copies[row]:
            day = int(model.copy_day[copy])
            for option in range(params.days) if day == ANY_DAY else [day]:
                visits = routes[option]
                if len(visits) >= params.day_capacities[option]:
                    continue
                for at in range(len(visits) + 1):
                    trial = [*visits[:at], copy, *visits[at:]]
                    route = pyvrp.Route(model.data, trial, option)
                    added = int(route.distance()) - km[option]
                    if route.is_feasible() and (best is None or added < best[0]):
                        best = (added, option, trial)
        if best is not None:
            added, option, trial = best
            routes[option], km[option] = trial, km[option] + added
            room -= 1
    solution_routes = [
        pyvrp.Route(model.data, visits, day) for day, visits in enumerate(routes) if visits
    ]
    return pyvrp.Solution(model.data, solution_routes)


def _solve(
    model: _Model, week: RepWeek, params: TimeParams, seed_days: dict[int, list[int]] | None
) -> pyvrp.Solution:
    if model.data.num_clients == 0:
        return pyvrp.Solution(model.data, [])
    starts = [_insertion_seed(model, seed_days or {}, week, params)]
    if seed_days:
        starts.append(_count_seed(model, seed_days, params))
    feasible = [start for start in starts if start.is_feasible()]
    initial = min(feasible, key=_cost) if feasible else starts[0]
    result = pyvrp.solve(
        model.data,
        MaxIterations(params.iterations),
        seed=params.seed,
        collect_stats=False,
        display=False,
        params=SOLVE_PARAMS,
        initial_solution=initial,
    )
    best: pyvrp.Solution = result.best
    if initial.is_feasible() and (not best.is_feasible() or _cost(initial) < _cost(best)):
        return initial  # never worse than the best feasible start
    return best


def _minutes(seconds: int) -> int:
    """Seconds of a day as the nearest minute: within half a minute of the solver's time, and
    an arrival at or after a window's (whole-minute) opening, or a departure at or before its
    closing, stays so."""
    return round(seconds / 60)


def _cost(solution: pyvrp.Solution) -> int:
    return int(solution.distance_cost()) + int(solution.uncollected_prizes())


def _read(
    model: _Model,
    solution: pyvrp.Solution,
    week: RepWeek,
    params: TimeParams,
    lam: float,
    notes: list[str],
) -> TimedPlan:
    rows, days, orders, arrivals, departures = [], [], [], [], []
    day_start, day_end, day_km = {}, {}, {}
    for route in solution.routes():
        day = int(route.vehicle_type())
        base = day * SECONDS_PER_DAY
        visits = [activity for activity in route.schedule() if activity.is_client()]
        path = [0]
        for order, activity in enumerate(visits, start=1):
            row = int(model.copy_row[activity.idx])  # a client's index among the clients
            rows.append(row)
            days.append(day + 1)
            orders.append(order)
            arrivals.append(_minutes(int(activity.start_time) - base))
            departures.append(_minutes(int(activity.end_time) - base))
            path.append(row + 1)
        path.append(0)
        day_start[day + 1] = _minutes(int(route.start_time()) - base)
        day_end[day + 1] = _minutes(int(route.end_time()) - base)
        day_km[day + 1] = float(model.dist_km[path[:-1], path[1:]].sum())
    objective = float(np.sum(week.priority[rows])) - lam * sum(day_km.values())
    return TimedPlan(
        row=np.asarray(rows, np.int64),
        day=np.asarray(days, np.int64),
        order=np.asarray(orders, np.int64),
        arrival=np.asarray(arrivals, np.int64),
        departure=np.asarray(departures, np.int64),
        day_start=day_start,
        day_end=day_end,
        day_km=day_km,
        objective=objective,
        notes=notes,
    )
