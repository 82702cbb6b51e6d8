"""The local run's worker pool: spawned processes that score one region at a time, then route
the reps' weeks in chunks of reps (`plan_in_pool`; every rep's plan is independent of the others).

The workers stay up from the scoring to the routing, so what a worker holds after its last
region (at most that region's peak) is still held during the fan-in, whose own frames are small
(one row per outlet and per pushed SKU). If a worker dies, the routing falls back to the main
process. Each worker gets cores / workers polars threads: two workers with a full thread pool each
oversubscribe the cores (bench M, 2 cores, 2 workers: 35.6 s against 29.2 s end to end).
Starting the workers before the staging, so their imports (~1.7 s, scikit-learn most of it)
overlap it, was measured and is slower: the staging already uses every core (M: 23.1 s against
21.9 s, medians of 3).
"""

from __future__ import annotations

import logging
import multiprocessing
import os
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import polars as pl

from scoring.config import ScoringConfig
from scoring.weekly_plan import plan_visits
from visitrank.adapters.local_stage import StagedInputs
from visitrank.contract.errors import error_text
from visitrank.local import region_job
from visitrank.pipeline.fan_in import chunk_outlets

log = logging.getLogger("visitrank")

POLARS_THREADS = "POLARS_MAX_THREADS"

Progress = Callable[[str, int, int], None]


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity where the platform tells it)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


@contextmanager
def worker_threads(workers: int) -> Iterator[None]:
    """The environment of the workers spawned inside: cores / workers polars threads each,
    unless POLARS_MAX_THREADS is already set (then it applies to every process)."""
    if POLARS_THREADS in os.environ:
        yield
        return
    os.environ[POLARS_THREADS] = str(max(1, usable_cores() // workers))
    try:
        yield
    finally:
        del os.environ[POLARS_THREADS]


@contextmanager
def worker_pool(workers: int) -> Iterator[ProcessPoolExecutor]:
    """A pool of `workers` spawned processes with the thread setting of `worker_threads`."""
    workers = max(1, workers)
    context = multiprocessing.get_context("spawn")
    # the pool spawns its processes at the first submits: they must see the thread setting
    with (
        ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool,
        worker_threads(workers),
    ):
        yield pool


def fan_out(
    pool: ProcessPoolExecutor,
    staged: StagedInputs,
    stage_dir: Path,
    config: ScoringConfig,
    progress: Progress | None,
) -> list[dict[str, Any]]:
    """Scores every region in the pool; a failed region yields an error outcome and never loses
    the others."""
    window = staged.window
    tasks = [
        region_job.RegionTask(
            area_id=area,
            work_dir=str(staged.work_dir),
            stage_dir=str(stage_dir),
            week_start=window.week_start,
            as_of=window.as_of,
            window_start=window.window_start,
            history_start=window.history_start,
            config=config.model_dump(),
        )
        for area in staged.regions
    ]
    outcomes: list[dict[str, Any]] = []
    futures: dict[Future[dict[str, Any]], int] = {
        pool.submit(region_job.run_region, task): task.area_id for task in tasks
    }
    for future in as_completed(futures):
        area = futures[future]
        try:
            outcome = future.result()
        except Exception as error:  # one bad region never loses the others
            log.exception("region %s failed", area)
            outcome = {"areaId": area, "status": "failed", "error": error_text(error)}
        outcomes.append(outcome)
        if progress:
            progress("regions", len(outcomes), len(tasks))
    return sorted(outcomes, key=lambda o: o["areaId"])


def plan_in_pool(
    pool: ProcessPoolExecutor, outlets: pl.DataFrame, config: ScoringConfig, chunks: int
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """`plan_visits` of every rep, the reps split into `chunks` contiguous groups planned in
    the pool (routing is a Python loop per rep: 400 reps took 1.9 s in one process). The same
    visits and days as `plan_visits` on all outlets, in the same order."""
    reps = outlets.get_column("RepId").drop_nulls().unique().sort()
    if chunks <= 1 or reps.len() < 2 * chunks:
        return plan_visits(outlets, config)
    parts = [chunk_outlets(outlets, i, chunks) for i in range(chunks)]
    try:
        planned = list(pool.map(plan_visits, parts, [config] * len(parts)))
    except BrokenProcessPool:  # a region's worker died: the regions that succeeded still route
        log.warning("the worker pool is broken: routing in the main process")
        return plan_visits(outlets, config)
    return pl.concat([v for v, _ in planned]), pl.concat([d for _, d in planned])
