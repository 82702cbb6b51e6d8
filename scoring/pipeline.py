"""The scoring of one region, end to end: the unit of work the orchestrator fans out.

Frames in (`RegionInputs`), frames out (`RegionScores`): one row per outlet with its priority and
one row per outlet x SKU to push with the numbers that explain it. Nothing here reads files,
clocks or settings: a caller that wants per-step timings passes its own `step_timer`.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, replace
from datetime import timedelta

import polars as pl

from scoring.assortment_scale import scaled_config
from scoring.benchmark import benchmark_shares, outlet_sku_grid
from scoring.config import ScoringConfig
from scoring.exact import exact_sum
from scoring.gap_persistence import PAIR_COLUMNS, Persistence, gap_persistence
from scoring.indexation import index_scores
from scoring.inputs import RegionInputs, ScoringWindow
from scoring.learned import learned_shares
from scoring.own_history import own_expectation, own_subcategory_expectation, prior_shares
from scoring.peer_segments import peer_segments
from scoring.priority import opportunities, outlet_priorities, skus_to_push
from scoring.recency import recency_weights
from scoring.sku_clusters import cluster_skus
from scoring.visit_response import region_response, with_response_factors


@dataclass(frozen=True)
class RegionScores:
    """outlets: one row per customer of the region (priority, segment, recency, counts,
    ResponseFactor: the visit-response factor already in the priority, 1 without a signal);
    skus: the SKUs to push per outlet (SkuRank, IndexScore, Actual, Expected, GapValue, ...);
    pairs: every scored outlet x SKU of the grid (IndexScore, GapValue, ...), for backtests;
    response: the visit response's summary (`VisitResponse.summary`), None when it is off;
    persistence: the gap-persistence model's summary (`Persistence.summary`), None when off;
    assortment: the push floor derived from the region's assortment (`AssortmentScale.summary`)."""

    outlets: pl.DataFrame
    skus: pl.DataFrame
    pairs: pl.DataFrame | None = None
    response: dict[str, object] | None = None
    persistence: dict[str, object] | None = None
    assortment: dict[str, object] | None = None


def window_totals(lines: pl.DataFrame, window: ScoringWindow, recent_weeks: int) -> pl.DataFrame:
    """CustomerId, ItemId, Units, Revenue over the look-back window, RecentRevenue over its
    last `recent_weeks`."""
    recent_start = window.as_of - timedelta(days=7 * recent_weeks - 1)
    return (
        lines.lazy()
        .filter(pl.col("SaleDate").is_between(window.window_start, window.as_of))
        .group_by("CustomerId", "ItemId")
        .agg(
            Units=exact_sum("Quantity"),
            Revenue=exact_sum("Amount"),
            RecentRevenue=exact_sum(pl.col("Amount").filter(pl.col("SaleDate") >= recent_start)),
        )
        .collect()
    )


STEPS = ("aggregate", "segment", "expectation", "index", "rank")


StepTimer = Callable[[str], AbstractContextManager[None]]
"""Wraps each named step (`STEPS`) of `score_region`; supplied by callers that measure time."""


def score_region(
    inputs: RegionInputs,
    window: ScoringWindow,
    config: ScoringConfig,
    step_timer: StepTimer | None = None,
) -> RegionScores:
    """Scores every outlet x SKU of one region and derives each outlet's visit priority.

    `step_timer`, when given, wraps each step (`STEPS`), e.g. to time it."""

    def step(name: str) -> AbstractContextManager[None]:
        return nullcontext() if step_timer is None else step_timer(name)

    weeks = ((window.as_of - window.window_start).days + 1) / 7.0
    with step("aggregate"):
        totals = window_totals(inputs.lines, window, config.recent_weeks)
        config, scale = scaled_config(config, totals)
    with step("segment"):
        clusters = cluster_skus(
            inputs.items, inputs.lines, window.history_start, window.as_of, config
        )
        segments = peer_segments(inputs.customers, totals, clusters, config)
    with step("expectation"):
        grid = outlet_sku_grid(segments, totals, inputs.items)
        if config.own_history:
            prior = prior_shares(inputs.lines, window)
            grid = own_expectation(grid, prior)
            if config.substitution_cap:
                grid = own_subcategory_expectation(grid, prior, inputs.items)
        benchmarked = benchmark_shares(grid, config)
        if config.benchmark == "learned":
            benchmarked = learned_shares(benchmarked, config)
    with step("index"):
        scores = index_scores(
            benchmarked,
            inputs.items,
            weeks,
            config,
            recent_weeks=float(config.recent_weeks) if config.recent_weeks else None,
        )
    with step("rank"):
        persistence = _persistence(inputs, scores, window, config)
        pushed = skus_to_push(
            scores, config, None if persistence is None else persistence.probabilities
        )
        recency = recency_weights(inputs.customers, inputs.last_visits, window.week_start, config)
        priorities = outlet_priorities(scores, pushed, recency, config)
        response = region_response(inputs.lines, inputs.visits, window, config)
        priorities = with_response_factors(priorities, response)
        scored = _assemble(inputs, clusters, segments, pushed, priorities, scores, weeks)
        return replace(
            scored,
            response=None if response is None else response.summary(),
            persistence=None if persistence is None else persistence.summary(),
            assortment=scale.summary(),
        )


def _persistence(
    inputs: RegionInputs, scores: pl.DataFrame, window: ScoringWindow, config: ScoringConfig
) -> Persistence | None:
    """The region's gap-persistence model, None when `gap_persistence` is off."""
    if not config.gap_persistence:
        return None
    pairs = scores.select("CustomerId", "ItemId", "PeerRatio", "CarryRate").join(
        inputs.items.select("ItemId", "UnitPrice"), on="ItemId", how="left"
    )
    return gap_persistence(
        pairs.select(PAIR_COLUMNS),
        opportunities(scores, config).select("CustomerId", "ItemId"),
        inputs.lines,
        inputs.visits,
        inputs.customers.select("CustomerId", "Channel"),
        window.as_of + timedelta(days=1),
        config,
    )


def _assemble(
    inputs: RegionInputs,
    clusters: pl.DataFrame,
    segments: pl.DataFrame,
    pushed: pl.DataFrame,
    priorities: pl.DataFrame,
    scores: pl.DataFrame,
    weeks: float,
) -> RegionScores:
    outlets = (
        inputs.customers.select(
            "CustomerId",
            "CustomerName",
            "AreaId",
            "RepId",
            "Channel",
            "Latitude",
            "Longitude",
            "Routable",
        )
        .join(segments.select("CustomerId", "Segment", "Revenue"), on="CustomerId", how="left")
        .with_columns(WeeklyRevenue=pl.col("Revenue").fill_null(0.0) / weeks)
        .drop("Revenue")
        .join(priorities, on="CustomerId", how="left")
    )
    skus = pushed.join(inputs.items.select("ItemId", "ItemName"), on="ItemId", how="left").join(
        clusters.select("ItemId", "SkuCluster"), on="ItemId", how="left"
    )
    return RegionScores(outlets=outlets, skus=skus, pairs=scores)
