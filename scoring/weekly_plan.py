"""The fan-in: from every outlet's priority to each rep's routed week of visits."""

from __future__ import annotations

import polars as pl

from scoring.config import ScoringConfig
from scoring.routing import RoutingParams, plan_weeks
from scoring.timed_routing import TimeParams
from scoring.timed_weeks import OPTIONAL_COLUMNS, plan_timed_weeks


def routing_params(config: ScoringConfig) -> RoutingParams:
    """The routing parameters of a scoring config."""
    return RoutingParams(
        visits_per_week=config.visits_per_week,
        days=config.days_per_week,
        max_visits_per_day=config.max_visits_per_day,
        candidate_pool=config.candidate_pool,
        travel_tradeoff=config.travel_tradeoff,
        value_per_km=config.value_per_km,
        seed=config.seed,
    )


def time_params(config: ScoringConfig) -> TimeParams:
    """How a rep's day works, from a scoring config."""
    hour, minute = (int(part) for part in config.day_start.split(":"))
    return TimeParams(
        days=config.days_per_week,
        visits_per_week=config.visits_per_week,
        max_visits_per_day=config.max_visits_per_day,
        day_start=hour * 60 + minute,
        day_minutes=round(config.day_hours * 60),
        break_minutes=config.break_minutes,
        speed_kmh=config.speed_kmh,
        road_factor=config.road_factor,
        visit_minutes=config.visit_minutes,
        iterations=config.solver_iterations,
        seed=config.seed,
    )


def routable_candidates(outlets: pl.DataFrame) -> pl.DataFrame:
    """Outlets a rep can be sent to: with an owner rep and GPS coordinates; with the optional
    routing columns the data has (``timed_weeks.OPTIONAL_COLUMNS``)."""
    optional = [name for name in OPTIONAL_COLUMNS if name in outlets.columns]
    return outlets.filter(
        pl.col("Routable") & pl.col("RepId").is_not_null() & pl.col("Priority").is_not_null()
    ).select("RepId", "CustomerId", "Latitude", "Longitude", "Priority", *optional)


def plan_visits(outlets: pl.DataFrame, config: ScoringConfig) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(visits, days) for every rep: Top-N visits grouped into days and ordered into routes,
    in time (``config.planner == "timed"``) or by counts."""
    candidates = routable_candidates(outlets)
    if config.planner == "counts":
        return plan_weeks(
            candidates.select("RepId", "CustomerId", "Latitude", "Longitude", "Priority"),
            routing_params(config),
        )
    return plan_timed_weeks(candidates, routing_params(config), time_params(config))
