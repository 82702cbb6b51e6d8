"""The local run's region workers: a pool of spawned processes, one region at a time each.

Each worker gets cores / workers polars threads: two workers with a full thread pool each
oversubscribe the cores (bench M, 2 cores, 2 workers: 35.6 s against 30.2 s end to end).
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
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from scoring.config import ScoringConfig
from visitrank import region_job
from visitrank.errors import error_text
from visitrank.staging import StagedInputs

log = logging.getLogger("visitrank")

POLARS_THREADS = "POLARS_MAX_THREADS"

Progress = Callable[[str, int, int], None]


@contextmanager
def worker_threads(workers: int) -> Iterator[None]:
    """The environment of the workers spawned inside: cores / workers polars threads each,
    unless POLARS_MAX_THREADS is already set (then it applies to every process)."""
    if POLARS_THREADS in os.environ:
        yield
        return
    os.environ[POLARS_THREADS] = str(max(1, (os.cpu_count() or 1) // workers))
    try:
        yield
    finally:
        del os.environ[POLARS_THREADS]


def fan_out(
    staged: StagedInputs,
    stage_dir: Path,
    config: ScoringConfig,
    workers: int,
    progress: Progress | None,
) -> list[dict[str, Any]]:
    """Scores every region in `workers` spawned processes; a failed region yields an error
    outcome and never loses the others."""
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
    workers = max(1, workers)
    context = multiprocessing.get_context("spawn")
    # the pool spawns its processes at the submits: all of them under the thread setting
    with (
        ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool,
        worker_threads(workers),
    ):
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
