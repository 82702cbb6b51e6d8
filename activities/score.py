"""Region activity: read one region from SQL, validate, score, stage the result in Blob.

The Azure twin of ``visitrank.local.region_job.run_region``: the same ``coerce_table`` (inside the
SQL source), ``quarantine`` and ``score_region``; only the reading (SQL per region instead of staged
local Parquet) and the staging (Blob instead of a local folder) differ. Input and output are
small JSON; the frames go to Blob, where the steps after the scoring read them back
(``read_planning_inputs``: the route chunks; ``read_scored``: publish).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from datetime import date
from typing import Any, Final

import polars as pl

from scoring.config import ScoringConfig
from scoring.orders.development import WeekScores
from scoring.pipeline import RegionScores, score_region
from visitrank.adapters.app_settings import Settings
from visitrank.adapters.blob_scores import BlobScores
from visitrank.adapters.blob_staging import BlobStaging, region_paths, region_prefix
from visitrank.adapters.sql_source import SqlSource
from visitrank.pipeline.documents import LEARNED_STEPS
from visitrank.pipeline.payloads import RegionOutcome, RegionTask
from visitrank.pipeline.region import (
    merge_reps,
    quarantine_region,
    region_input_rows,
    region_inputs,
    rep_table,
    scored_outcome,
)
from visitrank.pipeline.routing_inputs import routing_attributes, with_routing_attributes
from visitrank.pipeline.score_history import scoring_fingerprint

log = logging.getLogger("visitrank.score")

SCORED_FILES: Final = {
    "outlets": "outlets.parquet",
    "skus": "skus.parquet",
    "reps": "reps.parquet",
    "learnedSteps": "learned_steps.json",
}
"""What the scoring of a region stages in its folder (``region_paths``), read by the route
chunks and publish."""


def keep_week_scores(
    staging: BlobStaging,
    area_id: int,
    scores: RegionScores,
    as_of: date,
    config: ScoringConfig,
) -> None:
    """Keeps the region's week scores for the proposed orders of later weeks (their
    calibration); a failure is logged, never raised: it only costs a later run a scoring."""
    try:
        BlobScores(staging).keep(
            WeekScores.from_scores(scores.skus, scores.outlets, as_of),
            area_id,
            scoring_fingerprint(config),
        )
    except Exception as error:
        log.warning("region %s: the week's scores were not kept: %s", area_id, error)


def score_region_activity(payload: dict[str, Any], settings: Settings) -> RegionOutcome:
    """Input: runId, areaId, the window dates and config (from the plan).

    The staged outlets carry the planner's routing attributes (``pipeline.routing_inputs``:
    visit length and frequency, opening hours, the week's pin, the current exclusion).

    Output: areaId, status "ok", the blob paths of outlets/skus/reps/learnedSteps, row
    counts, the region's visit response (``visitResponse``) and gap-persistence model
    (``gapPersistence``), as ``region_job.run_region``, and quarantine counts; ``reps`` (the
    reps with scored outlets in the region) sizes the route chunks.
    Raises on any failure so the orchestrator's retry policy runs.
    """
    started = time.perf_counter()
    task = RegionTask.from_json(payload)
    area_id, window, config = task.area_id, task.window, task.scoring
    source = SqlSource.from_settings(settings)
    tables = source.read_region(area_id, window.history_start, window.week_start)
    checked = quarantine_region(tables, area_id)
    inputs = region_inputs(checked.tables, window)
    scores = score_region(inputs, window, config)

    staging = BlobStaging.from_settings(settings)
    prefix = region_prefix(task.run_id, area_id)
    paths = region_paths(task.run_id, area_id, SCORED_FILES)
    outlets = with_routing_attributes(scores.outlets, routing_attributes(checked.tables, window))
    staging.write_frame(paths["outlets"], outlets)
    staging.write_frame(paths["skus"], scores.skus)
    if not task.dry_run:
        keep_week_scores(staging, area_id, scores, window.as_of, config)
    staging.write_frame(paths["reps"], rep_table(checked.tables))
    outcome = scored_outcome(area_id, inputs, scores)
    staging.write_json(paths["learnedSteps"], {step: outcome.get(step) for step in LEARNED_STEPS})
    for table, rows in checked.rows.items():
        if rows.height:
            staging.write_frame(f"{prefix}/quarantine/{table}.parquet", rows)
    return {
        **outcome,
        "paths": paths,
        "inputRows": region_input_rows(tables, area_id),
        "quarantined": checked.counts(),
        "seconds": round(time.perf_counter() - started, 3),
    }


def read_planning_inputs(
    staging: BlobStaging, run_id: str, regions: Sequence[int]
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The staged outlets of the regions that succeeded and their reps (``merge_reps``: one
    row per rep, with its home): what the planner reads."""
    paths = [region_paths(run_id, area, SCORED_FILES) for area in regions]
    outlets = staging.read_frames([path["outlets"] for path in paths])
    reps = merge_reps(staging.read_frame(path["reps"]) for path in paths)
    return outlets, reps


def read_scored(
    staging: BlobStaging, run_id: str, regions: Sequence[int]
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame, list[dict[str, Any]]]:
    """The staged outlets, SKUs and reps of the regions that succeeded, and each region's
    learned steps' verdicts (areaId plus ``LEARNED_STEPS``)."""
    outlets, reps = read_planning_inputs(staging, run_id, regions)
    paths = [region_paths(run_id, area, SCORED_FILES) for area in regions]
    skus = staging.read_frames([path["skus"] for path in paths])
    learned = [
        {"areaId": area, **staging.read_json(path["learnedSteps"])}
        for area, path in zip(regions, paths, strict=True)
    ]
    return outlets, skus, reps, learned
