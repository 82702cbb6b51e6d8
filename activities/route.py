"""Route activity: plan the weeks of one chunk of reps and stage them in Blob for publish.

Why a fan-out: with the timed planner (a PyVRP model per rep, ~0.3-0.5 s a rep) planning every
rep inside publish would take 25-40 minutes at 5,000 reps, past the Functions 30-minute
timeout. Every rep's plan is independent of the others, so the orchestrator splits the reps
into chunks routed in parallel, as the local run splits them over its pool
(``region_pool.plan_in_pool``), and publish joins the chunks (``fan_in.merge_planned``): the
same visits, days and left-out outlets as planning all reps at once.

Chunk membership (``fan_in.chunk_outlets``): the RepIds with outlets in the regions that
scored, sorted, split into ``chunks`` contiguous groups of nearly equal size; outlets without a
rep (never planned) go to chunk 0. It depends only on the set of RepIds read, so every chunk
and publish, reading the same regions, agree on it whatever order the regions are read in.

Reads the staged outlets and reps of every region that scored (``read_planning_inputs``, as
publish does: a rep may have outlets in several regions), keeps its chunk's reps, plans them
with ``fan_in.plan_weeks`` (the same reps frame and week start as publish) and writes the
chunk's visits, days and left-out outlets (an empty frame unless the planner is timed) under
``runs/<runId>/routes/<chunk>/``. Input and output are small JSON.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Final

import polars as pl

from activities.score import read_planning_inputs
from visitrank.adapters.app_settings import Settings
from visitrank.adapters.blob_staging import BlobStaging, route_paths
from visitrank.pipeline.fan_in import PlannedWeeks, chunk_outlets, plan_weeks
from visitrank.pipeline.payloads import RouteOutcome, RouteTask

log = logging.getLogger("visitrank.route")

ROUTE_FILES: Final = {
    "visits": "visits.parquet",
    "days": "days.parquet",
    "leftOut": "left_out.parquet",
}
"""What the routing of a chunk stages in its folder (``route_paths``), read by publish."""


def route_chunk_activity(payload: dict[str, Any], settings: Settings) -> RouteOutcome:
    """Input: ``RouteTask`` (runId, the regions that scored, chunk, chunks, the window dates
    and config from the plan).

    Output: chunk, status "ok", reps (the chunk's reps with outlets), visits (planned),
    seconds. Raises on any failure so the orchestrator's retry policy runs."""
    started = time.perf_counter()
    task = RouteTask.from_json(payload)
    staging = BlobStaging.from_settings(settings)
    outlets, reps = read_planning_inputs(staging, task.run_id, task.regions)
    mine = chunk_outlets(outlets, task.chunk, task.chunks)
    planned = plan_weeks(mine, task.scoring, reps=reps, week_start=task.window.week_start)
    write_routed(staging, task.run_id, task.chunk, planned)
    return {
        "chunk": task.chunk,
        "status": "ok",
        "reps": mine["RepId"].drop_nulls().n_unique(),
        "visits": planned.visits.height,
        "seconds": round(time.perf_counter() - started, 3),
    }


def write_routed(staging: BlobStaging, run_id: str, chunk: int, planned: PlannedWeeks) -> None:
    """The chunk's planned weeks as Parquet (overwriting: a retry rewrites every file); the
    left-out outlets as an empty frame when the planner gives none."""
    paths = route_paths(run_id, chunk, ROUTE_FILES)
    staging.write_frame(paths["visits"], planned.visits)
    staging.write_frame(paths["days"], planned.days)
    missed = planned.left_out if planned.left_out is not None else pl.DataFrame()
    staging.write_frame(paths["leftOut"], missed)


def read_routed(staging: BlobStaging, run_id: str, chunk: int) -> PlannedWeeks | None:
    """The staged planned weeks of a chunk, or None when they cannot be read (missing,
    unreadable): the caller plans the chunk itself."""
    paths = route_paths(run_id, chunk, ROUTE_FILES)
    try:
        visits, days, missed = (staging.read_frame(paths[key]) for key in ROUTE_FILES)
    except Exception:  # the chunk is planned again rather than a rep losing its list
        log.exception("route chunk %s of run %s not read", chunk, run_id)
        return None
    return PlannedWeeks(visits, days, missed if missed.width else None)
