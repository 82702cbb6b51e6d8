"""The weekly orchestration: plan → fan out one scoring per region → fan in and publish.

Deterministic by construction, as Durable replay requires: no I/O, no wall clock (only
``context.current_utc_datetime``), no randomness; everything that touches the outside world is an
activity whose small JSON result is replayed from history.

Why a sub-orchestration per region: a Durable ``task_all`` fails as soon as one child fails, and
the other regions' results would be lost. Each region therefore runs in a tiny sub-orchestration
that calls the scoring activity with the retry policy and, if it still fails after the last
attempt, *returns* a "failed" outcome instead of raising. The fan-out's ``task_all`` then always
completes with one outcome per region, and the run is "partial" when some failed.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any, Final

import azure.durable_functions as df

from activities.blueprint import PLAN, PUBLISH, SCORE
from visitrank.azure_run import merge_quarantine_counts, run_status

WEEKLY_RUN: Final = "weekly_run"
REGION_RUN: Final = "region_run"
FIRST_RETRY_MS: Final = 30_000
MAX_ATTEMPTS: Final = 3
RUN_REQUEST_KEYS: Final = ("weekStart", "regions", "dryRun")
OUTCOME_KEYS: Final = (
    "areaId",
    "status",
    "outlets",
    "lines",
    "outletsWithOpportunity",
    "skusToPush",
    "seconds",
    "error",
)

bp = df.Blueprint()


def region_retry() -> df.RetryOptions:
    """The scoring retry policy: 3 attempts, 30 s apart (SQL blips, transient throttling)."""
    return df.RetryOptions(
        first_retry_interval_in_milliseconds=FIRST_RETRY_MS, max_number_of_attempts=MAX_ATTEMPTS
    )


def region_payload(plan: dict[str, Any], area_id: int) -> dict[str, Any]:
    """The scoring activity's input for one region: ids, dates and config, nothing big."""
    keys = ("runId", "weekStart", "asOf", "windowStart", "historyStart", "config")
    return {**{key: plan[key] for key in keys}, "areaId": area_id}


def progress(stage: str, plan: dict[str, Any] | None, outcomes: dict[str, str]) -> dict[str, Any]:
    """The custom status shown by ``GET /api/runs/{id}``: stage and per-region state."""
    status: dict[str, Any] = {"stage": stage, "regions": outcomes}
    if plan is not None:
        status["weekStart"] = plan["weekStart"]
        status["dryRun"] = plan["dryRun"]
    return status


def run_summary(
    plan: dict[str, Any], outcomes: list[dict[str, Any]], published: dict[str, Any] | None
) -> dict[str, Any]:
    """The orchestration output: counts, per-region outcome and quarantine counts."""
    quarantined = merge_quarantine_counts(
        outcome.get("quarantined", {}) for outcome in outcomes if outcome["status"] == "ok"
    )
    published = published or {
        "documents": 0,
        "visits": 0,
        "repsWithVisits": 0,
        "written": 0,
        "withdrawn": [],
    }
    return {
        "runId": plan["runId"],
        "status": run_status(outcomes),
        "dryRun": plan["dryRun"],
        "weekStart": plan["weekStart"],
        "asOf": plan["asOf"],
        "windowStart": plan["windowStart"],
        "generatedAt": plan["generatedAt"],
        **published,
        "regions": [{k: o[k] for k in OUTCOME_KEYS if k in o} for o in outcomes],
        "failedRegions": [o["areaId"] for o in outcomes if o["status"] != "ok"],
        "quarantined": quarantined,
        "quarantinedRows": sum(sum(reasons.values()) for reasons in quarantined.values()),
        "config": plan["config"],
    }


def weekly_run_steps(
    context: df.DurableOrchestrationContext,
) -> Generator[Any, Any, dict[str, Any]]:
    """The orchestration itself (see the module docstring)."""
    request = context.get_input() or {}
    context.set_custom_status(progress("planning", None, {}))
    plan = yield context.call_activity(
        PLAN,
        {
            **{key: request[key] for key in RUN_REQUEST_KEYS if key in request},
            "runId": context.instance_id,
            "startedAt": context.current_utc_datetime.isoformat(),
        },
    )
    regions: list[int] = plan["regions"]
    context.set_custom_status(progress("scoring", plan, {str(a): "running" for a in regions}))
    tasks = [
        context.call_sub_orchestrator(REGION_RUN, region_payload(plan, area)) for area in regions
    ]
    outcomes: list[dict[str, Any]] = (yield context.task_all(tasks)) if tasks else []
    states = {str(o["areaId"]): o["status"] for o in outcomes}
    published = None
    ok = [o for o in outcomes if o["status"] == "ok"]
    if ok:
        context.set_custom_status(progress("publishing", plan, states))
        published = yield context.call_activity(
            PUBLISH,
            {
                **{key: value for key, value in plan.items() if key != "regions"},
                "regions": [
                    {"areaId": o["areaId"], "status": "ok", "paths": o["paths"]} for o in ok
                ],
                # withdraw stale documents only after a run of every region that all succeeded
                "complete": len(ok) == len(outcomes) and plan.get("allRegions", False),
            },
        )
    summary = run_summary(plan, outcomes, published)
    context.set_custom_status(progress(summary["status"], plan, states))
    return summary


def region_run_steps(
    context: df.DurableOrchestrationContext,
) -> Generator[Any, Any, dict[str, Any]]:
    """One region: the scoring activity with retries; a final failure becomes an outcome."""
    payload = context.get_input()
    try:
        outcome: dict[str, Any] = yield context.call_activity_with_retry(
            SCORE, region_retry(), payload
        )
    except Exception as error:  # the activity failed on every attempt
        return {"areaId": payload["areaId"], "status": "failed", "error": str(error)[:2000]}
    return outcome


@bp.function_name(WEEKLY_RUN)
@bp.orchestration_trigger(context_name="context")
def weekly_run(context: df.DurableOrchestrationContext) -> Generator[Any, Any, dict[str, Any]]:
    """Registered orchestrator: the weekly run."""
    return (yield from weekly_run_steps(context))


@bp.function_name(REGION_RUN)
@bp.orchestration_trigger(context_name="context")
def region_run(context: df.DurableOrchestrationContext) -> Generator[Any, Any, dict[str, Any]]:
    """Registered sub-orchestrator: one region's scoring with retries."""
    return (yield from region_run_steps(context))
