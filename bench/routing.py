"""The weekly plans of the timed planner against the count-based one, on generated territories.

Territories: ``--reps`` reps with ``--outlets`` outlets each around their home (a dense core
and a wide ring), a third of the outlets with evening or morning hours on some weekdays, visit
durations by tier, a few pins and exclusions. Both planners get the same candidates; the
count-based one ignores homes, hours, durations, pins and exclusions (it cannot use them).

Reported per planner: wall seconds in this process (one core), visits, value (sum of the
planned priorities), straight-line km per visit, and for the timed plans the share of days
an independent check finds a broken rule in (hours, pins, day length); plus the count-based
plan's days checked against the same rules (how often its plan would not be workable).
A third row is the geography-only yardstick: for every rep, as many of its best-value outlets as
the timed week visits, split into compact days (k-means on the map, one cluster a day) and each
day routed from the home (a travelling-salesman tour solved by PyVRP); it ignores hours,
durations and day length, so its km per visit is what a plan of those outlets cannot beat by
much.

Usage: .venv/bin/python -m bench.routing [--reps 200] [--outlets 200] [--seed 1]
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np
import polars as pl
import pyvrp
from pyvrp.stop import MaxIterations
from sklearn.cluster import KMeans

from scoring.config import ScoringConfig
from scoring.geo import pairwise_haversine_km
from scoring.routing import plan_weeks
from scoring.timed_weeks import plan_timed_weeks
from scoring.weekly_plan import routing_params, time_params

HOURS = pl.List(pl.Struct({"Weekday": pl.Int8, "Opens": pl.Int16, "Closes": pl.Int16}))


def territories(reps: int, outlets: int, seed: int) -> pl.DataFrame:
    """Generated candidates (see the module docstring)."""
    rng = np.random.default_rng(seed)
    rows: list[dict[str, Any]] = []
    for rep in range(reps):
        home = (44 + rng.uniform(-2, 2), 3 + rng.uniform(-3, 3))
        spread = rng.choice([0.05, 0.15, 0.35])  # town, county, rural territory
        for i in range(outlets):
            ring = 3.0 if rng.random() < 0.2 else 1.0
            hours = None
            if rng.random() < 1 / 3:
                opens = int(rng.choice([8 * 60, 16 * 60]))
                hours = [
                    {"Weekday": day, "Opens": opens, "Closes": opens + 5 * 60}
                    for day in range(1, 8)
                    if rng.random() < 0.75
                ]
            rows.append(
                {
                    "RepId": rep,
                    "CustomerId": rep * 100_000 + i,
                    "Latitude": home[0] + rng.normal(0, spread * ring),
                    "Longitude": home[1] + rng.normal(0, spread * ring * 1.4),
                    "Priority": float(rng.gamma(1.5, 60.0)),
                    "HomeLatitude": home[0],
                    "HomeLongitude": home[1],
                    "Hours": hours or None,
                    "VisitMinutes": float(rng.choice([15.0, 25.0, 40.0], p=[0.6, 0.3, 0.1])),
                    "PinnedDay": int(rng.integers(1, 6)) if rng.random() < 0.01 else None,
                    "FreeFromDay": int(rng.integers(2, 9)) if rng.random() < 0.02 else None,
                }
            )
    return pl.DataFrame(
        rows,
        schema_overrides={"Hours": HOURS, "PinnedDay": pl.Int8, "FreeFromDay": pl.Int8},
        infer_schema_length=None,
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reps", type=int, default=200)
    parser.add_argument("--outlets", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    candidates = territories(args.reps, args.outlets, args.seed)
    config = ScoringConfig()
    routing, timing = routing_params(config), time_params(config)
    basic = candidates.select("RepId", "CustomerId", "Latitude", "Longitude", "Priority")
    started = time.perf_counter()
    counted, counted_days = plan_weeks(basic, routing)
    counted_seconds = time.perf_counter() - started
    started = time.perf_counter()
    timed, timed_days = plan_timed_weeks(candidates, routing, timing)
    timed_seconds = time.perf_counter() - started
    started = time.perf_counter()
    compact_km, compact_visits = compact_days_km(candidates, timed, routing.days)
    compact_seconds = time.perf_counter() - started
    print(f"{args.reps} reps x {args.outlets} outlets, seed {args.seed}")
    print("| planner | seconds | visits | value | km/visit | days longer than a working day |")
    print("| --- | --- | --- | --- | --- | --- |")
    for name, seconds, visits, days in (
        ("counts", counted_seconds, counted, counted_days),
        ("timed", timed_seconds, timed, timed_days),
    ):
        km = days["Km"].sum() / max(visits.height, 1)
        long = too_long(visits, days, candidates, config)
        print(
            f"| {name} | {seconds:.1f} | {visits.height} | {visits['Priority'].sum():.0f} "
            f"| {km:.2f} | {long:.1%} |"
        )
    compact = compact_km / max(compact_visits, 1)
    timed_km = timed_days["Km"].sum() / max(timed.height, 1)
    print(
        f"| best-value outlets in compact days | {compact_seconds:.1f} | {compact_visits} "
        f"| - | {compact:.2f} | not checked |"
    )
    print(f"timed km per visit / compact days: {timed_km / compact:.2f}x")


def compact_days_km(candidates: pl.DataFrame, visits: pl.DataFrame, days: int) -> tuple[float, int]:
    """Km and visits of the yardstick (module docstring): per rep, its ``n`` best-value
    outlets (``n`` = its visits in ``visits``), k-means into ``days`` compact groups, each
    group a tour from the home solved by PyVRP (fixed seed and iterations)."""
    counts = dict(visits.group_by("RepId").len().iter_rows())
    total_km, total_visits = 0.0, 0
    for (rep,), outlets in candidates.sort("RepId").group_by("RepId", maintain_order=True):
        n = int(counts.get(rep, 0))
        if n == 0:
            continue
        best = outlets.sort(["Priority", "CustomerId"], descending=[True, False]).head(n)
        home = (float(best["HomeLatitude"][0]), float(best["HomeLongitude"][0]))
        lat, lon = best["Latitude"].to_numpy(), best["Longitude"].to_numpy()
        east = (lon - home[1]) * 111.32 * np.cos(np.radians(home[0]))
        north = (lat - home[0]) * 110.57
        groups = KMeans(n_clusters=min(days, n), n_init=4, random_state=0).fit_predict(
            np.c_[east, north]
        )
        for group in np.unique(groups):
            mine = groups == group
            total_km += tour_km(home, lat[mine], lon[mine])
        total_visits += n
    return total_km, total_visits


def tour_km(home: tuple[float, float], lat: np.ndarray, lon: np.ndarray) -> float:
    """The shortest tour PyVRP finds from ``home`` through every outlet and back (km)."""
    km = pairwise_haversine_km(np.r_[home[0], lat], np.r_[home[1], lon])
    if len(lat) == 1:
        return float(2 * km[0, 1])
    model = pyvrp.Model()
    depot = model.add_depot(model.add_location(0, 0))
    locations = [model.add_location(0, 0) for _ in lat]
    for location in locations:
        model.add_client(location)
    model.add_vehicle_type(num_available=1, start_depot=depot, end_depot=depot)
    metres = np.rint(km * 1000).astype(np.int64)
    data = model.data().replace(distance_matrices=[metres], duration_matrices=[metres * 0])
    result = pyvrp.solve(data, MaxIterations(300), seed=1, display=False)
    return float(result.best.distance()) / 1000


def too_long(
    visits: pl.DataFrame, days: pl.DataFrame, candidates: pl.DataFrame, config: ScoringConfig
) -> float:
    """Share of the plan's days whose driving (km x road factor at the speed) and visits
    (their durations) alone take longer than a working day less its breaks (opening hours
    and waiting not counted: a lower bound)."""
    worked = (
        visits.join(candidates.select("CustomerId", "VisitMinutes"), on="CustomerId")
        .group_by("RepId", "Day")
        .agg(pl.col("VisitMinutes").fill_null(config.visit_minutes).sum().alias("Visiting"))
        .join(days.select("RepId", "Day", "Km"), on=["RepId", "Day"])
        .with_columns(
            Minutes=pl.col("Visiting") + pl.col("Km") * config.road_factor / config.speed_kmh * 60
        )
    )
    budget = config.day_hours * 60 - config.break_minutes
    return float((worked["Minutes"] > budget + 1).mean() or 0.0)


if __name__ == "__main__":
    main()
