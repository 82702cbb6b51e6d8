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

import numpy as np
import polars as pl

from scoring.assortment_scale import scaled_config
from scoring.benchmark import benchmark_shares
from scoring.config import ScoringConfig
from scoring.exact import exact_sum
from scoring.gap_persistence import PAIR_COLUMNS, Persistence, gap_persistence
from scoring.grid import GRID_BATCH_ROWS, GridPlan, grid_cells, grid_plan, grid_rows
from scoring.indexation import index_scores
from scoring.inputs import RegionInputs, ScoringWindow
from scoring.learned import LearnedShares
from scoring.own_history import own_expectation, own_subcategory_expectation, prior_shares
from scoring.peer_segments import peer_segments
from scoring.priority import (
    opportunities,
    opportunity_counts,
    outlet_priorities,
    skus_to_push,
    summed_counts,
)
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
    keep_pairs: bool = False,
    batch_rows: int | None = GRID_BATCH_ROWS,
) -> RegionScores:
    """Scores every outlet x SKU of one region and derives each outlet's visit priority.

    The outlet x SKU grid is scored in batches of at most `batch_rows` rows (`scoring.grid`;
    None: at once), so a region's memory is bounded by a batch; the results do not depend on
    it. `keep_pairs` keeps every scored pair (`RegionScores.pairs`, for backtests: the whole
    grid, as large as the batching saves). `step_timer`, when given, wraps each step
    (`STEPS`), e.g. to time it; the expectation and the index once per batch."""

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
        plan = grid_plan(segments, totals, inputs.items, batch_rows)
        prior = prior_shares(inputs.lines, window) if config.own_history else None
        learned = (
            LearnedShares.fit(
                plan.outlets.select("AreaId", "CustomerId", "Channel"),
                plan.outlets.select("AreaId")
                .unique()
                .join(plan.items.select("ItemId"), how="cross"),
                grid_cells(plan, totals),
                config,
            )
            if config.benchmark == "learned"
            else None
        )
    scored = _GridScores(plan, keep_pairs)
    for batch in plan.batches:
        with step("expectation"):
            grid = grid_rows(plan, totals, batch)
            if prior is not None:
                grid = own_expectation(grid, prior)
                if config.substitution_cap:
                    grid = own_subcategory_expectation(grid, prior, inputs.items)
            benchmarked = benchmark_shares(grid, config)
            del grid
            if learned is not None:
                benchmarked = benchmarked.with_columns(learned.of(benchmarked))
        with step("index"):
            batch_scores = index_scores(
                benchmarked,
                inputs.items,
                weeks,
                config,
                recent_weeks=float(config.recent_weeks) if config.recent_weeks else None,
                season_totals=plan.season_totals,
            )
            del benchmarked
            scored.add(batch_scores, batch, config)
            del batch_scores
    del prior, learned  # the rank step needs the memory more
    with step("rank"):
        found = scored.found()
        persistence = _persistence(inputs, scored, found, window, config)
        pushed = skus_to_push(
            found, config, None if persistence is None else persistence.probabilities
        )
        recency = recency_weights(inputs.customers, inputs.last_visits, window.week_start, config)
        priorities = outlet_priorities(scored.counts(), pushed, recency)
        response = region_response(inputs.lines, inputs.visits, window, config)
        priorities = with_response_factors(priorities, response)
        result = _assemble(inputs, clusters, segments, pushed, priorities, weeks)
        return replace(
            result,
            pairs=scored.scores(),
            response=None if response is None else response.summary(),
            persistence=None if persistence is None else persistence.summary(),
            assortment=scale.summary(),
        )


class _GridScores:
    """What the rest of the scoring needs of the scored pairs, gathered batch by batch in the
    whole grid's order: the peer expectation of every pair (PeerRatio, CarryRate: two arrays,
    for the gap persistence), the opportunities (every score column), the per-outlet counts
    (`opportunity_counts`) and, with `keep_pairs`, every pair's scores."""

    def __init__(self, plan: GridPlan, keep_pairs: bool) -> None:
        self._plan = plan
        self._values = {name: np.zeros(plan.height) for name in _PEER_COLUMNS}
        self._nulls = {name: np.zeros(plan.height, dtype=bool) for name in _PEER_COLUMNS}
        self._found: list[pl.DataFrame] = []
        self._counts: list[pl.DataFrame] = []
        self._scores: list[pl.DataFrame] | None = [] if keep_pairs else None

    def add(self, scores: pl.DataFrame, batch: np.ndarray, config: ScoringConfig) -> None:
        """Keeps what is needed of one batch's `scores` (the pairs of `batch`'s SKUs)."""
        rows = self._plan.positions(batch)
        for name in _PEER_COLUMNS:
            column = scores.get_column(name)
            self._values[name][rows] = column.fill_null(0.0).to_numpy()
            self._nulls[name][rows] = column.is_null().to_numpy()
        scores = scores.with_columns(_row=pl.Series(rows))
        self._found.append(opportunities(scores, config))
        self._counts.append(opportunity_counts(scores, config))
        if self._scores is not None:
            self._scores.append(scores)

    def pairs(self, items: pl.DataFrame) -> pl.DataFrame:
        """Every pair of the grid in grid order: CustomerId, ItemId, PeerRatio, CarryRate,
        UnitPrice (from `items`). Once only: the peer arrays are released into the frame."""
        n, m = self._plan.outlets.height, self._plan.items.height
        outlet = np.repeat(np.arange(n), m)
        item = np.tile(np.arange(m), n)
        price = self._plan.items.join(
            items.select("ItemId", "UnitPrice"), on="ItemId", how="left", maintain_order="left"
        ).get_column("UnitPrice")
        frame = pl.DataFrame(
            {
                "CustomerId": self._plan.outlets.get_column("CustomerId").gather(outlet),
                "ItemId": self._plan.items.get_column("ItemId").gather(item),
                **{name: self._column(name) for name in _PEER_COLUMNS},
                "UnitPrice": price.gather(item),
            }
        )
        self._values.clear()  # the frame holds them now
        self._nulls.clear()
        return frame

    def _column(self, name: str) -> pl.Series:
        values = pl.Series(name, self._values[name])
        if not self._nulls[name].any():
            return values
        return pl.select(
            pl.when(pl.lit(pl.Series(self._nulls[name]))).then(None).otherwise(pl.lit(values))
        ).to_series()

    def found(self) -> pl.DataFrame:
        """The opportunities, in grid order."""
        return pl.concat(self._found).sort("_row").drop("_row")

    def counts(self) -> pl.DataFrame:
        return summed_counts(self._counts)

    def scores(self) -> pl.DataFrame | None:
        """Every pair's scores in grid order (None without `keep_pairs`)."""
        if self._scores is None:
            return None
        frame = pl.concat(self._scores)
        order = np.empty(frame.height, dtype=np.int64)
        order[frame.get_column("_row").to_numpy()] = np.arange(frame.height)
        return frame[order].drop("_row")


_PEER_COLUMNS = ("PeerRatio", "CarryRate")


def _persistence(
    inputs: RegionInputs,
    scored: _GridScores,
    found: pl.DataFrame,
    window: ScoringWindow,
    config: ScoringConfig,
) -> Persistence | None:
    """The region's gap-persistence model, None when `gap_persistence` is off. `scored`: every
    pair of the grid (`_GridScores.pairs`, handed over: its arrays are freed); `found`: the
    opportunities."""
    if not config.gap_persistence:
        return None
    return gap_persistence(
        scored.pairs(inputs.items).select(PAIR_COLUMNS),
        found.select("CustomerId", "ItemId"),
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
    return RegionScores(outlets=outlets, skus=skus)
