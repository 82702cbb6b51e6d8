"""The fan-in: every rep's week planned from the scored outlets of the regions that succeeded,
then one document per rep with everything the week carries (learned steps' verdicts, proposed
orders, segment evidence). Both drivers call `plan_weeks` and `week_documents`; only how the
reps' weeks are planned (`planner`: in-process, or split over the local worker pool) and where
the parts come from differ.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import polars as pl

from scoring.config import ScoringConfig
from scoring.inputs import ScoringWindow
from scoring.timed_weeks import left_out
from scoring.weekly_plan import plan_visits, routable_candidates, time_params
from visitrank.pipeline.documents import attach_learned_steps, attach_left_out, build_documents
from visitrank.pipeline.orders_documents import attach_proposed_orders
from visitrank.pipeline.segment_support import attach_segment_support

Planner = Callable[[pl.DataFrame, ScoringConfig], tuple[pl.DataFrame, pl.DataFrame]]
"""Plans every rep's week from the scored outlets: (visits, days), as `plan_visits`."""


@dataclass(frozen=True)
class WeekParts:
    """What the week's documents are built from, besides the scored outlets and SKUs.

    `regions`: the outcomes of the regions that succeeded (their learned steps' verdicts);
    `orders`: the order documents of the regions in `order_areas` (None: orders not proposed
    this run, so no visit gets a `proposedOrder` key); `evidence`: the segmentation's support
    frames (`segment_support.support_frames`), None when there is none."""

    regions: Sequence[Mapping[str, Any]] = ()
    orders: Sequence[Mapping[str, Any]] | None = None
    order_areas: frozenset[int] = field(default_factory=frozenset)
    evidence: tuple[pl.DataFrame, pl.DataFrame] | None = None


@dataclass(frozen=True)
class PlannedWeeks:
    """Every rep's planned week: the visits (ranked, routed into days) and the days."""

    visits: pl.DataFrame
    days: pl.DataFrame
    left_out: pl.DataFrame | None = None


def plan_weeks(
    outlets: pl.DataFrame,
    config: ScoringConfig,
    planner: Planner = plan_visits,
    *,
    reps: pl.DataFrame | None = None,
    week_start: date | None = None,
) -> PlannedWeeks:
    """Ranks and routes every rep's week (`planner`; nothing to plan without outlets), with
    the routing inputs of the data (`routing_columns`)."""
    if outlets.height == 0:
        return PlannedWeeks(pl.DataFrame(), pl.DataFrame())
    routed = routing_columns(outlets, reps, week_start)
    visits, days = planner(routed, config)
    if config.planner != "timed":
        return PlannedWeeks(visits, days)
    missed = left_out(routable_candidates(routed), visits, time_params(config))
    return PlannedWeeks(visits, days, missed)


def chunk_outlets(outlets: pl.DataFrame, chunk: int, chunks: int) -> pl.DataFrame:
    """The outlets of the reps of route chunk `chunk` (0-based) of `chunks`: the reps with
    outlets (their RepIds sorted) split into `chunks` contiguous groups of nearly equal size,
    chunk i holding reps ``[i * n // chunks, (i + 1) * n // chunks)``, as the local pool splits
    them (`region_pool.plan_in_pool`); outlets without a rep (never planned) are in chunk 0.
    The chunks partition the outlets, and a rep's chunk depends only on the set of RepIds,
    never on the order of the rows or of the regions read."""
    if not 0 <= chunk < chunks:
        raise ValueError(f"route chunk {chunk} is not one of 0..{chunks - 1}")
    reps = outlets.get_column("RepId").drop_nulls().unique().sort()
    first, end = chunk * reps.len() // chunks, (chunk + 1) * reps.len() // chunks
    mine = (
        pl.col("RepId").is_between(reps[first], reps[end - 1]).fill_null(False)
        if end > first
        else pl.lit(False)
    )
    return outlets.filter(mine | pl.col("RepId").is_null() if chunk == 0 else mine)


def merge_planned(chunks: Sequence[PlannedWeeks]) -> PlannedWeeks:
    """The planned weeks of route chunks 0, 1, ... (`chunk_outlets`), in chunk order, as one:
    every rep's plan is independent of the others, each chunk's frames are in RepId order and
    the chunks hold increasing RepIds, so the same rows in the same order as `plan_weeks` of
    all outlets. Chunks without outlets (more chunks than reps) add nothing."""

    def concat(frames: Sequence[pl.DataFrame | None]) -> pl.DataFrame:
        planned = [frame for frame in frames if frame is not None and frame.width]
        return pl.concat(planned) if planned else pl.DataFrame()

    missed = [part.left_out for part in chunks]
    return PlannedWeeks(
        concat([part.visits for part in chunks]),
        concat([part.days for part in chunks]),
        None if all(frame is None for frame in missed) else concat(missed),
    )


def routing_columns(
    outlets: pl.DataFrame, reps: pl.DataFrame | None, week_start: date | None
) -> pl.DataFrame:
    """The outlets with what the timed planner reads in days of the week: the rep's home
    (``HomeLatitude``/``HomeLongitude`` of ``reps``), ``PinnedDay`` (1..7) of a
    ``PinnedDate`` and ``FreeFromDay`` (the day of ``ExcludedUntil``: no visit before it; 8
    and more: not this week). Columns the data lacks stay absent."""
    homes = ["HomeLatitude", "HomeLongitude"]
    if reps is not None and set(homes) <= set(reps.columns):
        outlets = outlets.drop(homes, strict=False).join(
            reps.select("RepId", *homes).unique("RepId"), on="RepId", how="left"
        )
    if week_start is None:
        return outlets
    start = pl.lit(week_start)
    days: list[pl.Expr] = []
    if "PinnedDate" in outlets.columns:
        days.append(((pl.col("PinnedDate") - start).dt.total_days() + 1).alias("PinnedDay"))
    if "ExcludedUntil" in outlets.columns:
        free = (pl.col("ExcludedUntil") - start).dt.total_days() + 1
        days.append(free.clip(1, 8).alias("FreeFromDay"))
    return outlets.with_columns(days)


def week_documents(
    planned: PlannedWeeks,
    outlets: pl.DataFrame,
    skus: pl.DataFrame,
    reps: pl.DataFrame,
    window: ScoringWindow,
    parts: WeekParts,
    *,
    run_id: str,
    generated_at: str,
) -> list[dict[str, Any]]:
    """One document per rep with scored outlets (reps of a failed region get none), with the
    learned steps' verdicts, the proposed orders and the segment evidence."""
    if outlets.height == 0:
        return []
    reps = reps.join(outlets.select("RepId").unique(), on="RepId", how="semi")
    documents = build_documents(
        planned.visits,
        planned.days,
        outlets,
        skus,
        reps,
        week_start=window.week_start,
        as_of=window.as_of,
        run_id=run_id,
        generated_at=generated_at,
    )
    if planned.left_out is not None:
        documents = attach_left_out(documents, planned.left_out, outlets)
    documents = attach_learned_steps(documents, outlets, parts.regions)
    if parts.orders is not None:
        documents = attach_region_orders(documents, parts.orders, outlets, parts.order_areas)
    if parts.evidence is not None:
        documents = attach_segment_support(documents, *parts.evidence)
    return documents


def attach_region_orders(
    documents: list[dict[str, Any]],
    orders: Iterable[Mapping[str, Any]],
    outlets: pl.DataFrame,
    covered_areas: Iterable[int],
) -> list[dict[str, Any]]:
    """The rep documents with ``visits[].proposedOrder`` (``attach_proposed_orders``) for the
    visits of outlets in ``covered_areas`` (regions whose proposed orders succeeded).

    A visit of a region whose orders failed gets no ``proposedOrder`` key at all, so "no
    proposal computed" is never confused with "nothing to propose" (``[]``). Inputs are not
    modified."""
    areas = set(covered_areas)
    if not areas or not documents:
        return [dict(document) for document in documents]
    attached = attach_proposed_orders(documents, orders)
    if "AreaId" not in outlets.columns:
        return attached
    uncovered = set(outlets.filter(~pl.col("AreaId").is_in(sorted(areas)))["CustomerId"].to_list())
    for document in attached:
        for visit in document.get("visits", []):
            if visit["customerId"] in uncovered:
                del visit["proposedOrder"]
    return attached
