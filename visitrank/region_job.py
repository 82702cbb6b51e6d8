"""One region's unit of work: load its clean rows, score them, stage the result.

The local runner runs it in worker processes; the Azure activity runs the same scoring on rows it
loads from SQL. Inputs and outputs are small and picklable (paths, ids, counts), never frames.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import polars as pl

from scoring.config import ScoringConfig
from scoring.inputs import RegionInputs, ScoringWindow
from scoring.pipeline import score_region
from visitrank import staging

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


def load_region(work_dir: Path, area_id: int) -> RegionInputs:
    """The staged clean rows of one region (predicate pushdown on AreaId)."""
    in_area = pl.col("AreaId") == area_id
    customers = pl.scan_parquet(work_dir / staging.CUSTOMERS).filter(in_area).collect()
    return RegionInputs(
        customers=customers,
        items=pl.read_parquet(work_dir / staging.ITEMS),
        lines=staging.scan_region_lines(work_dir, area_id).collect(),
        last_visits=pl.scan_parquet(work_dir / staging.LAST_VISITS)
        .join(customers.lazy().select("CustomerId"), on="CustomerId", how="semi")
        .collect(),
    )


def region_stage_dir(stage_dir: Path, area_id: int) -> Path:
    """Where one region's scores are staged."""
    return stage_dir / f"region={area_id}"


def run_region(task: RegionTask) -> dict[str, Any]:
    """Scores one region and stages outlets.parquet and skus.parquet; returns counts."""
    started = time.perf_counter()
    config = ScoringConfig.model_validate(task.config)
    window = ScoringWindow(
        week_start=task.week_start,
        as_of=task.as_of,
        window_start=task.window_start,
        history_start=task.history_start,
    )
    inputs = load_region(Path(task.work_dir), task.area_id)
    scores = score_region(inputs, window, config)
    out = region_stage_dir(Path(task.stage_dir), task.area_id)
    out.mkdir(parents=True, exist_ok=True)
    scores.outlets.write_parquet(out / OUTLETS_FILE)
    scores.skus.write_parquet(out / SKUS_FILE)
    return {
        "areaId": task.area_id,
        "status": "ok",
        "outlets": scores.outlets.height,
        "lines": inputs.lines.height,
        "outletsWithOpportunity": int((scores.outlets["PushedSkus"] > 0).sum()),
        "skusToPush": scores.skus.height,
        "seconds": round(time.perf_counter() - started, 3),
    }
