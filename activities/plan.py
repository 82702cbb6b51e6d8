"""Plan activity: which week, which regions, which dates. The orchestration's first step.

The orchestrator must not do I/O, so everything that needs the database (the regions that have
customers, the last sales day that sets the as-of date) is looked up here and returned as small
JSON. The week defaults to the Monday of the orchestration's start time (the timer fires on
Monday 05:00 UTC and plans that week).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from scoring.inputs import ScoringWindow
from visitrank.adapters.app_settings import Settings
from visitrank.adapters.blob_staging import RUNS_PREFIX, BlobStaging
from visitrank.adapters.sql_source import SqlSource
from visitrank.contract.quarantine import reason_counts
from visitrank.pipeline.payloads import RunPlan, UnownedRows
from visitrank.pipeline.region import set_aside_unowned
from visitrank.pipeline.week import week_monday


class PlanError(ValueError):
    """The run request cannot be planned (e.g. a requested region has no customers)."""


def plan_run(payload: dict[str, Any], settings: Settings) -> dict[str, Any]:
    """Input: runId, startedAt (orchestration time, ISO), weekStart?, regions?, dryRun?.

    Output: the run's plan (``RunPlan.to_json``): runId, generatedAt, the window dates,
    regions, allRegions (no subset was requested), dryRun and the run configuration's sections
    (so every activity of the run uses the same ones).
    """
    started = datetime.fromisoformat(payload["startedAt"])
    week_start = (
        date.fromisoformat(payload["weekStart"])
        if payload.get("weekStart")
        else week_monday(started.date())
    )
    config = settings.run_config()
    source = SqlSource.from_settings(settings)
    available = source.regions()
    requested = payload.get("regions")
    if requested:
        unknown = sorted(set(requested) - set(available))
        if unknown:
            raise PlanError(f"regions without customers: {unknown} (known: {available})")
        regions = sorted(set(requested))
    else:
        regions = available
    last_sale = source.last_sale_date(week_start)
    window = ScoringWindow.for_week(week_start, last_sale, config.scoring, source.first_sale_date())
    unowned = (
        UnownedRows({}, {})
        if requested
        else set_aside_unowned_rows(source, settings, payload["runId"], window)
    )
    plan = RunPlan(
        run_id=payload["runId"],
        generated_at=started.isoformat(timespec="seconds"),
        window=window,
        regions=tuple(regions),
        all_regions=not requested,
        dry_run=bool(payload.get("dryRun", False)),
        config=config,
        unowned=unowned,
    )
    return plan.to_json()


def set_aside_unowned_rows(
    source: SqlSource, settings: Settings, run_id: str, window: ScoringWindow
) -> UnownedRows:
    """Reads the rows no region reads (sales, lines and visits of customers without an area,
    lines of no sale), quarantines them with the rules of the local run's whole-table
    quarantine, keeps them under the run's quarantine prefix in Blob and counts them. A
    customer row without an area stops the plan (ContractError), as it stops the local run."""
    tables = source.read_unowned(window.history_start, window.week_start)
    rows = set_aside_unowned(tables)
    staging = BlobStaging.from_settings(settings)
    for table, frame in rows.items():
        if frame.height:
            staging.write_frame(f"{RUNS_PREFIX}/{run_id}/quarantine/unowned/{table}.parquet", frame)
    return UnownedRows(
        input_rows={table: tables[table].height for table in rows},
        quarantined={table: reason_counts(frame) for table, frame in rows.items()},
    )
