"""One region's unit of work: load its clean rows, score them, stage the result.

The local runner runs it in worker processes; the Azure activity runs the same scoring on rows it
loads from SQL. Inputs and outputs are small and picklable (paths, ids, counts), never frames.
"""

from __future__ import annotations

import resource
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from functools import partial
from pathlib import Path
from typing import Any

import polars as pl

from scoring.config import ScoringConfig
from scoring.inputs import ScoringWindow
from scoring.pipeline import score_region
from visitrank.adapters import local_stage
from visitrank.pipeline.region import scored_outcome
from visitrank.pipeline.routing_inputs import with_routing_attributes

OUTLETS_FILE = "outlets.parquet"
SKUS_FILE = "skus.parquet"


@dataclass(frozen=True)
class RegionTask:
    """What a worker needs to score one region (picklable)."""

    area_id: int
    work_dir: str
    stage_dir: str
    week_start: date
    as_of: date
    window_start: date
    history_start: date
    config: dict[str, Any]


def region_stage_dir(stage_dir: Path, area_id: int) -> Path:
    """Where one region's scores are staged."""
    return stage_dir / f"region={area_id}"


@contextmanager
def timed_step(timings: dict[str, float], step: str) -> Iterator[None]:
    """Adds the wall seconds of one scoring step to `timings` (the clock stays out of scoring)."""
    started = time.perf_counter()
    try:
        yield
    finally:
        timings[step] = timings.get(step, 0.0) + time.perf_counter() - started


def run_region(task: RegionTask) -> dict[str, Any]:
    """Scores one region and stages outlets.parquet (the scored outlets with the planner's
    routing attributes, ``pipeline.routing_inputs``) and skus.parquet; returns counts and the
    visit response's summary (`visitResponse`: signal, effect, ci95, outlets, reason; None when
    `visit_response` is off) and the gap-persistence model's (`gapPersistence`: signal, skill,
    ci95, examples, persisted, reason; None when `gap_persistence` is off)."""
    started = time.perf_counter()
    config = ScoringConfig.model_validate(task.config)
    window = ScoringWindow(
        week_start=task.week_start,
        as_of=task.as_of,
        window_start=task.window_start,
        history_start=task.history_start,
    )
    steps: dict[str, float] = {}
    loaded = time.perf_counter()
    inputs = local_stage.load_region(Path(task.work_dir), task.area_id)
    steps["load"] = time.perf_counter() - loaded
    scores = score_region(inputs, window, config, step_timer=partial(timed_step, steps))
    written = time.perf_counter()
    out = region_stage_dir(Path(task.stage_dir), task.area_id)
    out.mkdir(parents=True, exist_ok=True)
    routing = local_stage.load_routing(Path(task.work_dir), task.area_id)
    with_routing_attributes(scores.outlets, routing).write_parquet(out / OUTLETS_FILE)
    scores.skus.write_parquet(out / SKUS_FILE)
    steps["write"] = time.perf_counter() - written
    return {
        **scored_outcome(task.area_id, inputs, scores),
        "seconds": round(time.perf_counter() - started, 3),
        "steps": {name: round(value, 3) for name, value in steps.items()},
        "workerPeakRssMb": peak_rss_mb(),
        "polarsThreads": pl.thread_pool_size(),
    }


def peak_rss_mb() -> float:
    """This process's peak resident set size so far, in MB (a pool worker's peak over the
    regions it has scored). Linux: VmHWM of /proc/self/status, which belongs to this process's
    own image (ru_maxrss of a spawned worker also counts its parent's memory at fork time)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, bytes on macOS
    return round(peak / (1024 * 1024 if sys.platform == "darwin" else 1024), 1)
