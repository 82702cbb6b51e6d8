"""The orchestrators through the SDK's real replay machinery (histories in, actions out).

Activity results here are small hand-made JSON of the documented shapes; the end-to-end test
(test_end_to_end.py) replays real activity outputs computed against the emulators.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from orchestrators.weekly_run import (
    FIRST_RETRY_MS,
    MAX_ATTEMPTS,
    MAX_ROUTE_CHUNKS,
    ORDER_RUN,
    REGION_RUN,
    ROUTE_CHUNK_REPS,
    ROUTE_RUN,
    SEGMENT_RUN,
    WEEKLY_RUN,
    FanOut,
    progress,
    route_chunk_count,
)
from visitrank.pipeline.payloads import PublishRequest, RunPlan

from .history import START, History, flat_actions, replay

INSTANCE = "visitrank-2026-W48"
CONFIG = {"visits_per_week": 25}  # not the defaults: payloads carry non-default fields only
ORDER_CONFIG = {"max_lines": 30}
SEGMENTATION_CONFIG = {"k_max": 6}
SEGMENTS_OK = {
    "status": "ok",
    "k": 3,
    "kChosenBy": "silhouette",
    "segments": [{"SegmentId": "S1", "Outlets": 90}],
    "outlets": 200,
    "potentialRows": 800,
    "potentialPath": f"segments/{INSTANCE}/segment_potential.parquet",
    "supportPaths": {
        "outlets": f"segments/{INSTANCE}/segment_support_outlets.parquet",
        "skus": f"segments/{INSTANCE}/segment_support_skus.parquet",
    },
    "written": 203,
    "seconds": 4.0,
}


def plan_result(regions: list[int]) -> dict[str, Any]:
    return {
        "runId": INSTANCE,
        "generatedAt": "2026-11-23T05:00:01+00:00",
        "weekStart": "2026-11-23",
        "asOf": "2026-11-15",
        "windowStart": "2026-05-25",
        "historyStart": "2025-01-01",
        "regions": regions,
        "allRegions": True,
        "dryRun": False,
        "config": CONFIG,
        "orderConfig": ORDER_CONFIG,
        "segmentationConfig": SEGMENTATION_CONFIG,
    }


def ok_outcome(area: int) -> dict[str, Any]:
    return {
        "areaId": area,
        "status": "ok",
        "paths": {
            k: f"runs/{INSTANCE}/region={area}/{k}.parquet" for k in ("outlets", "skus", "reps")
        },
        "outlets": 100 + area,
        "lines": 1000 * area,
        "outletsWithOpportunity": 10,
        "skusToPush": 40,
        "visitResponse": {"signal": False, "reason": f"region {area}: too few untouched weeks"},
        "gapPersistence": None,
        "quarantined": {
            "MV_Sales": {"unknown_customer": area},
            "MV_SetupItem": {"duplicate_key": 1},
        },
        "seconds": 1.0,
    }


def history_until_fan_out(regions: list[int]) -> History:
    history = History(WEEKLY_RUN, {"weekStart": "2026-11-23"}, INSTANCE, START)
    history.activity_scheduled(0, "plan_run").new_episode()
    history.activity_completed(0, plan_result(regions))
    return history


def order_outcome(area: int) -> dict[str, Any]:
    return {
        "areaId": area,
        "status": "ok",
        "paths": {
            k: f"runs/{INSTANCE}/region={area}/order_{k}.parquet" for k in ("lines", "customers")
        },
        "customers": 100,
        "orders": 95,
        "lines": 900,
        "kinds": {"usual": 880, "development": 20},
        "seconds": 12.0,
    }


def route_outcome(chunk: int) -> dict[str, Any]:
    return {"chunk": chunk, "status": "ok", "reps": 40, "visits": 1180, "seconds": 21.5}


def add_sub_orchestrations(
    history: History, first_id: int, results: list[tuple[str, dict[str, Any]]]
) -> History:
    """Sub-orchestrations ``first_id``, ``first_id + 1``, ... created in one episode and
    completed in the next."""
    history.new_episode()
    for task_id, (name, _) in enumerate(results, start=first_id):
        history.sub_created(task_id, name, f"{INSTANCE}:{task_id}")
    history.new_episode()
    for task_id, (_, result) in enumerate(results, start=first_id):
        history.sub_completed(task_id, result)
    return history


def history_until_routing(
    outcomes: list[dict[str, Any]], segments: dict[str, Any] | None = None
) -> History:
    """Plan, then the first fan-out's sub-orchestrations (regions, segmentation) created and
    completed; ``segments`` defaults to an ok outcome. The next replay schedules the second
    fan-out: the regions' orders and the route chunks."""
    history = history_until_fan_out([o["areaId"] for o in outcomes])
    results = [*[(REGION_RUN, o) for o in outcomes], (SEGMENT_RUN, segments or SEGMENTS_OK)]
    return add_sub_orchestrations(history, 1, results)


def history_until_fan_in(
    outcomes: list[dict[str, Any]],
    segments: dict[str, Any] | None = None,
    orders: list[dict[str, Any]] | None = None,
    routes: list[dict[str, Any]] | None = None,
) -> History:
    """``history_until_routing``, then the second fan-out created and completed: the regions'
    orders (``orders``: ok by default) and, when a region scored, the route chunks
    (``routes``: one ok chunk by default)."""
    history = history_until_routing(outcomes, segments)
    results = [(ORDER_RUN, o) for o in orders or [order_outcome(o["areaId"]) for o in outcomes]]
    if any(o["status"] == "ok" for o in outcomes):
        results += [(ROUTE_RUN, r) for r in routes or [route_outcome(0)]]
    first = len([e for e in history.events if e.get("Name") in FAN_OUT]) + 1
    return add_sub_orchestrations(history, first, results)


def complete(history: History, published: dict[str, Any]) -> dict[str, Any]:
    """Schedule and complete publish after the fan-in; returns the final replay state."""
    publish_id = len([e for e in history.events if e.get("Name") in FAN_OUT]) + 1
    history.activity_scheduled(publish_id, "publish_run").new_episode()
    history.activity_completed(publish_id, published)
    return replay(history, WEEKLY_RUN)


FAN_OUT = (REGION_RUN, SEGMENT_RUN, ORDER_RUN, ROUTE_RUN)
PUBLISHED = {
    "documents": 6,
    "visits": 150,
    "repsWithVisits": 5,
    "written": 6,
    "withdrawn": [],
    "orderDocuments": 190,
    "ordersWritten": 190,
    "visitsWithProposedOrder": 150,
    "ordersError": None,
    "segmentPotentialPath": SEGMENTS_OK["potentialPath"],
    "segmentsError": None,
}


def test_first_episode_schedules_the_plan_with_orchestration_time() -> None:
    state = replay(History(WEEKLY_RUN, {"regions": [2]}, INSTANCE, START), WEEKLY_RUN)
    assert state["isDone"] is False
    (action,) = flat_actions(state)
    assert action["functionName"] == "plan_run"
    payload = json.loads(action["input"])
    assert payload == {"regions": [2], "runId": INSTANCE, "startedAt": "2026-11-23T05:00:01+00:00"}
    assert state["customStatus"]["stage"] == "planning"


def test_plan_result_fans_out_regions_and_segmentation_then_orders_with_scores() -> None:
    state = replay(history_until_fan_out([1, 2, 5]), WEEKLY_RUN)
    actions = flat_actions(state)
    assert [a["functionName"] for a in actions] == ["plan_run", *[REGION_RUN] * 3, SEGMENT_RUN]
    inputs = [json.loads(a["input"]) for a in actions[1:]]
    regions, (segments,) = inputs[:3], inputs[3:4]
    assert [i["areaId"] for i in regions] == [1, 2, 5]
    assert all(i["runId"] == INSTANCE and i["config"] == CONFIG for i in regions)
    assert segments == {
        "runId": INSTANCE,
        "weekStart": "2026-11-23",
        "asOf": "2026-11-15",
        "windowStart": "2026-05-25",
        "historyStart": "2025-01-01",
        "dryRun": False,
        "segmentation": SEGMENTATION_CONFIG,
    }
    assert all(len(a["input"]) < 1000 for a in actions)  # small JSON, never frames
    status = state["customStatus"]
    assert status["regions"] == {"1": "running", "2": "running", "5": "running"}
    assert status["segments"] == "running"
    assert status["orders"] == {"1": "waiting", "2": "waiting", "5": "waiting"}

    # once the regions are scored: every region's orders, told whether its scores are
    # staged, beside the route chunks of the regions that scored
    outcomes = [{**ok_outcome(1), "reps": 10}, failed("sql timeout", 2), ok_outcome(5)]
    state = replay(history_until_routing(outcomes), WEEKLY_RUN)
    second = [a for a in flat_actions(state) if a["functionName"] in (ORDER_RUN, ROUTE_RUN)]
    assert [a["functionName"] for a in second] == [*[ORDER_RUN] * 3, ROUTE_RUN]
    orders = [json.loads(a["input"]) for a in second[:3]]
    assert [(i["areaId"], i["scored"]) for i in orders] == [(1, True), (2, False), (5, True)]
    assert all(
        i["config"] == CONFIG and i["orderConfig"] == ORDER_CONFIG and i["dryRun"] is False
        for i in orders
    )
    assert json.loads(second[3]["input"])["regions"] == [1, 5]
    assert all(len(a["input"]) < 1000 for a in second)
    status = state["customStatus"]
    assert status["stage"] == "routing"
    assert status["orders"] == {"1": "running", "2": "running", "5": "running"}


def test_a_rerun_of_some_regions_does_not_segment() -> None:
    history = History(WEEKLY_RUN, {"regions": [2]}, INSTANCE, START)
    history.activity_scheduled(0, "plan_run").new_episode()
    history.activity_completed(0, {**plan_result([2]), "allRegions": False})
    actions = flat_actions(replay(history, WEEKLY_RUN))
    assert [a["functionName"] for a in actions] == ["plan_run", REGION_RUN]


def test_region_outcomes_schedule_the_fan_in_with_ok_regions_only() -> None:
    failed = {"areaId": 2, "status": "failed", "error": "boom"}
    state = replay(history_until_fan_in([ok_outcome(1), failed]), WEEKLY_RUN)
    publish = flat_actions(state)[-1]
    assert publish["functionName"] == "publish_run"
    payload = json.loads(publish["input"])
    # area ids only: publish finds their files and learned steps in the run's folder
    assert payload["regions"] == [1]
    assert payload["complete"] is False  # a partial run never withdraws documents
    # orders of both regions (the order documents of region 2 are still published)
    assert payload["orders"] == [1, 2]
    assert payload["segments"] == {
        "status": "ok",
        "potentialPath": SEGMENTS_OK["potentialPath"],
        "supportPaths": SEGMENTS_OK["supportPaths"],
    }
    assert len(publish["input"]) < 4000
    assert payload["routeChunks"] == 1 and payload["routed"] == [0]
    assert state["customStatus"] == {
        "stage": "publishing",
        "regions": {"1": "ok", "2": "failed"},
        "segments": "ok",
        "orders": {"1": "ok", "2": "ok"},
        "routes": {"0": "ok"},
        "weekStart": "2026-11-23",
        "dryRun": False,
    }


def test_final_replay_completes_with_the_summary() -> None:
    outcomes = [ok_outcome(1), ok_outcome(2)]
    # region 1's calibration read the scores kept 8 weeks ago, region 2's scored its customers
    orders = [
        {**order_outcome(1), "calibration": "kept"},
        {**order_outcome(2), "calibration": "scored"},
    ]
    state = complete(history_until_fan_in(outcomes, orders=orders), PUBLISHED)
    assert state["isDone"] is True
    summary = state["output"]
    assert summary["status"] == "complete"
    assert summary["documents"] == 6
    assert summary["visits"] == 150
    assert [r["areaId"] for r in summary["regions"]] == [1, 2]
    assert "paths" not in summary["regions"][0]
    # regional tables are summed, setup tables (read whole by every region) are not
    assert summary["quarantined"]["MV_Sales"] == {"unknown_customer": 3}
    assert summary["quarantined"]["MV_SetupItem"] == {"duplicate_key": 1}
    assert summary["quarantinedRows"] == 4
    assert state["customStatus"]["stage"] == "complete"
    assert summary["segments"]["status"] == "ok"
    assert summary["segments"]["potentialPath"] == SEGMENTS_OK["potentialPath"]
    assert summary["segments"]["publishedPotentialPath"] == SEGMENTS_OK["potentialPath"]
    orders = summary["orders"]
    assert orders["status"] == "complete"
    assert (orders["documents"], orders["written"], orders["visitsWithProposedOrder"]) == (
        190,
        190,
        150,
    )
    assert [o["areaId"] for o in orders["regions"]] == [1, 2]
    assert "paths" not in orders["regions"][0]
    assert [o["calibration"] for o in orders["regions"]] == ["kept", "scored"]
    assert orders["calibration"] == {"keptScores": [1], "scored": [2]}
    assert orders["failedRegions"] == [] and orders["error"] is None
    assert "orderDocuments" not in summary  # only under "orders"
    assert len(json.dumps(summary)) < 8000


def failed(error: str, area: int | None = None) -> dict[str, Any]:
    return {"status": "failed", "error": error, **({"areaId": area} if area else {})}


def test_failed_segmentation_gives_a_partial_but_published_run() -> None:
    outcomes = [ok_outcome(1), ok_outcome(2)]
    history = history_until_fan_in(outcomes, segments=failed("MemoryError"))
    publish = flat_actions(replay(history, WEEKLY_RUN))[-1]
    assert publish["functionName"] == "publish_run"
    payload = json.loads(publish["input"])
    assert payload["segments"] is None
    assert payload["complete"] is True  # every region was scored: stale lists are withdrawn
    state = complete(history, {**PUBLISHED, "segmentPotentialPath": None})
    summary = state["output"]
    assert summary["status"] == "partial"
    assert summary["documents"] == 6
    assert summary["failedRegions"] == []
    assert summary["segments"]["status"] == "failed"
    assert "MemoryError" in summary["segments"]["error"]
    assert state["customStatus"]["segments"] == "failed"


def test_failed_orders_give_a_partial_run_published_without_them() -> None:
    outcomes = [ok_outcome(1), ok_outcome(2)]
    orders = [order_outcome(1), failed("sql timeout", 2)]
    history = history_until_fan_in(outcomes, orders=orders)
    payload = json.loads(flat_actions(replay(history, WEEKLY_RUN))[-1]["input"])
    assert payload["orders"] == [1]  # publish attaches region 1 only
    published = {**PUBLISHED, "orderDocuments": 95, "ordersWritten": 95}
    state = complete(history, {**published, "visitsWithProposedOrder": 70})
    summary = state["output"]
    assert summary["status"] == "partial"
    assert summary["documents"] == 6
    assert summary["orders"]["status"] == "partial"
    assert summary["orders"]["failedRegions"] == [2]
    assert summary["orders"]["regions"][1] == failed("sql timeout", 2)
    assert state["customStatus"]["orders"] == {"1": "ok", "2": "failed"}


def test_all_orders_failed_still_publishes_the_visit_lists() -> None:
    outcomes = [ok_outcome(1), ok_outcome(2)]
    history = history_until_fan_in(outcomes, orders=[failed("x", 1), failed("y", 2)])
    payload = json.loads(flat_actions(replay(history, WEEKLY_RUN))[-1]["input"])
    assert payload["orders"] == []
    nothing = {"orderDocuments": 0, "ordersWritten": 0, "visitsWithProposedOrder": 0}
    summary = complete(history, {**PUBLISHED, **nothing})["output"]
    assert summary["status"] == "partial"
    assert summary["written"] == 6
    assert summary["orders"]["status"] == "failed"


def test_an_orders_error_in_publish_is_reported() -> None:
    history = history_until_fan_in([ok_outcome(1)])
    broken = {**PUBLISHED, "orderDocuments": 0, "ordersWritten": 0, "ordersError": "boom"}
    summary = complete(history, {**broken, "visitsWithProposedOrder": 0})["output"]
    assert summary["status"] == "partial"
    assert summary["orders"]["error"] == "boom"


def test_a_segment_evidence_error_in_publish_is_reported() -> None:
    history = history_until_fan_in([ok_outcome(1)])
    summary = complete(history, {**PUBLISHED, "segmentsError": "boom"})["output"]
    assert summary["status"] == "partial"  # the lists are out, without their evidence
    assert summary["segments"]["evidenceError"] == "boom"
    clean = complete(history_until_fan_in([ok_outcome(1)]), PUBLISHED)["output"]
    assert clean["segments"]["evidenceError"] is None


def test_all_regions_failed_skips_the_fan_in() -> None:
    failed = [{"areaId": a, "status": "failed", "error": "x"} for a in (1, 2)]
    state = replay(history_until_fan_in(failed), WEEKLY_RUN)
    assert state["isDone"] is True
    assert "publish_run" not in [a["functionName"] for a in flat_actions(state)]
    assert state["output"]["status"] == "failed"
    assert state["output"]["failedRegions"] == [1, 2]
    assert state["output"]["documents"] == 0


def test_replay_is_deterministic() -> None:
    history = history_until_fan_in(
        [ok_outcome(1), {"areaId": 2, "status": "failed"}],
        segments=failed("x"),
        orders=[order_outcome(1), failed("y", 2)],
    )
    first, second = replay(history, WEEKLY_RUN), replay(history, WEEKLY_RUN)
    assert first == second
    assert first["actions"]
    done = history_until_fan_in([ok_outcome(1), ok_outcome(2)])
    assert complete(done, PUBLISHED) == replay(done, WEEKLY_RUN)
    fan_out = history_until_fan_out([1, 2, 5])
    assert replay(fan_out, WEEKLY_RUN) == replay(fan_out, WEEKLY_RUN)


def region_history() -> History:
    return History(REGION_RUN, {"areaId": 4, "runId": INSTANCE}, f"{INSTANCE}:1", START)


@pytest.mark.parametrize(
    ("orchestrator", "activity", "payload"),
    [
        (SEGMENT_RUN, "segment_outlets", {"runId": INSTANCE, "dryRun": False}),
        (ORDER_RUN, "propose_orders", {"runId": INSTANCE, "areaId": 4}),
        (ROUTE_RUN, "route_chunk", {"runId": INSTANCE, "chunk": 3, "chunks": 5}),
    ],
)
def test_segment_and_order_runs_retry_then_report_failure(
    orchestrator: str, activity: str, payload: dict[str, Any]
) -> None:
    first = History(orchestrator, payload, f"{INSTANCE}:9", START)
    (action,) = flat_actions(replay(first, orchestrator))
    assert action["functionName"] == activity
    assert action["retryOptions"]["maxNumberOfAttempts"] == MAX_ATTEMPTS
    assert action["retryOptions"]["firstRetryIntervalInMilliseconds"] == FIRST_RETRY_MS
    history = History(orchestrator, payload, f"{INSTANCE}:9", START)
    history.activity_scheduled(0, activity).new_episode()
    for attempt in range(MAX_ATTEMPTS):
        history.activity_failed(2 * attempt, "MemoryError", f"oom {attempt}").new_episode()
        history.timer_fired(2 * attempt + 1).new_episode()
        if attempt < MAX_ATTEMPTS - 1:
            history.activity_scheduled(2 * attempt + 2, activity).new_episode()
    state = replay(history, orchestrator)
    assert state["isDone"] is True
    assert state["output"]["status"] == "failed"
    assert f"oom {MAX_ATTEMPTS - 1}" in state["output"]["error"]
    assert state["output"].get("areaId") == payload.get("areaId")
    assert state["output"].get("chunk") == payload.get("chunk")
    assert replay(history, orchestrator) == state  # deterministic


def test_order_run_success_is_passed_through() -> None:
    history = History(ORDER_RUN, {"runId": INSTANCE, "areaId": 4}, f"{INSTANCE}:9", START)
    history.activity_scheduled(0, "propose_orders").new_episode()
    history.activity_completed(0, order_outcome(4))
    state = replay(history, ORDER_RUN)
    assert state["isDone"] is True
    assert state["output"] == order_outcome(4)


def test_region_run_schedules_the_activity_with_the_retry_policy() -> None:
    (action,) = flat_actions(replay(region_history(), REGION_RUN))
    assert action["functionName"] == "score_region"
    assert action["retryOptions"]["firstRetryIntervalInMilliseconds"] == FIRST_RETRY_MS
    assert action["retryOptions"]["maxNumberOfAttempts"] == MAX_ATTEMPTS
    assert json.loads(action["input"])["areaId"] == 4


def test_region_run_retries_then_succeeds() -> None:
    history = region_history()
    history.activity_scheduled(0, "score_region").new_episode()
    history.activity_failed(0, "OperationalError", "sql timeout").new_episode()
    history.timer_fired(1).new_episode()
    history.activity_scheduled(2, "score_region").new_episode()
    history.activity_completed(2, ok_outcome(4))
    state = replay(history, REGION_RUN)
    assert state["isDone"] is True
    assert state["output"]["status"] == "ok"
    assert state["output"]["areaId"] == 4


def test_region_run_reports_failure_after_the_last_attempt() -> None:
    history = region_history()
    history.activity_scheduled(0, "score_region").new_episode()
    for attempt in range(MAX_ATTEMPTS):
        history.activity_failed(2 * attempt, "ContractError", f"bad row {attempt}").new_episode()
        history.timer_fired(2 * attempt + 1).new_episode()
        if attempt < MAX_ATTEMPTS - 1:
            history.activity_scheduled(2 * attempt + 2, "score_region").new_episode()
    state = replay(history, REGION_RUN)
    assert state["isDone"] is True
    outcome = state["output"]
    assert outcome["status"] == "failed"
    assert outcome["areaId"] == 4
    assert f"bad row {MAX_ATTEMPTS - 1}" in outcome["error"]


def test_region_run_before_the_last_attempt_is_still_waiting() -> None:
    history = region_history()
    history.activity_scheduled(0, "score_region").new_episode()
    history.activity_failed(0, "ContractError", "bad row").new_episode()
    history.timer_fired(1).new_episode()
    state = replay(history, REGION_RUN)
    assert state["isDone"] is False
    assert "output" not in state or state["output"] is None


def test_fan_out_results_are_read_by_name() -> None:
    fan_out = FanOut()
    for name, task in [("a", 1), ("b", 2), ("a", 3)]:
        fan_out.add(name, task)
    assert fan_out.results(["ra1", "rb", "ra3"]) == {"a": ["ra1", "ra3"], "b": ["rb"]}
    with pytest.raises(ValueError, match="2 results for 3 tasks"):
        fan_out.results(["x", "y"])


def test_the_plan_is_retried_like_the_regions() -> None:
    """One transient OperationalError while planning used to fail the orchestration."""
    (action,) = flat_actions(replay(History(WEEKLY_RUN, {}, INSTANCE, START), WEEKLY_RUN))
    assert action["retryOptions"]["maxNumberOfAttempts"] == MAX_ATTEMPTS
    history = History(WEEKLY_RUN, {}, INSTANCE, START)
    history.activity_scheduled(0, "plan_run").new_episode()
    history.activity_failed(0, "OperationalError", "connection reset").new_episode()
    history.timer_fired(1).new_episode()
    history.activity_scheduled(2, "plan_run").new_episode()
    history.activity_completed(2, plan_result([1, 2]))
    state = replay(history, WEEKLY_RUN)
    assert state["isDone"] is False
    names = [a["functionName"] for a in flat_actions(state)]
    assert names.count(REGION_RUN) == 2  # planned on the second attempt, fanned out


def publish_history(outcomes: list[dict[str, Any]]) -> tuple[History, int]:
    history = history_until_fan_in(outcomes)
    publish_id = len([e for e in history.events if e.get("Name") in FAN_OUT]) + 1
    history.activity_scheduled(publish_id, "publish_run").new_episode()
    return history, publish_id


def test_a_failed_publish_is_retried_and_finishes_the_week() -> None:
    """A connection reset after 3 of 6 upserts left the week half new, status stuck at
    "publishing": now publish is retried (idempotent upserts of the same documents)."""
    history, publish_id = publish_history([ok_outcome(1), ok_outcome(2)])
    history.activity_failed(publish_id, "ServiceResponseError", "connection reset").new_episode()
    history.timer_fired(publish_id + 1).new_episode()
    history.activity_scheduled(publish_id + 2, "publish_run").new_episode()
    history.activity_completed(publish_id + 2, PUBLISHED)
    state = replay(history, WEEKLY_RUN)
    assert state["isDone"] is True
    assert state["output"]["status"] == "complete"
    assert state["output"]["written"] == 6


def test_a_publish_failing_every_attempt_ends_failed_not_publishing() -> None:
    history, publish_id = publish_history([ok_outcome(1), ok_outcome(2)])
    for attempt in range(MAX_ATTEMPTS):
        task = publish_id + 2 * attempt
        history.activity_failed(task, "CosmosHttpResponseError", f"down {attempt}").new_episode()
        history.timer_fired(task + 1).new_episode()
        if attempt < MAX_ATTEMPTS - 1:
            history.activity_scheduled(task + 2, "publish_run").new_episode()
    state = replay(history, WEEKLY_RUN)
    assert state["isDone"] is True
    summary = state["output"]
    assert summary["status"] == "failed"
    assert summary["error"].startswith(f"publish failed after {MAX_ATTEMPTS} attempts")
    assert f"down {MAX_ATTEMPTS - 1}" in summary["error"]
    assert summary["written"] == 0
    assert state["customStatus"]["stage"] == "failed"


def test_the_custom_status_stays_bounded_at_a_thousand_regions() -> None:
    """At ~230 regions the per-region custom status passed the 16 KB Durable limit."""
    states = {str(area): "ok" for area in range(1, 1001)}
    states["17"] = states["940"] = "failed"
    status = progress("publishing", plan_result([1]), states, "ok", dict(states))
    assert len(json.dumps(status)) < 16_000
    assert status["regions"] == {"counts": {"ok": 998, "failed": 2}, "failed": ["17", "940"]}
    few = progress("scoring", None, {"1": "ok", "2": "running"})
    assert few["regions"] == {"1": "ok", "2": "running"}


def test_the_publish_input_stays_small_at_a_thousand_regions() -> None:
    """The publish input inlined every region's blob paths and learned steps' verdicts:
    82 KB at 200 regions, past the 64 KB queue message Durable sends inline."""
    areas = list(range(1, 1001))
    request = PublishRequest.after_fan_out(
        RunPlan.from_json(plan_result(areas)),
        [ok_outcome(area) for area in areas],
        [order_outcome(area) for area in areas],
        SEGMENTS_OK,
        [route_outcome(chunk) for chunk in range(MAX_ROUTE_CHUNKS)],
    )
    payload = json.dumps(request.to_json())
    assert len(payload) < 16_000
    assert PublishRequest.from_json(json.loads(payload)) == request


def test_scored_regions_fan_out_the_reps_routing_in_chunks() -> None:
    outcomes = [
        {**ok_outcome(1), "reps": 300},
        {**ok_outcome(2), "reps": 260},
        failed("sql timeout", 3),
    ]
    state = replay(history_until_routing(outcomes), WEEKLY_RUN)
    assert state["isDone"] is False
    routes = [a for a in flat_actions(state) if a["functionName"] == ROUTE_RUN]
    assert "publish_run" not in [a["functionName"] for a in flat_actions(state)]
    inputs = [json.loads(a["input"]) for a in routes]
    # 560 reps in the regions that scored: ceil(560 / 250) = 3 chunks
    assert [(i["chunk"], i["chunks"]) for i in inputs] == [(0, 3), (1, 3), (2, 3)]
    assert all(i["regions"] == [1, 2] and i["runId"] == INSTANCE for i in inputs)
    assert all(i["config"] == CONFIG and i["weekStart"] == "2026-11-23" for i in inputs)
    assert all(len(a["input"]) < 1000 for a in routes)
    status = state["customStatus"]
    assert status["stage"] == "routing"
    assert status["routes"] == {"0": "running", "1": "running", "2": "running"}


def test_route_chunks_are_sized_by_the_scored_regions_reps() -> None:
    assert route_chunk_count([ok_outcome(1)]) == 1  # no reps counted: one chunk
    assert route_chunk_count([{"reps": ROUTE_CHUNK_REPS}]) == 1
    assert route_chunk_count([{"reps": 200}, {"reps": ROUTE_CHUNK_REPS - 199}]) == 2
    assert route_chunk_count([{"reps": 5000}]) == 5000 // ROUTE_CHUNK_REPS
    assert route_chunk_count([{"reps": 10**7}]) == MAX_ROUTE_CHUNKS


def test_a_route_chunk_failing_every_attempt_is_planned_in_publish_and_the_run_completes() -> None:
    outcomes = [{**ok_outcome(1), "reps": 300}, {**ok_outcome(2), "reps": 100}]  # 2 chunks
    routes = [route_outcome(0), {"chunk": 1, "status": "failed", "error": "MemoryError"}]
    history = history_until_fan_in(outcomes, routes=routes)
    publish = flat_actions(replay(history, WEEKLY_RUN))[-1]
    assert publish["functionName"] == "publish_run"
    payload = json.loads(publish["input"])
    assert (payload["routeChunks"], payload["routed"]) == (2, [0])
    state = complete(history, {**PUBLISHED, "routeChunks": 2, "routedInPublish": [1]})
    summary = state["output"]
    assert summary["status"] == "complete"  # the same lists: publish planned chunk 1 itself
    assert summary["routing"] == {
        "chunks": 2,
        "failedChunks": [1],
        "routedInPublish": [1],
        "seconds": 21.5,
    }
    assert state["customStatus"]["routes"] == {"0": "ok", "1": "routedInPublish"}


def test_no_region_scored_routes_nothing() -> None:
    state = replay(history_until_fan_in([failed("x", 1)]), WEEKLY_RUN)
    names = [a["functionName"] for a in flat_actions(state)]
    assert ROUTE_RUN not in names
    assert "routing" not in state["output"]
