"""The fan-in: from every outlet's priority to each rep's routed week of visits."""

from __future__ import annotations

import polars as pl

from scoring.config import ScoringConfig
from scoring.routing import RoutingParams, plan_weeks


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


def routable_candidates(outlets: pl.DataFrame) -> pl.DataFrame:
    """Outlets a rep can be sent to: with an owner rep and GPS coordinates."""
    return outlets.filter(
        pl.col("Routable") & pl.col("RepId").is_not_null() & pl.col("Priority").is_not_null()
    ).select("RepId", "CustomerId", "Latitude", "Longitude", "Priority")


def plan_visits(outlets: pl.DataFrame, config: ScoringConfig) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(visits, days) for every rep: Top-N visits grouped into days and ordered into routes."""
    return plan_weeks(routable_candidates(outlets), routing_params(config))
