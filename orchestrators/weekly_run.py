"""The weekly orchestration: plan → fan out (scoring per region, the segmentation of all
outlets) → the proposed orders per region and the reps' weeks routed in chunks → fan in and
publish.

Deterministic by construction, as Durable replay requires: no I/O, no wall clock (only
``context.current_utc_datetime``), no randomness; everything that touches the outside world is an
activity whose small JSON result is replayed from history.

Why a sub-orchestration per region: a Durable ``task_all`` fails as soon as one child fails, and
the other regions' results would be lost. Each region therefore runs in a tiny sub-orchestration
that calls the scoring activity with the retry policy and, if it still fails after the last
attempt, *returns* a "failed" outcome instead of raising. The fan-out's ``task_all`` then always
completes with one outcome per region, and the run is "partial" when some failed.

The segmentation (``segment_run``, one sub-orchestration for all outlets) runs in the
scoring's ``task_all``; the proposed orders (``order_run``, one sub-orchestration per region)
run after it, beside the route chunks, because a region that scored hands its week's scores
to its orders (``OrderTask.scored``: the development lines are the SKUs its visits push, and
the region is not scored a second time for them); a region whose scoring failed is scored by
its orders activity itself. Both follow the same rule: a final failure is an outcome,
reported in the summary (``segments``, ``orders``) and making the run "partial", never a
failed run. Publish gets the ok orders (and
attaches them to the visits) and the segmentation's potential path.

Routing: when a region scored, the reps of the scored regions are split into route chunks
(``route_chunk_count``: one per ``ROUTE_CHUNK_REPS`` reps, from the regions' ``reps``
counts), each planned by a ``route_run`` sub-orchestration (the route activity with
retries), all in one ``task_all``; publish is told which chunks were routed (indices only)
and plans the others itself, so a chunk that failed on every attempt costs time, never a
rep's list, and leaves the run's status as it is.
"""

from __future__ import annotations

from collections.abc import Generator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

import azure.durable_functions as df

from activities.blueprint import ORDERS, PLAN, PUBLISH, ROUTE, SCORE
from activities.segments import SEGMENTS
from visitrank.pipeline.health import counted_findings, honest_status
from visitrank.pipeline.payloads import PublishRequest, RunPlan
from visitrank.pipeline.status import (
    merge_input_rows,
    merge_quarantine_counts,
    run_status,
    weekly_status,
)
from visitrank.pipeline.summary import (
    NO_DOCUMENTS,
    DocumentCounts,
    orders_section,
    segments_section,
)
from visitrank.pipeline.summary import run_summary as summarise

WEEKLY_RUN: Final = "weekly_run"
REGION_RUN: Final = "region_run"
SEGMENT_RUN: Final = "segment_run"
ORDER_RUN: Final = "order_run"
ROUTE_RUN: Final = "route_run"
FIRST_RETRY_MS: Final = 30_000
MAX_ATTEMPTS: Final = 3
RUN_REQUEST_KEYS: Final = ("weekStart", "regions", "dryRun")
ROUTE_CHUNK_REPS: Final = 250
"""Reps per route chunk: with the timed planner (~0.3-0.5 s a rep) about 1.5-2 minutes of a
chunk's activity, far from the 30-minute timeout; 5,000 reps make 20 chunks."""
MAX_ROUTE_CHUNKS: Final = 100
"""At most this many route chunks (beyond 25,000 reps the chunks grow instead)."""
OUTCOME_IDS: Final = ("areaId", "chunk")
"""The keys of an activity's input that its "failed" outcome repeats (which region, chunk)."""

bp = df.Blueprint()


def region_retry() -> df.RetryOptions:
    """The scoring retry policy: 3 attempts, 30 s apart (SQL blips, transient throttling)."""
    return df.RetryOptions(
        first_retry_interval_in_milliseconds=FIRST_RETRY_MS, max_number_of_attempts=MAX_ATTEMPTS
    )


@dataclass
class FanOut:
    """The tasks of one `task_all`, each under a name, so that its results are read back by
    name (never by position)."""

    tasks: list[Any] = field(default_factory=list)
    names: list[str] = field(default_factory=list)

    def add(self, name: str, task: Any) -> None:
        self.tasks.append(task)
        self.names.append(name)

    def results(self, values: list[Any]) -> dict[str, list[Any]]:
        """The results of `task_all(self.tasks)`, grouped by name in the order added."""
        if len(values) != len(self.tasks):
            raise ValueError(f"{len(values)} results for {len(self.tasks)} tasks")
        grouped: dict[str, list[Any]] = {name: [] for name in self.names}
        for name, value in zip(self.names, values, strict=True):
            grouped[name].append(value)
        return grouped


STATES_LISTED: Final = 50
"""Regions listed one by one in the custom status; beyond, counts per state and the ids of the
failed ones (at most this many): 1,000 regions fit the 16 KB custom status."""


def bounded_states(states: dict[str, str]) -> dict[str, Any]:
    """Region -> state when there are few regions; else ``{"counts": {state: n}, "failed":
    [first failed region ids]}``."""
    if len(states) <= STATES_LISTED:
        return dict(states)
    counts: dict[str, int] = {}
    for state in states.values():
        counts[state] = counts.get(state, 0) + 1
    failed = [region for region, state in states.items() if state == "failed"]
    return {"counts": counts, "failed": failed[:STATES_LISTED]}


def route_chunk_count(ok: Sequence[Mapping[str, Any]]) -> int:
    """How many route chunks for the regions that scored: one per ``ROUTE_CHUNK_REPS`` of
    their reps (the sum of the regions' ``reps``: a rep with outlets in two regions counts
    twice, so at worst a chunk more), at least 1, at most ``MAX_ROUTE_CHUNKS``."""
    reps = sum(int(outcome.get("reps") or 0) for outcome in ok)
    return max(1, min(MAX_ROUTE_CHUNKS, -(-reps // ROUTE_CHUNK_REPS)))


def progress(
    stage: str,
    plan: dict[str, Any] | None,
    outcomes: dict[str, str],
    segments: str | None = None,
    orders: dict[str, str] | None = None,
    routes: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The custom status shown by ``GET /api/runs/{id}``: stage, per-region state and, once
    fanned out, the segmentation's and the per-region orders' state, then the route chunks'
    (``bounded_states``: the Durable custom status is limited to 16 KB)."""
    status: dict[str, Any] = {"stage": stage, "regions": bounded_states(outcomes)}
    if segments is not None:
        status["segments"] = segments
    if orders is not None:
        status["orders"] = bounded_states(orders)
    if routes is not None:
        status["routes"] = bounded_states(routes)
    if plan is not None:
        status["weekStart"] = plan["weekStart"]
        status["dryRun"] = plan["dryRun"]
    return status


def run_summary(
    plan: dict[str, Any],
    outcomes: list[dict[str, Any]],
    published: dict[str, Any] | None,
    segments: dict[str, Any] | None = None,
    orders: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The orchestration output: the run summary of ``visitrank.pipeline.summary`` (the same
    shape as the local run's), from the plan, the fan-out's outcomes and what publish did."""
    typed = RunPlan.from_json(plan)
    published = published or {}
    orders = orders or []
    ok = [outcome for outcome in outcomes if outcome["status"] == "ok"]
    counts = DocumentCounts(
        documents=published.get("documents", 0),
        visits=published.get("visits", 0),
        repsWithVisits=published.get("repsWithVisits", 0),
        visitsWithProposedOrder=published.get("visitsWithProposedOrder", 0),
        segmentEvidence=published.get("segmentEvidence", NO_DOCUMENTS["segmentEvidence"]),
    )
    orders_error = published.get("ordersError")
    evidence_error = published.get("segmentsError")
    segment_outcome = (
        {**segments, "publishedPotentialPath": published.get("segmentPotentialPath")}
        if segments is not None
        else None
    )
    input_rows = merge_input_rows(
        [*(outcome.get("inputRows", {}) for outcome in ok), typed.unowned.input_rows]
    )
    quarantined = merge_quarantine_counts(
        [*(outcome.get("quarantined", {}) for outcome in ok), typed.unowned.quarantined]
    )
    findings = counted_findings(
        input_rows=input_rows,
        quarantined=quarantined,
        window=typed.window,
        today=datetime.fromisoformat(typed.generated_at).date(),
        lookback_weeks=typed.config.scoring.lookback_weeks,
        documents=counts["documents"],
        regions_ok=bool(ok) and len(ok) == len(outcomes),
    )
    status = weekly_status(outcomes, segments, orders, orders_error, evidence_error)
    return summarise(
        run_id=typed.run_id,
        status=honest_status(status, findings),
        window=typed.window,
        generated_at=typed.generated_at,
        counts=counts,
        regions=outcomes,
        input_rows=input_rows,
        quarantined=quarantined,
        orders=orders_section(
            status=run_status(orders) if orders else "skipped",
            documents=published.get("orderDocuments", 0),
            written=published.get("ordersWritten", 0),
            visits_with_proposed_order=counts["visitsWithProposedOrder"],
            error=orders_error,
            regions=orders,
        ),
        segments=segments_section(segment_outcome, counts["segmentEvidence"], evidence_error),
        config=typed.config,
        dry_run=typed.dry_run,
        written=published.get("written", 0),
        withdrawn=published.get("withdrawn", []),
        findings=findings,
    )


def routing_section(
    routes: Sequence[Mapping[str, Any]], published: Mapping[str, Any] | None
) -> dict[str, Any]:
    """What the summary says of the reps' routing: how many chunks, those whose routing
    failed on every attempt, those publish planned itself (the failed ones and any whose
    staged weeks could not be read) and the chunks' routing seconds summed. A failed chunk
    leaves the status as it is: publish planned its reps, with the same documents."""
    return {
        "chunks": len(routes),
        "failedChunks": [int(route["chunk"]) for route in routes if route["status"] != "ok"],
        "routedInPublish": [int(chunk) for chunk in (published or {}).get("routedInPublish", [])],
        "seconds": round(sum(float(route.get("seconds") or 0.0) for route in routes), 3),
    }


def weekly_run_steps(
    context: df.DurableOrchestrationContext,
) -> Generator[Any, Any, dict[str, Any]]:
    """The orchestration itself (see the module docstring)."""
    request = context.get_input() or {}
    context.set_custom_status(progress("planning", None, {}))
    # a transient fault (an SQL blip) is retried; a plan that fails every attempt fails the
    # orchestration, which the timer reruns (bounded)
    plan = yield context.call_activity_with_retry(
        PLAN,
        region_retry(),
        {
            **{key: request[key] for key in RUN_REQUEST_KEYS if key in request},
            "runId": context.instance_id,
            "startedAt": context.current_utc_datetime.isoformat(),
        },
    )
    typed = RunPlan.from_json(plan)
    regions = list(typed.regions)
    running = {str(a): "running" for a in regions}
    waiting = {str(a): "waiting" for a in regions}  # the orders start once the regions scored
    segmenting = bool(regions) and typed.all_regions
    context.set_custom_status(
        progress("scoring", plan, running, "running" if segmenting else None, waiting)
    )
    # first task_all: the regions' scoring and the segmentation of all outlets
    fan_out, call = FanOut(), context.call_sub_orchestrator
    for area in regions:
        fan_out.add(REGION_RUN, call(REGION_RUN, typed.region_task(area).to_json()))
    if segmenting:
        # all outlets at once: only in a run of all regions (a rerun of some regions keeps
        # the week's segmentation)
        fan_out.add(SEGMENT_RUN, call(SEGMENT_RUN, typed.segment_task().to_json()))
    results = fan_out.results((yield context.task_all(fan_out.tasks)) if fan_out.tasks else [])
    outcomes: list[dict[str, Any]] = results.get(REGION_RUN, [])
    segments: dict[str, Any] | None = next(iter(results.get(SEGMENT_RUN, [])), None)
    states = {str(o["areaId"]): o["status"] for o in outcomes}
    segment_state = segments["status"] if segments else None
    ok = [o for o in outcomes if o["status"] == "ok"]
    scored = {int(o["areaId"]) for o in ok}
    # second task_all: the regions' orders (a region that scored hands its scores to its
    # orders: no second scoring of the week) and the route chunks of the reps of the
    # regions that scored
    order_states = {str(a): "running" for a in regions} if regions else None
    chunks = route_chunk_count(ok) if ok else 0
    route_states = {str(chunk): "running" for chunk in range(chunks)} if ok else None
    context.set_custom_status(
        progress(
            "routing" if ok else "orders", plan, states, segment_state, order_states, route_states
        )
    )
    second = orders_and_routes(context, typed, regions, sorted(scored), chunks)
    results = second.results((yield context.task_all(second.tasks)) if second.tasks else [])
    orders: list[dict[str, Any]] = results.get(ORDER_RUN, [])
    routes: list[dict[str, Any]] = results.get(ROUTE_RUN, [])
    order_states = {str(o["areaId"]): o["status"] for o in orders} if regions else None
    published = None
    publish_error = None
    if ok:
        route_states = {str(r["chunk"]): r["status"] for r in routes}
        context.set_custom_status(
            progress("publishing", plan, states, segment_state, order_states, route_states)
        )
        request = PublishRequest.after_fan_out(typed, outcomes, orders, segments, routes)
        try:
            # publish is idempotent (stable ids, upserts, deterministic documents from the
            # staged blobs): a retry finishes a half-written week, never duplicates it
            published = yield context.call_activity_with_retry(
                PUBLISH, region_retry(), request.to_json()
            )
        except Exception as error:  # every attempt failed: the week is not published
            publish_error = f"publish failed after {MAX_ATTEMPTS} attempts: {error}"[:2000]
        for chunk in (published or {}).get("routedInPublish", []):
            route_states[str(chunk)] = "routedInPublish"
    summary = run_summary(plan, outcomes, published, segments, orders)
    if routes:
        summary["routing"] = routing_section(routes, published)
    if publish_error is not None:
        summary |= {"status": "failed", "error": publish_error}
    context.set_custom_status(
        progress(summary["status"], plan, states, segment_state, order_states, route_states)
    )
    return summary


def orders_and_routes(
    context: df.DurableOrchestrationContext,
    plan: RunPlan,
    regions: Sequence[int],
    scored: Sequence[int],
    chunks: int,
) -> FanOut:
    """The second fan-out: every region's orders (``scored`` regions with their week's scores)
    and ``chunks`` route chunks of the reps of the ``scored`` regions."""
    fan_out, call = FanOut(), context.call_sub_orchestrator
    for area in regions:
        task = plan.order_task(area, scored=area in scored)
        fan_out.add(ORDER_RUN, call(ORDER_RUN, task.to_json()))
    for chunk in range(chunks):
        fan_out.add(ROUTE_RUN, call(ROUTE_RUN, plan.route_task(scored, chunk, chunks).to_json()))
    return fan_out


def with_retries(
    context: df.DurableOrchestrationContext, activity: str
) -> Generator[Any, Any, dict[str, Any]]:
    """``activity`` with the retry policy; a final failure becomes a "failed" outcome (with
    the input's areaId or chunk, if any: ``OUTCOME_IDS``) instead of an exception."""
    payload = context.get_input()
    try:
        outcome: dict[str, Any] = yield context.call_activity_with_retry(
            activity, region_retry(), payload
        )
    except Exception as error:  # the activity failed on every attempt
        ids = {key: payload[key] for key in OUTCOME_IDS if key in payload}
        return {**ids, "status": "failed", "error": str(error)[:2000]}
    return outcome


def region_run_steps(
    context: df.DurableOrchestrationContext,
) -> Generator[Any, Any, dict[str, Any]]:
    """One region: the scoring activity with retries; a final failure becomes an outcome."""
    return (yield from with_retries(context, SCORE))


def segment_run_steps(
    context: df.DurableOrchestrationContext,
) -> Generator[Any, Any, dict[str, Any]]:
    """The segmentation of all outlets with retries; a final failure becomes an outcome."""
    return (yield from with_retries(context, SEGMENTS))


def order_run_steps(
    context: df.DurableOrchestrationContext,
) -> Generator[Any, Any, dict[str, Any]]:
    """One region's proposed orders with retries; a final failure becomes an outcome."""
    return (yield from with_retries(context, ORDERS))


def route_run_steps(
    context: df.DurableOrchestrationContext,
) -> Generator[Any, Any, dict[str, Any]]:
    """One chunk of reps' routing with retries; a final failure becomes an outcome (publish
    then plans the chunk itself)."""
    return (yield from with_retries(context, ROUTE))


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


@bp.function_name(SEGMENT_RUN)
@bp.orchestration_trigger(context_name="context")
def segment_run(context: df.DurableOrchestrationContext) -> Generator[Any, Any, dict[str, Any]]:
    """Registered sub-orchestrator: the segmentation with retries."""
    return (yield from segment_run_steps(context))


@bp.function_name(ORDER_RUN)
@bp.orchestration_trigger(context_name="context")
def order_run(context: df.DurableOrchestrationContext) -> Generator[Any, Any, dict[str, Any]]:
    """Registered sub-orchestrator: one region's proposed orders with retries."""
    return (yield from order_run_steps(context))


@bp.function_name(ROUTE_RUN)
@bp.orchestration_trigger(context_name="context")
def route_run(context: df.DurableOrchestrationContext) -> Generator[Any, Any, dict[str, Any]]:
    """Registered sub-orchestrator: one chunk of reps' routing with retries."""
    return (yield from route_run_steps(context))
