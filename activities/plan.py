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
from visitrank.adapters.sql_source import SqlSource
from visitrank.pipeline.week import week_monday, window_to_json


class PlanError(ValueError):
    """The run request cannot be planned (e.g. a requested region has no customers)."""


def plan_run(payload: dict[str, Any], settings: Settings) -> dict[str, Any]:
    """Input: runId, startedAt (orchestration time, ISO), weekStart?, regions?, dryRun?.

    Output: runId, generatedAt, weekStart/asOf/windowStart/historyStart, regions, allRegions
    (no subset was requested), dryRun and
    the scoring, order and segmentation configs (so every activity of the run uses the same
    ones).
    """
    started = datetime.fromisoformat(payload["startedAt"])
    week_start = (
        date.fromisoformat(payload["weekStart"])
        if payload.get("weekStart")
        else week_monday(started.date())
    )
    config = settings.scoring_config()
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
    window = ScoringWindow.for_week(week_start, source.last_sale_date(week_start), config)
    return {
        "runId": payload["runId"],
        "generatedAt": started.isoformat(timespec="seconds"),
        **window_to_json(window),
        "regions": regions,
        "allRegions": not requested,
        "dryRun": bool(payload.get("dryRun", False)),
        "config": config.model_dump(),
        "orderConfig": settings.order_config().model_dump(),
        "segmentationConfig": settings.segmentation_config().model_dump(mode="json"),
    }
