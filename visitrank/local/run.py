"""`visitrank run`: the weekly job on local files, the local driver of the pipeline.

The steps of the Azure orchestration, in one process and a pool of workers: stage the
validated inputs, score one region per worker, fan in, plan the reps' weeks in the pool,
propose the orders and segment the outlets, build the week's documents (`pipeline.fan_in`),
write them as JSON lines plus the run summary (`pipeline.summary`, the Azure run's shape). A
region that fails is reported and the others are still written (status "partial"); failing
proposed orders or segmentation never block the lists either.
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
from visitrank.adapters.local_stage import (
    BATCH_ROWS,
    StagedInputs,
    read_small_tables,
    stage_from_source,
)
from visitrank.contract.errors import error_text
from visitrank.local import region_job
from visitrank.local.orders import ORDERS, run_orders
from visitrank.local.region_pool import Progress, fan_out, plan_in_pool, worker_pool
from visitrank.local.segments import inputs_from_staged, run_segments, segment_and_export
from visitrank.pipeline.fan_in import PlannedWeeks, WeekParts, plan_weeks, week_documents
from visitrank.pipeline.run_config import RunConfig
from visitrank.pipeline.segment_support import support_frames
from visitrank.pipeline.status import weekly_status
from visitrank.pipeline.summary import (
    document_counts,
    orders_section,
    run_summary,
    segments_section,
)

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


@dataclass(frozen=True)
class LocalRun:
    """One run's identity and folders."""

    run_id: str
    started: datetime
    out_dir: Path
    work_dir: Path

    @property
    def generated_at(self) -> str:
        return self.started.isoformat(timespec="seconds")


@dataclass(frozen=True)
class Scored:
    """The fan-in: the scored outlets and SKUs of the regions that succeeded."""

    outcomes: list[dict[str, Any]]
    outlets: pl.DataFrame
    skus: pl.DataFrame

    @property
    def succeeded(self) -> list[int]:
        return [o["areaId"] for o in self.outcomes if o["status"] == "ok"]


@dataclass(frozen=True)
class Proposed:
    """The proposed orders step: the order documents (None when not asked for) or the error
    that kept them off the lists."""

    orders: list[dict[str, Any]] | None = None
    error: str | None = None


@dataclass(frozen=True)
class Segmented:
    """The segmentation step: its outcome for the summary (None when not asked for) and the
    evidence frames for the lists."""

    outcome: dict[str, Any] | None = None
    evidence: tuple[pl.DataFrame, pl.DataFrame] | None = None


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
    `batch_rows`. Timings: `load_and_validate` reads and coerces every other table (and checks
    the lines' file and columns); `quarantine_and_stage` quarantines them, then reads, coerces,
    quarantines and stages the lines chunk by chunk, and writes the regions' other inputs.

    With an `order_config`, each customer's proposed order (as of the same day) is also written
    to OUT/orders.jsonl and attached to its visits as `proposedOrder`, as the Azure run does.
    With a `segment_config`, the outlets are segmented by behaviour as of the same day (exports
    in OUT/segments, whose tags file survives re-runs) and every visit carries its segment
    evidence (`visitrank.pipeline.segment_support`), as the Azure run does."""
    timings: dict[str, float] = {}
    run = start_run(out_dir)
    try:
        return run_steps(
            source_dir,
            run,
            config,
            week_start=week_start,
            workers=workers,
            progress=progress,
            order_config=order_config,
            segment_config=segment_config,
            batch_rows=batch_rows,
            timings=timings,
        )
    except Exception as error:  # never leave a run without its "failed" summary
        write_failed_summary(run, source_dir, error, timings)
        raise
    finally:
        shutil.rmtree(run.work_dir, ignore_errors=True)


def run_steps(
    source_dir: Path,
    run: LocalRun,
    config: ScoringConfig,
    *,
    week_start: date | None,
    workers: int,
    progress: Progress | None,
    order_config: OrderConfig | None,
    segment_config: SegmentationConfig | None,
    batch_rows: int,
    timings: dict[str, float],
) -> RunResult:
    """The weekly job's steps (see `run_local`)."""
    out_dir = run.out_dir
    staged = stage(source_dir, run, week_start, config, batch_rows, timings)
    with worker_pool(workers) as pool:
        with timed(timings, "score_regions"):
            outcomes = fan_out(pool, staged, run.work_dir / "stage", config, progress)
        with timed(timings, "fan_in"):
            scored = fan_in(run, outcomes)
        with timed(timings, "rank_and_route"):
            planned = plan_weeks(
                scored.outlets, config, lambda frame, cfg: plan_in_pool(pool, frame, cfg, workers)
            )
    with timed(timings, "orders"):
        proposed = propose(source_dir, run, order_config, config, staged, scored)
    with timed(timings, "segments"):
        segmented = segment(source_dir, run, segment_config, staged, scored)
    with timed(timings, "documents"):
        documents = assemble(run, staged, scored, planned, proposed, segmented)
    with timed(timings, "write_lists"):
        lists_path = write_lists(out_dir, documents)
    configuration = RunConfig(
        scoring=config,
        orders=order_config or OrderConfig(),
        segmentation=segment_config or SegmentationConfig(),
    )
    summary = summarise(run, staged, scored, proposed, segmented, documents, configuration)
    summary |= {"source": str(source_dir), "timingsSeconds": timings}
    (out_dir / RUN_SUMMARY).write_text(json.dumps(summary, indent=2, ensure_ascii=False))
    return RunResult(status=summary["status"], summary=summary, lists_path=lists_path)


def start_run(out_dir: Path) -> LocalRun:
    """A new run id and its working folder. The previous run's lists, orders, summary and
    quarantine files are removed first: a run that fails must not leave an older week's
    results looking current (the order feedback history and the segment state and tags stay,
    they are history on purpose)."""
    started = datetime.now(UTC)
    run_id = f"local-{started:%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:6]}"
    out_dir.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(out_dir / "quarantine", ignore_errors=True)
    for name in (VISIT_LISTS, RUN_SUMMARY, ORDERS):
        (out_dir / name).unlink(missing_ok=True)
    return LocalRun(run_id, started, out_dir, out_dir / "_work" / run_id)


def write_failed_summary(
    run: LocalRun, source_dir: Path, error: Exception, timings: dict[str, float]
) -> None:
    """OUT/run_summary.json of a run that stopped: status "failed" and why."""
    summary = {
        "runId": run.run_id,
        "status": "failed",
        "error": error_text(error),
        "generatedAt": run.generated_at,
        "source": str(source_dir),
        "timingsSeconds": timings,
    }
    (run.out_dir / RUN_SUMMARY).write_text(json.dumps(summary, indent=2, ensure_ascii=False))


def stage(
    source_dir: Path,
    run: LocalRun,
    week_start: date | None,
    config: ScoringConfig,
    batch_rows: int,
    timings: dict[str, float],
) -> StagedInputs:
    """Reads, validates, quarantines and stages the inputs (`adapters.local_stage`)."""
    with timed(timings, "load_and_validate"):
        source = FileSource(source_dir)
        tables = read_small_tables(source)
    with timed(timings, "quarantine_and_stage"):
        staged = stage_from_source(
            source,
            run.work_dir / "clean",
            run.out_dir / "quarantine",
            week_start,
            config,
            batch_rows,
            small_tables=tables,
        )
    window = staged.window
    log.info("week %s, as of %s, %d regions", window.week_start, window.as_of, len(staged.regions))
    return staged


def fan_in(run: LocalRun, outcomes: list[dict[str, Any]]) -> Scored:
    """The staged scores of the regions that succeeded."""
    succeeded = [o["areaId"] for o in outcomes if o["status"] == "ok"]
    if not succeeded:
        return Scored(outcomes, pl.DataFrame(), pl.DataFrame())
    stage_dir = run.work_dir / "stage"
    return Scored(
        outcomes,
        read_staged(stage_dir, succeeded, region_job.OUTLETS_FILE),
        read_staged(stage_dir, succeeded, region_job.SKUS_FILE),
    )


def propose(
    source_dir: Path,
    run: LocalRun,
    order_config: OrderConfig | None,
    config: ScoringConfig,
    staged: StagedInputs,
    scored: Scored,
) -> Proposed:
    """Each customer's proposed order as of the run's day (OUT/orders.jsonl); a failure is
    reported, never raised: the orders never block the visit lists."""
    if order_config is None or not scored.outlets.height:
        return Proposed()
    try:
        path, _, _ = run_orders(
            source_dir, run.out_dir, order_config, config, as_of=staged.window.as_of
        )
    except Exception as error:
        log.exception("proposed orders failed: the lists are written without them")
        return Proposed([], error_text(error))
    return Proposed([json.loads(line) for line in path.read_text("utf-8").splitlines()])


def segment(
    source_dir: Path,
    run: LocalRun,
    segment_config: SegmentationConfig | None,
    staged: StagedInputs,
    scored: Scored,
) -> Segmented:
    """The behaviour segments of every outlet as of the run's day (OUT/segments) and their
    evidence for the lists; a failure is reported, never raised."""
    if segment_config is None or not scored.outlets.height:
        return Segmented()
    folder = run.out_dir / SEGMENTS_DIR
    try:
        inputs = inputs_from_staged(staged, segment_config)
        done = (
            segment_and_export(inputs, folder, segment_config)
            if inputs is not None  # the staged rows: no second read of the source
            else run_segments(source_dir, folder, segment_config, as_of=staged.window.as_of)
        )
    except Exception as error:
        log.exception("segmentation failed: the lists are written without its evidence")
        return Segmented({"status": "failed", "error": error_text(error)})
    outcome = {
        "status": "ok",
        "k": done.summary["k"],
        "kChosenBy": done.summary["kChosenBy"],
        "segments": done.summary["segments"],
        "outlets": done.result.outlets.height,
    }
    return Segmented(outcome, support_frames(done.result))


def assemble(
    run: LocalRun,
    staged: StagedInputs,
    scored: Scored,
    planned: PlannedWeeks,
    proposed: Proposed,
    segmented: Segmented,
) -> list[dict[str, Any]]:
    """The week's rep documents (`pipeline.fan_in.week_documents`)."""
    covered = frozenset(scored.succeeded) if proposed.error is None else frozenset()
    return week_documents(
        planned,
        scored.outlets,
        scored.skus,
        staged.reps,
        staged.window,
        WeekParts(scored.outcomes, proposed.orders, covered, segmented.evidence),
        run_id=run.run_id,
        generated_at=run.generated_at,
    )


def write_lists(out_dir: Path, documents: list[dict[str, Any]]) -> Path:
    """OUT/visit_lists.jsonl, one rep document per line."""
    path = out_dir / VISIT_LISTS
    with path.open("w", encoding="utf-8") as handle:
        for document in documents:
            handle.write(json.dumps(document, ensure_ascii=False) + "\n")
    return path


def summarise(
    run: LocalRun,
    staged: StagedInputs,
    scored: Scored,
    proposed: Proposed,
    segmented: Segmented,
    documents: list[dict[str, Any]],
    config: RunConfig,
) -> dict[str, Any]:
    """The run summary (`pipeline.summary.run_summary`, the Azure run's shape)."""
    counts = document_counts(documents)
    orders = proposed.orders
    return run_summary(
        run_id=run.run_id,
        status=weekly_status(scored.outcomes, segmented.outcome, [], proposed.error),
        window=staged.window,
        generated_at=run.generated_at,
        counts=counts,
        regions=scored.outcomes,
        input_rows=staged.input_rows,
        quarantined=staged.quarantine_counts,
        orders=orders_section(
            status="skipped" if orders is None else ("failed" if proposed.error else "ok"),
            documents=len(orders or []),
            written=len(orders or []),
            visits_with_proposed_order=counts["visitsWithProposedOrder"],
            error=proposed.error,
        ),
        segments=segments_section(segmented.outcome, counts["segmentEvidence"], None),
        config=config,
        written=counts["documents"],
    )
