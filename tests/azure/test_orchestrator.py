"""The orchestrators through the SDK's real replay machinery (histories in, actions out).

Activity results here are small hand-made JSON of the documented shapes; the end-to-end test
(test_end_to_end.py) replays real activity outputs computed against the emulators.
"""

from __future__ import annotations

import json
from typing import Any

from orchestrators.weekly_run import FIRST_RETRY_MS, MAX_ATTEMPTS, REGION_RUN, WEEKLY_RUN

from .history import START, History, flat_actions, replay

INSTANCE = "visitrank-2026-W48"
CONFIG = {"visits_per_week": 30}


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


def history_until_fan_in(outcomes: list[dict[str, Any]]) -> History:
    history = history_until_fan_out([o["areaId"] for o in outcomes])
    history.new_episode()
    for task_id in range(1, len(outcomes) + 1):
        history.sub_created(task_id, REGION_RUN, f"{INSTANCE}:{task_id}")
    history.new_episode()
    for task_id, outcome in enumerate(outcomes, start=1):
        history.sub_completed(task_id, outcome)
    return history


def test_first_episode_schedules_the_plan_with_orchestration_time() -> None:
    state = replay(History(WEEKLY_RUN, {"regions": [2]}, INSTANCE, START), WEEKLY_RUN)
    assert state["isDone"] is False
    (action,) = flat_actions(state)
    assert action["functionName"] == "plan_run"
    payload = json.loads(action["input"])
    assert payload == {"regions": [2], "runId": INSTANCE, "startedAt": "2026-11-23T05:00:01+00:00"}
    assert state["customStatus"]["stage"] == "planning"


def test_plan_result_fans_out_one_sub_orchestration_per_region() -> None:
    state = replay(history_until_fan_out([1, 2, 5]), WEEKLY_RUN)
    actions = flat_actions(state)
    assert [a["functionName"] for a in actions] == ["plan_run", REGION_RUN, REGION_RUN, REGION_RUN]
    inputs = [json.loads(a["input"]) for a in actions[1:]]
    assert [i["areaId"] for i in inputs] == [1, 2, 5]
    assert all(i["runId"] == INSTANCE and i["config"] == CONFIG for i in inputs)
    assert all(len(a["input"]) < 1000 for a in actions)  # small JSON, never frames
    assert state["customStatus"]["regions"] == {"1": "running", "2": "running", "5": "running"}


def test_region_outcomes_schedule_the_fan_in_with_ok_regions_only() -> None:
    failed = {"areaId": 2, "status": "failed", "error": "boom"}
    state = replay(history_until_fan_in([ok_outcome(1), failed]), WEEKLY_RUN)
    publish = flat_actions(state)[-1]
    assert publish["functionName"] == "publish_run"
    payload = json.loads(publish["input"])
    assert [r["areaId"] for r in payload["regions"]] == [1]
    assert payload["complete"] is False  # a partial run never withdraws documents
    assert state["customStatus"] == {
        "stage": "publishing",
        "regions": {"1": "ok", "2": "failed"},
        "weekStart": "2026-11-23",
        "dryRun": False,
    }


def test_final_replay_completes_with_the_summary() -> None:
    outcomes = [ok_outcome(1), ok_outcome(2)]
    history = history_until_fan_in(outcomes)
    history.activity_scheduled(3, "publish_run").new_episode()
    published = {"documents": 6, "visits": 150, "repsWithVisits": 5, "written": 6, "withdrawn": []}
    history.activity_completed(3, published)
    state = replay(history, WEEKLY_RUN)
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


def test_all_regions_failed_skips_the_fan_in() -> None:
    failed = [{"areaId": a, "status": "failed", "error": "x"} for a in (1, 2)]
    state = replay(history_until_fan_in(failed), WEEKLY_RUN)
    assert state["isDone"] is True
    assert "publish_run" not in [a["functionName"] for a in flat_actions(state)]
    assert state["output"]["status"] == "failed"
    assert state["output"]["failedRegions"] == [1, 2]
    assert state["output"]["documents"] == 0


def test_replay_is_deterministic() -> None:
    history = history_until_fan_in([ok_outcome(1), {"areaId": 2, "status": "failed"}])
    first, second = replay(history, WEEKLY_RUN), replay(history, WEEKLY_RUN)
    assert first == second
    assert first["actions"]


def region_history() -> History:
    return History(REGION_RUN, {"areaId": 4, "runId": INSTANCE}, f"{INSTANCE}:1", START)


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
