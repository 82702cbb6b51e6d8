"""Fault injection against the emulators: a fault in the middle of a step, then the retry the
orchestrator schedules, executed for real (SQLite ODBC, Azurite, the Cosmos emulator). Each
case ends with the week published once, whole, and a status that tells the truth.

The faults are injected in the process (an exception raised by the SDK call a dead service
would fail), not by killing the emulators: a killed emulator takes the other tests' state with
it, and the app sees the same exception either way."""

from __future__ import annotations

import json
from typing import Any

import polars as pl
import pyodbc
import pytest
from azure.core.exceptions import ServiceResponseError

from orchestrators.weekly_run import WEEKLY_RUN
from visitrank.adapters.app_settings import Settings
from visitrank.adapters.cosmos_sink import CosmosSink
from visitrank.adapters.sql_source import SqlSource

from .history import START, History, flat_actions, replay
from .test_activities import call_activity
from .test_end_to_end import plan_and_fan_out, publish_input

WEEK = "2026-11-23"
INSTANCE = "visitrank-2026-W48"


def test_cosmos_failing_mid_publish_is_finished_by_the_retry(
    settings: Settings, sink: CosmosSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A connection reset after 3 upserts: the first publish fails with the week half
    written; the orchestrator's retry publishes the same documents again (upserts by stable
    id): every document of the week is this run's, none twice, and the run says complete."""
    # last week's documents of this week, as a previous run left them
    old = [
        {"id": f"{rep}:{WEEK}", "repId": rep, "weekStart": WEEK, "runId": "old", "visits": []}
        for rep in range(1, 40)
    ]
    sink.upsert_documents(old)
    history, publish_id = plan_and_fan_out({"weekStart": WEEK}, INSTANCE)
    payload = publish_input(history)

    upsert = CosmosSink.upsert_documents
    written: list[str] = []

    def reset_after_three(self: CosmosSink, documents: Any) -> int:
        items = list(documents)
        upsert(self, items[:3])
        written.extend(item["id"] for item in items[:3])
        raise ServiceResponseError("Connection reset by peer")

    monkeypatch.setattr(CosmosSink, "upsert_documents", reset_after_three)
    with pytest.raises(Exception, match="Connection reset"):
        call_activity("publish_run", payload)
    monkeypatch.undo()
    assert len(written) == 3
    half = {doc["runId"] for doc in map(read(sink), sink.week_document_refs(WEEK))}
    assert half == {"old", INSTANCE}  # the week is half new, half old: not done

    history.activity_scheduled(publish_id, "publish_run").new_episode()
    history.activity_failed(publish_id, "ServiceResponseError", "Connection reset by peer")
    history.new_episode().timer_fired(publish_id + 1).new_episode()
    state = replay(history, WEEKLY_RUN)
    (retry,) = [a for a in flat_actions(state) if a["functionName"] == "publish_run"]
    published = call_activity("publish_run", payload)
    history.activity_scheduled(publish_id + 2, "publish_run").new_episode()
    history.activity_completed(publish_id + 2, published)
    state = replay(history, WEEKLY_RUN)
    assert state["isDone"] is True
    summary = state["output"]
    assert summary["status"] == "complete"
    refs = sink.week_document_refs(WEEK)
    documents = [read(sink)(ref) for ref in refs]
    live = [doc for doc in documents if doc.get("visits")]
    assert len(live) == summary["documents"] == summary["written"]
    assert {doc["runId"] for doc in documents} == {INSTANCE}  # nothing of the old week left
    assert len({doc["id"] for doc in documents}) == len(documents)  # no duplicates
    assert retry["retryOptions"]["maxNumberOfAttempts"] >= 2


def read(sink: CosmosSink) -> Any:
    def one(ref: tuple[str, int]) -> dict[str, Any]:
        document = sink.read_document(ref[1], WEEK)
        assert document is not None
        return document

    return one


def test_a_transient_sql_error_while_planning_is_retried(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One OperationalError while planning used to fail the orchestration (and the timer then
    skipped the week): the plan activity fails once, the retry plans the week."""
    regions = SqlSource.regions
    calls: list[int] = []

    def reset_once(self: SqlSource) -> list[int]:
        calls.append(1)
        if len(calls) == 1:
            raise pyodbc.OperationalError("08S01", "[08S01] Communication link failure")
        return regions(self)

    monkeypatch.setattr(SqlSource, "regions", reset_once)
    history = History(WEEKLY_RUN, {"weekStart": WEEK}, INSTANCE, START)
    (plan_action,) = flat_actions(replay(history, WEEKLY_RUN))
    payload = json.loads(plan_action["input"])
    with pytest.raises(Exception, match="Communication link failure"):
        call_activity("plan_run", payload)
    history.activity_scheduled(0, "plan_run").new_episode()
    history.activity_failed(0, "OperationalError", "Communication link failure").new_episode()
    history.timer_fired(1).new_episode()
    plan = call_activity("plan_run", payload)
    history.activity_scheduled(2, "plan_run").new_episode()
    history.activity_completed(2, plan)
    state = replay(history, WEEKLY_RUN)
    assert state["isDone"] is False
    scheduled = [a["functionName"] for a in flat_actions(state)]
    assert scheduled.count("region_run") == len(plan["regions"]) > 0
    assert state["customStatus"]["stage"] == "scoring"


def test_a_rerun_of_some_regions_withdraws_the_lists_its_outlets_left(
    settings: Settings, sink: CosmosSink, demo_tables: dict[str, pl.DataFrame]
) -> None:
    """Subset reruns never withdrew, so outlets that moved to another rep sat in two reps'
    lists. A rep whose list names a customer of the rerun region and who got no list from the
    rerun is withdrawn; a rep of another region keeps theirs."""
    week = "2026-11-30"
    customers = demo_tables["MV_SetupCustomer"]
    in_region_1 = customers.filter(pl.col("AreaId") == 1)["CustomerId"][0]
    in_region_2 = customers.filter(pl.col("AreaId") == 2)["CustomerId"][0]
    sink.upsert_documents(
        [
            {"id": f"900:{week}", "repId": 900, "weekStart": week, "visits": [visit(in_region_1)]},
            {"id": f"901:{week}", "repId": 901, "weekStart": week, "visits": [visit(in_region_2)]},
        ]
    )
    instance = "visitrank-2026-W49-regions-abcd1234"
    history, _ = plan_and_fan_out({"weekStart": week, "regions": [1]}, instance)
    published = call_activity("publish_run", publish_input(history))
    assert published["withdrawn"] == [900]
    moved = sink.read_document(900, week)
    assert moved is not None and moved["withdrawn"] is True and moved["visits"] == []
    kept = sink.read_document(901, week)
    assert kept is not None and kept["visits"] == [visit(in_region_2)]
    listed = [
        v["customerId"]
        for _, rep in sink.week_document_refs(week)
        for v in (sink.read_document(rep, week) or {}).get("visits", [])
    ]
    assert len(listed) == len(set(listed))  # no outlet in two lists


def visit(customer_id: int) -> dict[str, Any]:
    return {"customerId": customer_id, "rank": 1}
