"""`visitrank run`: the weekly job on local files.

Same shape as the Azure orchestration: validate and stage the inputs, fan out one worker process
per region, fan in to rank and route per rep, write the documents as JSON lines plus a run
summary. A region that fails is reported and the others are still written (status "partial").
"""

from __future__ import annotations

import json
import logging
import shutil
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import polars as pl

from scoring.config import ScoringConfig
from scoring.orders import OrderConfig
from scoring.segmentation import SegmentationConfig
from visitrank.adapters.file_source import FileSource
from visitrank.adapters.local_stage import BATCH_ROWS, read_small_tables, stage_from_source
from visitrank.contract.errors import error_text
from visitrank.local import region_job
from visitrank.local.orders import run_orders
from visitrank.local.region_pool import Progress, fan_out, plan_in_pool, worker_pool
from visitrank.local.segments import inputs_from_staged, run_segments, segment_and_export
from visitrank.pipeline.fan_in import WeekParts, plan_weeks, week_documents
from visitrank.pipeline.segment_support import support_frames, support_summary
from visitrank.pipeline.status import weekly_status

log = logging.getLogger("visitrank")

VISIT_LISTS = "visit_lists.jsonl"
RUN_SUMMARY = "run_summary.json"
SEGMENTS_DIR = "segments"


@dataclass(frozen=True)
class RunResult:
    """What a run produced: status ("complete" | "partial" | "failed") and the summary dict."""

    status: str
    summary: dict[str, Any]
    lists_path: Path


@contextmanager
def timed(timings: dict[str, float], stage: str) -> Iterator[None]:
    """Records the wall time of a stage in `timings`."""
    started = time.perf_counter()
    try:
        yield
    finally:
        timings[stage] = round(time.perf_counter() - started, 3)


def read_staged(stage_dir: Path, regions: list[int], name: str) -> pl.DataFrame:
    """The concatenated staged frames of the given regions."""
    paths = [region_job.region_stage_dir(stage_dir, area) / name for area in regions]
    return pl.concat([pl.read_parquet(p) for p in paths], how="vertical_relaxed")


def run_local(
    source_dir: Path,
    out_dir: Path,
    config: ScoringConfig,
    *,
    week_start: date | None = None,
    workers: int = 2,
    progress: Progress | None = None,
    order_config: OrderConfig | None = None,
    segment_config: SegmentationConfig | None = None,
    batch_rows: int = BATCH_ROWS,
) -> RunResult:
    """Runs the weekly job on a folder of contract tables and writes the documents.

    The sales lines (MV_SalesDetail) are staged in chunks of `batch_rows` lines, so memory does
    not grow with them (`visitrank.adapters.local_stage`); the result does not depend on
    `batch_rows`. Timings:
    `load_and_validate` reads and coerces every other table (and checks the lines' file and
    columns); `quarantine_and_stage` quarantines them, then reads, coerces, quarantines and
    stages the lines chunk by chunk, and writes the regions' other inputs.

    With an `order_config`, each customer's proposed order (as of the same day) is also written
    to OUT/orders.jsonl and attached to its visits as `proposedOrder`, as the Azure run does.
    With a `segment_config`, the outlets are segmented by behaviour as of the same day (exports
    in OUT/segments, whose tags file survives re-runs) and every visit carries its segment
    evidence (`visitrank.pipeline.segment_support`), as the Azure run does."""
    timings: dict[str, float] = {}
    run_started = datetime.now(UTC)
    run_id = f"local-{run_started:%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:6]}"
    out_dir.mkdir(parents=True, exist_ok=True)
    work_dir = out_dir / "_work" / run_id
    quarantine_dir = out_dir / "quarantine"
    shutil.rmtree(quarantine_dir, ignore_errors=True)

    with timed(timings, "load_and_validate"):
        source = FileSource(source_dir)
        tables = read_small_tables(source)
    with timed(timings, "quarantine_and_stage"):
        staged = stage_from_source(
            source,
            work_dir / "clean",
            quarantine_dir,
            week_start,
            config,
            batch_rows,
            small_tables=tables,
        )
    del tables
    window = staged.window
    log.info("week %s, as of %s, %d regions", window.week_start, window.as_of, len(staged.regions))
    with worker_pool(workers) as pool:
        with timed(timings, "score_regions"):
            outcomes = fan_out(pool, staged, work_dir / "stage", config, progress)
        succeeded = [o["areaId"] for o in outcomes if o["status"] == "ok"]
        failed = [o for o in outcomes if o["status"] != "ok"]

        with timed(timings, "fan_in"):
            if succeeded:
                outlets = read_staged(work_dir / "stage", succeeded, region_job.OUTLETS_FILE)
                skus = read_staged(work_dir / "stage", succeeded, region_job.SKUS_FILE)
            else:
                outlets = pl.DataFrame()
                skus = pl.DataFrame()
        with timed(timings, "rank_and_route"):
            planned = plan_weeks(
                outlets, config, lambda frame, cfg: plan_in_pool(pool, frame, cfg, workers)
            )
    orders: list[dict[str, Any]] | None = None
    orders_error: str | None = None
    if order_config is not None and outlets.height:
        with timed(timings, "orders"):
            try:
                orders_path, _, _ = run_orders(
                    source_dir, out_dir, order_config, config, as_of=window.as_of
                )
                orders = [json.loads(line) for line in orders_path.read_text("utf-8").splitlines()]
            except Exception as error:  # the orders never block the visit lists
                log.exception("proposed orders failed: the lists are written without them")
                orders, orders_error = [], error_text(error)
    segment_counts: dict[str, Any] | None = None
    evidence = None
    if segment_config is not None and outlets.height:
        with timed(timings, "segments"):
            try:
                inputs = inputs_from_staged(staged, segment_config)
                segmented = (
                    segment_and_export(inputs, out_dir / SEGMENTS_DIR, segment_config)
                    if inputs is not None  # the staged rows: no second read of the source
                    else run_segments(
                        source_dir, out_dir / SEGMENTS_DIR, segment_config, as_of=window.as_of
                    )
                )
                evidence = support_frames(segmented.result)
                segment_counts = {"segments": segmented.summary["segments"]}
            except Exception as error:  # segment evidence never blocks the visit lists
                log.exception("segmentation failed: the lists are written without its evidence")
                segment_counts = {"error": error_text(error)}
    with timed(timings, "documents"):
        documents = week_documents(
            planned,
            outlets,
            skus,
            staged.reps,
            window,
            WeekParts(
                regions=outcomes,
                orders=orders,
                order_areas=frozenset(succeeded) if orders_error is None else frozenset(),
                evidence=evidence,
            ),
            run_id=run_id,
            generated_at=run_started.isoformat(timespec="seconds"),
        )
        if evidence is not None and segment_counts is not None:
            segment_counts.update(support_summary(documents))
    with timed(timings, "write_lists"):
        lists_path = out_dir / VISIT_LISTS
        with lists_path.open("w", encoding="utf-8") as handle:
            for document in documents:
                handle.write(json.dumps(document, ensure_ascii=False) + "\n")
    shutil.rmtree(work_dir, ignore_errors=True)

    status = weekly_status(
        outcomes,
        None
        if segment_counts is None
        else {"status": "failed" if "error" in segment_counts else "ok"},
        [],
        orders_error,
    )
    summary = {
        "runId": run_id,
        "status": status,
        "weekStart": window.week_start.isoformat(),
        "asOf": window.as_of.isoformat(),
        "windowStart": window.window_start.isoformat(),
        "generatedAt": run_started.isoformat(timespec="seconds"),
        "source": str(source_dir),
        "documents": len(documents),
        "visits": sum(len(d["visits"]) for d in documents),
        "inputRows": staged.input_rows,
        "quarantined": staged.quarantine_counts,
        "proposedOrders": len(orders or []),
        "ordersError": orders_error,
        "segmentSupport": segment_counts,
        "quarantinedRows": sum(sum(r.values()) for r in staged.quarantine_counts.values()),
        "regions": outcomes,
        "failedRegions": [o["areaId"] for o in failed],
        "timingsSeconds": timings,
        "config": config.model_dump(),
    }
    (out_dir / RUN_SUMMARY).write_text(json.dumps(summary, indent=2, ensure_ascii=False))
    return RunResult(status=status, summary=summary, lists_path=lists_path)
