"""Every rep's week planned in time (``scoring.timed_routing``), from the candidates frame.

The count-based planner (``scoring.routing.plan_weeks``) runs first: its plan seeds each rep's
search and is the fallback. The optional columns of the candidates (the routing inputs of the
data contract) are used when present: ``HomeLatitude``/``HomeLongitude`` (per rep),
``VisitMinutes``, ``Hours`` (list of {Weekday, Opens, Closes}), ``PinnedDay`` (1..7 of the
week), ``PinnedStart`` (minutes) and ``FreeFromDay`` (first day the outlet may be visited;
beyond the working days: not this week).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl

from scoring.geo import EARTH_RADIUS_KM, centroid_deg, pairwise_haversine_km
from scoring.routing import DAYS_SCHEMA, VISITS_SCHEMA, RoutingParams, plan_weeks, travel_price
from scoring.timed_routing import RepWeek, TimedPlan, TimeParams, Window, plan_rep_week

TIMED_VISITS_SCHEMA: dict[str, pl.DataType] = {
    **VISITS_SCHEMA,
    "Arrival": pl.Int32(),
    "Departure": pl.Int32(),
    "Rule": pl.String(),
}
TIMED_DAYS_SCHEMA: dict[str, pl.DataType] = {
    **DAYS_SCHEMA,
    "Start": pl.Int32(),
    "End": pl.Int32(),
}
OPTIONAL_COLUMNS: dict[str, pl.DataType] = {
    "VisitMinutes": pl.Float64(),
    "Hours": pl.List(pl.Struct({"Weekday": pl.Int8, "Opens": pl.Int16, "Closes": pl.Int16})),
    "PinnedDay": pl.Int8(),
    "PinnedStart": pl.Int16(),
    "FreeFromDay": pl.Int8(),
    "HomeLatitude": pl.Float64(),
    "HomeLongitude": pl.Float64(),
    "VisitEveryWeeks": pl.Int64(),
    "DaysSinceLastVisit": pl.Int64(),
}
FREQUENCY_TOLERANCE_DAYS = 3
"""An outlet visited every k weeks is due from 7k - 3 days after its last visit (a fortnightly
outlet seen 11 days ago may be visited), and overdue a full week after 7k days."""
OVERDUE_BOOST = 1.5
"""How much an overdue outlet's value rises (``with_frequency``)."""


def with_routing_columns(candidates: pl.DataFrame) -> pl.DataFrame:
    """The candidates with every optional routing column (null when the data has none)."""
    missing = [
        pl.lit(None, dtype=dtype).alias(name)
        for name, dtype in OPTIONAL_COLUMNS.items()
        if name not in candidates.columns
    ]
    return candidates.with_columns(missing).with_columns(
        pl.col(name).cast(dtype) for name, dtype in OPTIONAL_COLUMNS.items()
    )


def plan_timed_weeks(
    candidates: pl.DataFrame, routing: RoutingParams, timing: TimeParams
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(visits, days) of every rep, as ``routing.plan_weeks`` plus ``Arrival``/``Departure``
    per visit and ``Start``/``End`` per day (minutes from midnight); ``Day`` is the weekday
    (1 = Monday). Outlets not free this week are never planned; pinned outlets are planned
    even beyond the rep's candidate pool."""
    frame = with_frequency(with_routing_columns(candidates), timing.days).filter(
        pl.col("FreeFromDay").fill_null(1) <= timing.days
    )
    frame = frame.sort(["RepId", "Priority", "CustomerId"], descending=[False, True, False])
    if frame.height == 0:
        return pl.DataFrame(schema=TIMED_VISITS_SCHEMA), pl.DataFrame(schema=TIMED_DAYS_SCHEMA)
    seed_visits, _ = plan_weeks(
        frame.select("RepId", "CustomerId", "Latitude", "Longitude", "Priority"), routing
    )
    seeds = seed_visits.partition_by("RepId", as_dict=True)
    visit_parts, day_parts = [], []
    for (rep_id,), rep in frame.partition_by("RepId", as_dict=True, maintain_order=True).items():
        pool = _pool(rep, routing.candidate_pool)
        week = _rep_week(pool, timing, _home(rep))
        lam = _lambda(week, routing)
        seed = seeds.get((rep_id,))
        plan = plan_rep_week(week, timing, lam, _seed_days(pool, seed))
        visits, days = _frames(int(str(rep_id)), pool, plan)
        visit_parts.append(visits)
        day_parts.append(days)
    visits = pl.concat(visit_parts).sort(["RepId", "Day", "RouteOrder"])
    return visits, pl.concat(day_parts).sort(["RepId", "Day"])


def with_frequency(frame: pl.DataFrame, days: int) -> pl.DataFrame:
    """The candidates with their visit-frequency rule applied (``VisitEveryWeeks``, days
    since the last visit at the week's start):

    * not due this week: the outlet waits (``FreeFromDay`` pushed to the day it falls due;
      past the working days, not this week);
    * overdue (a full week late): its value rises to ``OVERDUE_BOOST`` x the larger of its
      own and the rep's median priority, so an overdue outlet with no gap still competes;
    * a weekly outlet (``VisitEveryWeeks`` = 1, a key account) overdue is a must-visit
      (``MustVisit``): forced into the week like a pin, on any day;

    and ``Rule`` says which rule applied."""
    every = pl.col("VisitEveryWeeks")
    since = pl.col("DaysSinceLastVisit")
    due_day = 7 * every - FREQUENCY_TOLERANCE_DAYS - since + 1  # 1 = Monday
    overdue = (since >= 7 * every + 7).fill_null(False)
    last = pl.format("last visit {} days ago", since)
    rule = (
        pl.when(every.is_null())
        .then(pl.lit(None, dtype=pl.String))
        .when(since.is_null())
        .then(pl.format("every {} week(s): due, never visited", every))
        .when(overdue & (every == 1))
        .then(pl.format("every {} week(s): overdue, must visit, {}", every, last))
        .when(overdue)
        .then(pl.format("every {} week(s): overdue, value x{}, {}", every, OVERDUE_BOOST, last))
        .when(due_day > days)
        .then(pl.format("every {} week(s): not due, {}", every, last))
        .otherwise(pl.format("every {} week(s): due, {}", every, last))
    )
    free = pl.max_horizontal(pl.col("FreeFromDay").fill_null(1), due_day.fill_null(1).clip(1, 8))
    median = pl.col("Priority").median().over("RepId")
    boosted = pl.max_horizontal(pl.col("Priority"), median) * OVERDUE_BOOST
    return frame.with_columns(
        Rule=rule,
        MustVisit=overdue & (every == 1).fill_null(False),
        FreeFromDay=pl.when(every.is_null()).then(pl.col("FreeFromDay")).otherwise(free),
        Priority=pl.when(overdue).then(boosted).otherwise(pl.col("Priority")),
    ).with_columns(pl.col("FreeFromDay").cast(pl.Int8))


def _pool(rep: pl.DataFrame, size: int) -> pl.DataFrame:
    """The rep's ``size`` best outlets and every pinned or must-visit one, by priority."""
    ranked = rep.with_row_index("Position")
    keep = (pl.col("Position") < size) | pl.col("PinnedDay").is_not_null() | pl.col("MustVisit")
    return ranked.filter(keep).drop("Position")


def _home(rep: pl.DataFrame) -> tuple[float, float]:
    """The rep's home: given, else the centroid of all its candidates (as the count-based
    planner's base)."""
    homes = rep.select("HomeLatitude", "HomeLongitude").drop_nulls()
    if homes.height:
        return float(homes[0, 0]), float(homes[0, 1])
    lat, lon = centroid_deg(rep["Latitude"].to_numpy(), rep["Longitude"].to_numpy())
    return float(lat), float(lon)


def _rep_week(pool: pl.DataFrame, timing: TimeParams, home: tuple[float, float]) -> RepWeek:
    hours: list[list[Window] | None] = [
        None if value is None else [(h["Weekday"], h["Opens"], h["Closes"]) for h in value]
        for value in pool["Hours"].to_list()
    ]
    return RepWeek(
        lat=pool["Latitude"].to_numpy(),
        lon=pool["Longitude"].to_numpy(),
        priority=pool["Priority"].to_numpy(),
        visit_minutes=pool["VisitMinutes"].fill_null(timing.visit_minutes).to_numpy(),
        hours=hours,
        pinned_day=pool["PinnedDay"].fill_null(0).cast(pl.Int64).to_numpy(),
        pinned_start=pool["PinnedStart"].fill_null(-1).cast(pl.Int64).to_numpy(),
        free_from_day=pool["FreeFromDay"].fill_null(1).cast(pl.Int64).to_numpy(),
        home=home,
        must_visit=pool["MustVisit"].to_numpy(),
    )


def _lambda(week: RepWeek, routing: RoutingParams) -> float:
    """The count-based planner's price of a km, on the same pool."""
    return travel_price(week.priority, pairwise_haversine_km(week.lat, week.lon), routing)


def _seed_days(pool: pl.DataFrame, seed: pl.DataFrame | None) -> dict[int, list[int]]:
    """The count-based plan as day -> pool rows in route order."""
    if seed is None or seed.height == 0:
        return {}
    rows = {customer: row for row, customer in enumerate(pool["CustomerId"].to_list())}
    days: dict[int, list[int]] = {}
    for visit in seed.sort("Day", "RouteOrder").iter_rows(named=True):
        row = rows.get(visit["CustomerId"])
        if row is not None:
            days.setdefault(int(visit["Day"]), []).append(row)
    return days


def rule_of(pool: pl.DataFrame, plan: TimedPlan) -> list[str | None]:
    """Which rule placed each visit: a pin (with its time), else the frequency rule."""
    rules = pool["Rule"].to_list()
    pinned = pool["PinnedDay"].to_list()
    starts = pool["PinnedStart"].to_list()
    out: list[str | None] = []
    for row in plan.row.tolist():
        if pinned[row] is not None:
            start = starts[row]
            at = "" if start is None else f" at {start // 60:02d}:{start % 60:02d}"
            out.append(f"pinned to this day{at}")
        else:
            out.append(rules[row])
    return out


def _frames(rep_id: int, pool: pl.DataFrame, plan: TimedPlan) -> tuple[pl.DataFrame, pl.DataFrame]:
    priority = pool["Priority"].to_numpy()[plan.row]
    # Rank: 1 = the highest priority among the planned visits (ties by CustomerId)
    customers = pool["CustomerId"].to_numpy()[plan.row]
    order = np.lexsort((customers, -priority))
    rank = np.empty(plan.row.size, dtype=np.int64)
    rank[order] = np.arange(1, plan.row.size + 1)
    visits = pl.DataFrame(
        {
            "RepId": np.full(plan.row.size, rep_id),
            "CustomerId": customers,
            "Rank": rank,
            "Day": plan.day,
            "RouteOrder": plan.order,
            "Priority": priority,
            "Arrival": plan.arrival,
            "Departure": plan.departure,
            "Rule": rule_of(pool, plan),
        },
        schema=TIMED_VISITS_SCHEMA,
    )
    used = sorted(plan.day_km)
    counts = np.bincount(plan.day, minlength=max(used, default=0) + 1)
    columns: dict[str, Any] = {
        "RepId": [rep_id] * len(used),
        "Day": used,
        "Visits": [int(counts[day]) for day in used],
        "Km": [plan.day_km[day] for day in used],
        "Start": [plan.day_start[day] for day in used],
        "End": [plan.day_end[day] for day in used],
    }
    return visits, pl.DataFrame(columns, schema=TIMED_DAYS_SCHEMA)


LEFT_OUT_SCHEMA: dict[str, pl.DataType] = {
    "RepId": pl.Int64(),
    "CustomerId": pl.Int64(),
    "Priority": pl.Float64(),
    "Why": pl.String(),
}


def left_out(
    candidates: pl.DataFrame, visits: pl.DataFrame, timing: TimeParams, top: int = 5
) -> pl.DataFrame:
    """Each rep's ``top`` most valuable candidates that are not in its week, with why, in
    words: excluded this week, closed on the working days, pinned or overdue but not fitting
    with the other required visits, too far for a day from the rep's home (the round trip
    and the visit alone pass the day), nothing to gain there this week, no time left for it
    in the working days (the week had room in count), or the week is full of visits worth
    more. Answers "why is my biggest outlet not on my list?"."""
    frame = with_frequency(with_routing_columns(candidates), timing.days).join(
        visits.select("RepId", "CustomerId"), on=["RepId", "CustomerId"], how="anti"
    )
    best = frame.sort(["RepId", "Priority", "CustomerId"], descending=[False, True, False])
    best = best.group_by("RepId", maintain_order=True).head(top)
    if best.height == 0:
        return pl.DataFrame(schema=LEFT_OUT_SCHEMA)
    homes = _homes(with_routing_columns(candidates))
    planned = visits.group_by("RepId").agg(pl.len().alias("Planned"))
    best = (
        best.drop("HomeLatitude", "HomeLongitude")
        .join(homes, on="RepId", how="left")
        .join(planned, on="RepId", how="left")
    )
    room = pl.col("Planned").fill_null(0) < timing.visits_per_week
    km = _haversine_expr("Latitude", "Longitude", "HomeLatitude", "HomeLongitude")
    trip = 2 * km * timing.road_factor / timing.speed_kmh * 60
    minutes = pl.col("VisitMinutes").fill_null(timing.visit_minutes)
    working_days = pl.col("Hours").list.eval(
        pl.element().struct.field("Weekday").is_between(1, timing.days)
    )
    budget = timing.day_minutes - timing.break_minutes
    not_due = pl.col("Rule").str.contains(": not due, ").fill_null(False)
    why = (
        pl.when(not_due)
        .then(pl.col("Rule"))
        .when(pl.col("FreeFromDay").fill_null(1) > timing.days)
        .then(pl.lit("excluded this week"))
        .when(pl.col("Hours").is_not_null() & ~working_days.list.any())
        .then(pl.lit("closed on the working days"))
        .when(pl.col("MustVisit") | pl.col("PinnedDay").is_between(1, timing.days))
        .then(
            pl.lit(
                "pinned or overdue, but it does not fit the week's time with the other "
                "required visits (opening hours, day length)"
            )
        )
        .when(trip + minutes > budget)
        .then(
            pl.format(
                "too far for a day: {} min there and back from the rep's home",
                trip.round(0).cast(pl.Int64),
            )
        )
        .when(pl.col("Priority") <= 0)
        .then(pl.lit("nothing to gain there this week"))
        .when(room)
        .then(pl.lit("no time left for it in the working days"))
        .otherwise(pl.lit("the week is full of visits worth more"))
    )
    return best.select("RepId", "CustomerId", "Priority", why.alias("Why")).cast(
        LEFT_OUT_SCHEMA  # type: ignore[arg-type]
    )


def _homes(frame: pl.DataFrame) -> pl.DataFrame:
    """Each rep's home, as the planner takes it (``_home``)."""
    rows = [
        {"RepId": rep, "HomeLatitude": lat, "HomeLongitude": lon}
        for (rep,), part in frame.partition_by("RepId", as_dict=True).items()
        for lat, lon in [_home(part)]
    ]
    return pl.DataFrame(
        rows, schema={"RepId": pl.Int64, "HomeLatitude": pl.Float64, "HomeLongitude": pl.Float64}
    )


def _haversine_expr(lat1: str, lon1: str, lat2: str, lon2: str) -> pl.Expr:
    """Great-circle km between two coordinate columns (the planner's distance)."""
    dlat = (pl.col(lat2) - pl.col(lat1)).radians()
    dlon = (pl.col(lon2) - pl.col(lon1)).radians()
    a = (dlat / 2).sin().pow(2) + pl.col(lat1).radians().cos() * pl.col(lat2).radians().cos() * (
        dlon / 2
    ).sin().pow(2)
    return 2 * EARTH_RADIUS_KM * a.sqrt().arcsin()
