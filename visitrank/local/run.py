"""`visitrank run`: the weekly job on local files, the local driver of the pipeline.

The steps of the Azure orchestration, in one process and a pool of workers: stage the
validated inputs, score one region per worker, fan in, plan the reps' weeks in the pool,
propose the orders and segment the outlets, build the week's documents (`pipeline.fan_in`),
write them as JSON lines plus the run summary (`pipeline.summary`, the Azure run's shape). A
region that fails is reported and the others are still written (status "partial"); failing
proposed orders or segmentation never block the lists either.

Honest status (`visitrank.pipeline.health`): input that cannot make a useful week (every customer
set aside, no outlet that can be routed) stops the run after staging with status "failed" and
the findings; lists with no value at all fail it after the fan-in; findings that need a human
are listed as warnings. The run writes its outputs in a folder of its own and swaps them in
when it is done, so an older week's files are never mixed with this one's; a failed run removes
the previous run's lists and writes its own summary (and, for unreadable input, every problem
in OUT/input_problems.csv).
"""

from __future__ import annotations

import contextlib
import json
import logging
import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, TypeVar

import polars as pl

from scoring.config import ScoringConfig
from scoring.orders import OrderConfig
from scoring.orders.development import WeekScores
from scoring.segmentation_config import SegmentationConfig
from visitrank.adapters.local_stage import (
    BATCH_ROWS,
    StagedInputs,
    read_small_tables,
    stage_from_source,
)
from visitrank.adapters.open_source import as_source
from visitrank.adapters.score_store import FolderScores
from visitrank.contract.errors import ContractError, error_text
from visitrank.contract.source import TableSource
from visitrank.contract.value_map import MappedSource
from visitrank.local import region_job
from visitrank.local.orders import HISTORY, ORDERS, run_orders
from visitrank.local.problems import PROBLEMS_FILE, write_problems
from visitrank.local.region_pool import Progress, fan_out, plan_in_pool, worker_pool
from visitrank.local.segments import inputs_from_staged, run_segments, segment_and_export
from visitrank.pipeline.fan_in import PlannedWeeks, WeekParts, plan_weeks, week_documents
from visitrank.pipeline.health import (
    Finding,
    accounting,
    failure_reason,
    health_section,
    honest_status,
    list_findings,
)
from visitrank.pipeline.orders import Mapper, week_scores_by_area
from visitrank.pipeline.run_config import RunConfig
from visitrank.pipeline.score_history import KEPT_WEEKS, scoring_fingerprint
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
QUARANTINE_DIR = "quarantine"
SCORE_HISTORY = "score_history"
"""The kept week scores (`visitrank.pipeline.score_history`) under the output folder."""
RUN_OUTPUTS = (VISIT_LISTS, ORDERS, QUARANTINE_DIR, PROBLEMS_FILE, RUN_SUMMARY)
"""What one run writes and a later run replaces whole (the summary last). The order feedback
history and the segment state and tags are history on purpose and stay."""
SEGMENT_HISTORY = ("segment_tags.json", "segments_state.json", "segments_state_outlets.parquet")
"""The files of OUT/segments that carry over from run to run (the tags are people's edits);
the rest are this run's exports."""


@dataclass(frozen=True)
class RunResult:
    """What a run produced: status ("complete" | "partial" | "failed") and the summary dict;
    `region_outcomes`: every region's outcome as its worker returned it, with what the summary
    leaves out (the scoring steps' seconds, the worker's peak memory: the benchmarks read them).
    """

    status: str
    summary: dict[str, Any]
    lists_path: Path
    region_outcomes: list[dict[str, Any]] = field(default_factory=list)


@contextmanager
def timed(timings: dict[str, float], stage: str) -> Iterator[None]:
    """Records the wall time of a stage in `timings`."""
    started = time.perf_counter()
    try:
        yield
    finally:
        timings[stage] = round(time.perf_counter() - started, 3)


Result = TypeVar("Result")


def timed_call(
    timings: dict[str, float], stage: str, step: Callable[..., Result], *args: Any
) -> Result:
    """`step(*args)`, its wall time recorded in `timings` (a stage run beside another)."""
    with timed(timings, stage):
        return step(*args)


def read_staged(stage_dir: Path, regions: list[int], name: str) -> pl.DataFrame:
    """The concatenated staged frames of the given regions."""
    paths = [region_job.region_stage_dir(stage_dir, area) / name for area in regions]
    return pl.concat([pl.read_parquet(p) for p in paths], how="vertical_relaxed")


@dataclass(frozen=True)
class LocalRun:
    """One run's identity, day and folders: this run's outputs are written to `pending` and
    swapped into `out_dir` when the run is done (`publish`)."""

    run_id: str
    started: datetime
    out_dir: Path
    work_dir: Path
    today: date

    @property
    def generated_at(self) -> str:
        return self.started.isoformat(timespec="seconds")

    @property
    def pending(self) -> Path:
        return self.work_dir / "out"


@dataclass(frozen=True)
class Scored:
    """The fan-in: the scored outlets and SKUs of the regions that succeeded."""

    outcomes: list[dict[str, Any]]
    outlets: pl.DataFrame
    skus: pl.DataFrame
    week_scores: dict[int, WeekScores] = field(default_factory=dict)
    """The same scores per region, for the orders and for later weeks (`week_scores_by_area`)."""

    @property
    def succeeded(self) -> list[int]:
        return [o["areaId"] for o in self.outcomes if o["status"] == "ok"]


@dataclass(frozen=True)
class Proposed:
    """The proposed orders step: the order documents (None when not asked for) or the error
    that kept them off the lists."""

    orders: list[dict[str, Any]] | None = None
    error: str | None = None
    calibration: dict[int, str] = field(default_factory=dict)
    """Area id -> "kept" (calibrated on kept week scores) or "scored"."""


@dataclass(frozen=True)
class Segmented:
    """The segmentation step: its outcome for the summary (None when not asked for) and the
    evidence frames for the lists."""

    outcome: dict[str, Any] | None = None
    evidence: tuple[pl.DataFrame, pl.DataFrame] | None = None


def run_local(
    source: TableSource | Path,
    out_dir: Path,
    config: ScoringConfig,
    *,
    week_start: date | None = None,
    workers: int = 2,
    progress: Progress | None = None,
    order_config: OrderConfig | None = None,
    segment_config: SegmentationConfig | None = None,
    batch_rows: int = BATCH_ROWS,
    today: date | None = None,
) -> RunResult:
    """Runs the weekly job on the contract tables of `source` (a TableSource: files or an ODBC
    database; a Path is a folder of files) and writes the documents.

    The sales lines (MV_SalesDetail) are staged in chunks of `batch_rows` lines, so memory does
    not grow with them (`visitrank.adapters.local_stage`); the result does not depend on
    `batch_rows`. Timings: `load_and_validate` reads and coerces every other table (and checks
    the lines' file and columns); `quarantine_and_stage` quarantines them, then reads, coerces,
    quarantines and stages the lines chunk by chunk, and writes the regions' other inputs.

    With an `order_config`, each customer's proposed order (as of the same day) is also written
    to OUT/orders.jsonl and attached to its visits as `proposedOrder`, as the Azure run does.
    With a `segment_config`, the outlets are segmented by behaviour as of the same day (exports
    in OUT/segments, whose tags file survives re-runs) and every visit carries its segment
    evidence (`visitrank.pipeline.segment_support`), as the Azure run does.

    `today` is the run's day (default: the clock's): sales and visits dated after it are set
    aside and the data's staleness is measured against it."""
    timings: dict[str, float] = {}
    run = start_run(out_dir, today)
    try:
        return run_steps(
            as_source(source),
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
        write_failed_summary(run, source, error, timings)
        raise
    finally:
        shutil.rmtree(run.work_dir, ignore_errors=True)
        _remove_if_empty(run.work_dir.parent)


def run_steps(
    source: TableSource,
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
    source = MappedSource(source, source.value_map())
    staged = stage(source, run, week_start, config, batch_rows, timings)
    if failure_reason(staged.findings):
        return stop_on_findings(run, source, staged, staged.findings, timings)
    with worker_pool(workers) as pool:
        with timed(timings, "score_regions"):
            outcomes = fan_out(pool, staged, run.work_dir / "stage", config, progress)
        with timed(timings, "fan_in"):
            scored = fan_in(run, outcomes, staged.window.as_of)
        with timed(timings, "rank_and_route"):
            planned = plan_weeks(
                scored.outlets,
                config,
                lambda frame, cfg: plan_in_pool(pool, frame, cfg, workers),
                reps=staged.reps,
                week_start=staged.window.week_start,
            )
        # the orders' regions on the pool while this process segments the outlets
        with (
            timed(timings, "orders_and_segments"),
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="orders") as side,
        ):
            ordering = side.submit(
                timed_call,
                timings,
                "orders",
                propose,
                source,
                run,
                order_config,
                config,
                staged,
                scored,
                pool.map,
            )
            with timed(timings, "segments"):
                segmented = segment(source, run, segment_config, staged, scored)
            proposed = ordering.result()
    configuration = RunConfig(
        scoring=config,
        orders=order_config or OrderConfig(),
        segmentation=segment_config or SegmentationConfig(),
    )
    with timed(timings, "documents"):
        documents = assemble(run, staged, scored, planned, proposed, segmented)
    findings = [*staged.findings, *list_findings(documents, eligible_reps(staged, scored))]
    if failure_reason(findings) and run_status_of(scored) != "failed":
        return stop_on_findings(run, source, staged, findings, timings)
    with timed(timings, "write_lists"):
        write_lists(run.pending, documents)
        if scored.outlets.height:
            keep_week_scores(run, staged, scored, config, order_config)
    summary = summarise(
        run, staged, scored, proposed, segmented, documents, configuration, findings
    )
    summary |= reading_parts(source)
    summary |= {"source": source.label(), "timingsSeconds": timings}
    write_summary(run.pending, summary)
    publish(run)
    return RunResult(
        status=summary["status"],
        summary=summary,
        lists_path=run.out_dir / VISIT_LISTS,
        region_outcomes=outcomes,
    )


def run_status_of(scored: Scored) -> str:
    """ "failed" when no region was scored (the summary then says why, region by region)."""
    return "ok" if scored.succeeded else "failed"


def eligible_reps(staged: StagedInputs, scored: Scored) -> dict[int, int]:
    """RepId -> outlets that can be visited, for the reps of the regions that were scored."""
    if not scored.outlets.height:
        return {}
    reps = staged.reps.join(scored.outlets.select("RepId").unique(), on="RepId", how="semi")
    return dict(zip(reps["RepId"].to_list(), reps["EligibleOutlets"].to_list(), strict=True))


def reading_parts(source: TableSource) -> dict[str, Any]:
    """What only the local run adds about its source: how each table was read and which coded
    values were mapped."""
    mapped = source.mapped() if isinstance(source, MappedSource) else {}
    return {"reading": source.reading(), "valuesMapped": mapped}


def stop_on_findings(
    run: LocalRun,
    source: TableSource,
    staged: StagedInputs,
    findings: list[Finding],
    timings: dict[str, float],
) -> RunResult:
    """A run whose data cannot make a useful week: no lists, the set-aside rows and a "failed"
    summary with the findings that say why."""
    window = staged.window
    summary = {
        "runId": run.run_id,
        "status": "failed",
        "error": failure_reason(findings),
        "generatedAt": run.generated_at,
        "weekStart": window.week_start.isoformat(),
        "asOf": window.as_of.isoformat(),
        "windowStart": window.window_start.isoformat(),
        "documents": 0,
        "visits": 0,
        "inputRows": staged.input_rows,
        "quarantined": staged.quarantine_counts,
        "quarantinedRows": sum(sum(r.values()) for r in staged.quarantine_counts.values()),
        "health": health_section(findings),
        "tables": accounting(staged.input_rows, staged.quarantine_counts),
        **reading_parts(source),
        "source": source.label(),
        "timingsSeconds": timings,
    }
    write_summary(run.pending, summary)
    publish(run)
    return RunResult(status="failed", summary=summary, lists_path=run.out_dir / VISIT_LISTS)


def write_summary(folder: Path, summary: dict[str, Any]) -> Path:
    """FOLDER/run_summary.json."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / RUN_SUMMARY
    path.write_text(json.dumps(summary, indent=2, ensure_ascii=False), encoding="utf-8")
    return path


def publish(run: LocalRun) -> None:
    """Swaps this run's outputs into OUT: every previous run output is removed and this run's
    moved in (each move is a rename within one file system), the summary last, so OUT never
    mixes two runs' files."""
    for name in RUN_OUTPUTS:
        target = run.out_dir / name
        if target.is_dir():
            shutil.rmtree(target)
        else:
            target.unlink(missing_ok=True)
        produced = run.pending / name
        if produced.exists():
            produced.replace(target)


def _remove_if_empty(folder: Path) -> None:
    with contextlib.suppress(OSError):  # not empty (another run's work) or already gone
        folder.rmdir()


def start_run(out_dir: Path, today: date | None = None) -> LocalRun:
    """A new run id, its day and its working folders. The previous run's outputs stay where
    they are until this run's replace them (`publish`)."""
    started = datetime.now(UTC)
    run_id = f"local-{started:%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:6]}"
    out_dir.mkdir(parents=True, exist_ok=True)
    run = LocalRun(run_id, started, out_dir, out_dir / "_work" / run_id, today or started.date())
    run.pending.mkdir(parents=True, exist_ok=True)
    return run


def write_failed_summary(
    run: LocalRun, source: TableSource | Path, error: Exception, timings: dict[str, float]
) -> None:
    """OUT/run_summary.json of a run that stopped: status "failed" and why, the previous run's
    outputs removed (a failed run never leaves an older week looking current) and, for input
    that could not be read, every problem in OUT/input_problems.csv."""
    summary: dict[str, Any] = {
        "runId": run.run_id,
        "status": "failed",
        "error": error_text(error),
        "generatedAt": run.generated_at,
        "source": str(source) if isinstance(source, Path) else source.label(),
        "timingsSeconds": timings,
    }
    shutil.rmtree(run.pending, ignore_errors=True)
    if isinstance(error, ContractError):
        report = write_problems(error, run.pending / PROBLEMS_FILE)
        summary["problems"] = error.total
        summary["problemsReport"] = str(run.out_dir / report.name)
    write_summary(run.pending, summary)
    publish(run)


def stage(
    source: TableSource,
    run: LocalRun,
    week_start: date | None,
    config: ScoringConfig,
    batch_rows: int,
    timings: dict[str, float],
) -> StagedInputs:
    """Reads, validates, quarantines and stages the inputs (`adapters.local_stage`)."""
    with timed(timings, "load_and_validate"):
        tables = read_small_tables(source)
    with timed(timings, "quarantine_and_stage"):
        staged = stage_from_source(
            source,
            run.work_dir / "clean",
            run.pending / QUARANTINE_DIR,
            week_start,
            config,
            batch_rows,
            small_tables=tables,
            today=run.today,
        )
    window = staged.window
    log.info("week %s, as of %s, %d regions", window.week_start, window.as_of, len(staged.regions))
    return staged


def fan_in(run: LocalRun, outcomes: list[dict[str, Any]], as_of: date) -> Scored:
    """The staged scores of the regions that succeeded (as of `as_of`)."""
    succeeded = [o["areaId"] for o in outcomes if o["status"] == "ok"]
    if not succeeded:
        return Scored(outcomes, pl.DataFrame(), pl.DataFrame())
    stage_dir = run.work_dir / "stage"
    outlets = read_staged(stage_dir, succeeded, region_job.OUTLETS_FILE)
    skus = read_staged(stage_dir, succeeded, region_job.SKUS_FILE)
    return Scored(outcomes, outlets, skus, week_scores_by_area(outlets, skus, as_of))


def propose(
    source: TableSource,
    run: LocalRun,
    order_config: OrderConfig | None,
    config: ScoringConfig,
    staged: StagedInputs,
    scored: Scored,
    mapper: Mapper = map,
) -> Proposed:
    """Each customer's proposed order as of the run's day (OUT/orders.jsonl), the regions run
    by `mapper`; a failure is reported, never raised: the orders never block the visit
    lists."""
    if order_config is None or not scored.outlets.height:
        return Proposed()
    try:
        path, _, _ = run_orders(
            source,
            run.pending,
            order_config,
            config,
            as_of=staged.window.as_of,
            history_path=run.out_dir / HISTORY,
            mapper=mapper,
            week_scores=scored.week_scores,
            calibration_scores=(kept := kept_calibration_scores(run, staged, order_config, config)),
        )
    except Exception as error:
        log.exception("proposed orders failed: the lists are written without them")
        return Proposed([], error_text(error))
    calibration = {area: "kept" if area in kept else "scored" for area in staged.regions}
    return Proposed(
        [json.loads(line) for line in path.read_text("utf-8").splitlines()],
        calibration=calibration,
    )


def kept_scores(run: LocalRun) -> FolderScores:
    """The week scores earlier runs into the same output folder kept (OUT/score_history)."""
    return FolderScores(run.out_dir / SCORE_HISTORY)


def kept_calibration_scores(
    run: LocalRun, staged: StagedInputs, order_config: OrderConfig, config: ScoringConfig
) -> dict[int, WeekScores]:
    """Per region, the kept week scores the orders calibrate on (`calibration_date`: about
    `calibration_weeks` before the as-of date, made with this scoring configuration); a region
    without them is scored for its calibration."""
    kept, fingerprint = kept_scores(run), scoring_fingerprint(config)
    found = {}
    for area in staged.regions:
        scores = kept.calibration_scores(
            area, staged.window.as_of, order_config.calibration_weeks, fingerprint
        )
        if scores is not None:
            found[area] = scores
    return found


def keep_week_scores(
    run: LocalRun,
    staged: StagedInputs,
    scored: Scored,
    config: ScoringConfig,
    order_config: OrderConfig | None,
) -> None:
    """Keeps the regions' scores of this week for the orders of later weeks and removes the
    kept weeks past `KEPT_WEEKS` (or past the orders' `calibration_weeks`, when longer). A
    failure is logged, never raised: the kept scores only save later runs work."""
    kept, fingerprint = kept_scores(run), scoring_fingerprint(config)
    weeks = max(KEPT_WEEKS, (order_config or OrderConfig()).calibration_weeks + 1)
    try:
        for area, scores in scored.week_scores.items():
            kept.keep(scores, area, fingerprint)
        kept.prune(staged.window.as_of, weeks)
    except Exception as error:  # e.g. a full disk: the lists are written all the same
        log.warning("the week's scores were not kept for later runs: %s", error)


def segment(
    source: TableSource,
    run: LocalRun,
    segment_config: SegmentationConfig | None,
    staged: StagedInputs,
    scored: Scored,
) -> Segmented:
    """The behaviour segments of every outlet as of the run's day (OUT/segments) and their
    evidence for the lists; a failure is reported, never raised."""
    folder = run.out_dir / SEGMENTS_DIR
    if segment_config is None or not scored.outlets.height:
        remove_segment_exports(folder)
        return Segmented()
    try:
        inputs = inputs_from_staged(staged, segment_config)
        done = (
            segment_and_export(inputs, folder, segment_config)
            if inputs is not None  # the staged rows: no second read of the source
            else run_segments(source, folder, segment_config, as_of=staged.window.as_of)
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


def remove_segment_exports(folder: Path) -> None:
    """Removes the previous segmentation's exports from OUT/segments when this run does not
    segment, so they are not taken for this week's; its state and tags stay (people's
    edits, and the next segmentation's starting point)."""
    if not folder.is_dir():
        return
    for path in folder.iterdir():
        if path.name not in SEGMENT_HISTORY and path.is_file():
            path.unlink()


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
    out_dir.mkdir(parents=True, exist_ok=True)
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
    findings: list[Finding],
) -> dict[str, Any]:
    """The run summary (`pipeline.summary.run_summary`, the Azure run's shape)."""
    counts = document_counts(documents)
    orders = proposed.orders
    status = weekly_status(scored.outcomes, segmented.outcome, [], proposed.error)
    return run_summary(
        run_id=run.run_id,
        status=honest_status(status, findings),
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
            calibration=proposed.calibration,
        ),
        segments=segments_section(segmented.outcome, counts["segmentEvidence"], None),
        config=config,
        written=counts["documents"],
        findings=findings,
    )
