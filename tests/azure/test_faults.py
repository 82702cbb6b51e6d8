"""Fault injection against the emulators: a fault in the middle of a step, then the retry the
orchestrator schedules, executed for real (SQLite ODBC, Azurite, the Cosmos emulator). Each
case ends with the week published once, whole, and a status that tells the truth.

The faults are injected in the process (an exception raised by the SDK call a dead service
would fail), not by killing the emulators: a killed emulator takes the other tests' state with
it, and the app sees the same exception either way."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import polars as pl
import pyodbc
import pytest
from azure.core.exceptions import ServiceResponseError
from azure.cosmos import ContainerProxy
from azure.storage.blob import ContainerClient

from activities.score import SCORED_FILES
from api import runs as starters
from orchestrators.weekly_run import REGION_RUN, WEEKLY_RUN
from visitrank.adapters.app_settings import Settings
from visitrank.adapters.blob_staging import BlobStaging
from visitrank.adapters.cosmos_sink import CosmosSink
from visitrank.adapters.order_store import OrderStore, order_id
from visitrank.adapters.sql_source import SqlSource
from visitrank.pipeline.payloads import PublishRequest, RunPlan

from .history import START, History, flat_actions, replay
from .test_activities import call_activity
from .test_end_to_end import get_order, plan_and_fan_out, publish_input
from .test_function_app import get_visits

WEEK = "2026-11-23"
LAST_WEEK = "2026-11-16"
DELETED_CUSTOMER = 987_654
INSTANCE = "visitrank-2026-W48"


def test_cosmos_failing_mid_publish_is_finished_by_the_retry(
    fresh_database: Settings,
    staging: BlobStaging,
    demo_tables: dict[str, pl.DataFrame],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A connection reset after 3 list upserts used to leave the week half new, half old,
    with the orders already replaced. Now readers keep last week's lists and orders, together,
    until the retry has written everything and recorded the week; the progress says how far
    the failed attempt got; the retry publishes each document once and the run says
    complete."""
    sink, store = CosmosSink.from_settings(fresh_database), OrderStore.from_settings(fresh_database)
    customer = int(demo_tables["MV_SetupCustomer"]["CustomerId"][0])
    # last week as its run published it, with the order of a customer deleted since
    sink.upsert_documents(
        [{"id": f"1:{LAST_WEEK}", "repId": 1, "weekStart": LAST_WEEK, "runId": "last"}]
    )
    store.upsert_orders(
        [
            {"id": order_id(c, LAST_WEEK), "customerId": c, "runId": "last", "lines": []}
            for c in (customer, DELETED_CUSTOMER)
        ]
    )
    sink.record_publication(LAST_WEEK, {"runId": "last"})
    history, publish_id = plan_and_fan_out({"weekStart": WEEK}, INSTANCE)
    payload = publish_input(history)

    upsert_item, lock = ContainerProxy.upsert_item, threading.Lock()
    written: list[str] = []

    def reset_after_three(self: ContainerProxy, body: dict[str, Any], **kwargs: Any) -> Any:
        if self.id == fresh_database.cosmos_container and body.get("weekStart") == WEEK:
            with lock:
                if len(written) == 3:
                    raise ServiceResponseError("Connection reset by peer")
                written.append(body["id"])
        return upsert_item(self, body, **kwargs)

    monkeypatch.setattr(ContainerProxy, "upsert_item", reset_after_three)
    with pytest.raises(ServiceResponseError, match="Connection reset"):
        call_activity("publish_run", payload)
    monkeypatch.undo()

    # the orders of this week are written, the lists half: readers still see last week
    assert store.read_order(customer, WEEK) is not None
    assert served_list(1)["runId"] == "last"
    assert served_order(customer) == (200, "last")
    progress = starters.publish_progress(INSTANCE)
    assert progress is not None and progress["done"] is False
    assert progress["lists"]["written"] == 3 < progress["lists"]["of"]
    assert progress["orders"]["written"] == progress["orders"]["of"] > 0
    assert "Connection reset by peer" in progress["error"]

    history.activity_scheduled(publish_id, "publish_run").new_episode()
    history.activity_failed(publish_id, "ServiceResponseError", "Connection reset by peer")
    history.new_episode().timer_fired(publish_id + 1).new_episode()
    state = replay(history, WEEKLY_RUN)
    (retry,) = [a for a in flat_actions(state) if a["functionName"] == "publish_run"]
    assert retry["retryOptions"]["maxNumberOfAttempts"] >= 2
    published = call_activity("publish_run", payload)
    history.activity_scheduled(publish_id + 2, "publish_run").new_episode()
    history.activity_completed(publish_id + 2, published)
    state = replay(history, WEEKLY_RUN)
    assert state["isDone"] is True
    summary = state["output"]
    assert summary["status"] == "complete"
    assert published["publishedWeek"] == WEEK
    documents = [sink.read_document(rep, WEEK) or {} for _, rep in sink.week_document_refs(WEEK)]
    assert len(documents) == summary["documents"] == summary["written"] > 3
    assert {doc.get("runId") for doc in documents} == {INSTANCE}
    # readers switched to this week: its lists and its orders; the deleted customer has none
    assert served_list(documents[0]["repId"])["runId"] == INSTANCE
    assert served_order(customer) == (200, INSTANCE)
    assert served_order(DELETED_CUSTOMER)[0] == 404
    done = starters.publish_progress(INSTANCE)
    assert done is not None and done["done"] is True and "error" not in done
    assert done["lists"] == {"written": summary["written"], "of": summary["documents"]}


def failed_then_retried(
    history: History, activity: str, payload: dict[str, Any], error: str
) -> dict[str, Any]:
    """Records the first activity of ``history`` failing with ``error``, the retry timer and
    the retry, executed for real; returns the retry's result."""
    history.activity_scheduled(0, activity).new_episode()
    history.activity_failed(0, error, "the fault injected above").new_episode()
    history.timer_fired(1).new_episode()
    result: dict[str, Any] = call_activity(activity, payload)
    history.activity_scheduled(2, activity).new_episode()
    history.activity_completed(2, result)
    return result


def served_list(rep: Any) -> dict[str, Any]:
    """What ``GET /api/reps/{rep}/visits`` serves by default (the latest published week)."""
    response = get_visits(str(rep), None)
    assert response.status_code == 200, response.get_body()
    body: dict[str, Any] = json.loads(response.get_body())
    return body


def served_order(customer: int) -> tuple[int, str | None]:
    """Status and runId of what ``GET /api/customers/{customer}/order`` serves."""
    response = get_order(str(customer))
    body = json.loads(response.get_body())
    return response.status_code, body.get("runId")


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
    plan = failed_then_retried(history, "plan_run", payload, "OperationalError")
    state = replay(history, WEEKLY_RUN)
    assert state["isDone"] is False
    scheduled = [a["functionName"] for a in flat_actions(state)]
    assert scheduled.count("region_run") == len(plan["regions"]) > 0
    assert state["customStatus"]["stage"] == "scoring"


def test_a_rerun_of_some_regions_withdraws_the_lists_its_outlets_left(
    fresh_database: Settings, demo_tables: dict[str, pl.DataFrame]
) -> None:
    """Subset reruns never withdrew, so outlets that moved to another rep sat in two reps'
    lists. A rep whose list names a customer of the rerun region and who got no list from the
    rerun is withdrawn; a rep of another region keeps theirs."""
    sink = CosmosSink.from_settings(fresh_database)
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


def test_azurite_failing_while_a_region_stages_is_finished_by_the_retry(
    fresh_database: Settings, staging: BlobStaging, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Blob storage drops the connection after the region's first staged file: the scoring
    activity fails with the region half staged; the region's sub-orchestration retries it;
    the retry stages every file again (overwriting), and publish reads a whole region."""
    instance = "visitrank-2026-W50-regions-0123abcd"
    request = {"weekStart": "2026-12-07", "regions": [1], "runId": instance}
    plan = RunPlan.from_json(call_activity("plan_run", {**request, "startedAt": START.isoformat()}))
    task = plan.region_task(1).to_json()
    upload_blob, uploads = ContainerClient.upload_blob, []

    def drop_after_one(self: ContainerClient, name: str, data: Any, **kwargs: Any) -> Any:
        if f"runs/{instance}/region=1/" in name:
            uploads.append(name)
            if len(uploads) > 1:
                raise ServiceResponseError("Connection aborted: Azurite went away")
        return upload_blob(self, name, data, **kwargs)

    monkeypatch.setattr(ContainerClient, "upload_blob", drop_after_one)
    with pytest.raises(ServiceResponseError, match="Azurite went away"):
        call_activity("score_region", task)
    monkeypatch.undo()
    staged = staging.list_paths(f"runs/{instance}/region=1/")
    assert len(staged) == 1  # half staged

    region = History(REGION_RUN, task, f"{instance}:1", START)
    (first,) = flat_actions(replay(region, REGION_RUN))
    assert first["functionName"] == "score_region"
    failed_then_retried(region, "score_region", task, "ServiceResponseError")
    done = replay(region, REGION_RUN)
    assert done["isDone"] is True and done["output"]["status"] == "ok"
    staged_names = {path.rsplit("/", 1)[-1] for path in staging.list_paths(f"runs/{instance}/")}
    assert set(SCORED_FILES.values()) <= staged_names
    published = call_activity(
        "publish_run",
        PublishRequest(plan, regions=(1,), complete=False).to_json(),
    )
    assert published["documents"] > 0 and published["written"] == published["documents"]


def test_two_publishes_of_one_week_at_once_write_each_document_once(
    fresh_database: Settings, staging: BlobStaging
) -> None:
    """A publish attempt the host gave up on (timeout) can still be running when its retry
    starts: both write the same documents by the same ids, the record names the week once,
    and nothing is duplicated or left half written."""
    sink = CosmosSink.from_settings(fresh_database)
    history, _ = plan_and_fan_out({"weekStart": WEEK}, INSTANCE)
    payload = publish_input(history)
    with ThreadPoolExecutor(max_workers=2) as pool:
        first, second = pool.map(lambda _: call_activity("publish_run", payload), range(2))
    assert first["documents"] == second["documents"] == first["written"] > 0
    refs = sink.week_document_refs(WEEK)
    assert len(refs) == len({doc_id for doc_id, _ in refs}) == first["documents"]
    record = sink.read_publication() or {}
    assert record["latestWeek"] == WEEK and list(record["weeks"]) == [WEEK]
    progress = starters.publish_progress(INSTANCE)
    assert progress is not None and progress["done"] is True


def week_lists(sink: CosmosSink, week: str) -> dict[int, dict[str, Any]]:
    """The week's rep documents as the CRM reads them, without Cosmos's system fields."""
    documents = (sink.read_document(rep, week) or {} for _, rep in sink.week_document_refs(week))
    return {
        int(doc["repId"]): {k: v for k, v in doc.items() if not k.startswith("_")}
        for doc in documents
    }


def test_route_chunks_that_failed_are_planned_by_publish_into_the_same_lists(
    fresh_database: Settings, staging: BlobStaging
) -> None:
    """The reps' weeks planned in three route chunks, the middle one's routing failed on every
    attempt (its blobs never written): publish plans that chunk itself and says so, and the
    lists are those the orchestrated run published from its one chunk."""
    sink = CosmosSink.from_settings(fresh_database)
    history, _ = plan_and_fan_out({"weekStart": WEEK}, INSTANCE)
    payload = publish_input(history)
    assert (payload["routeChunks"], payload["routed"]) == (1, [0])
    routed_once = call_activity("publish_run", payload)
    assert routed_once["routedInPublish"] == []
    expected = week_lists(sink, WEEK)
    assert expected and any(doc["visits"] for doc in expected.values())

    # the same run routed in three chunks: chunk 1's routing failed on every attempt
    plan = RunPlan.from_json(payload)
    for chunk in (0, 2):
        task = plan.route_task(payload["regions"], chunk, 3).to_json()
        outcome = call_activity("route_chunk", task)
        assert (outcome["chunk"], outcome["status"]) == (chunk, "ok") and outcome["reps"] > 0
        staged = staging.read_frame(f"runs/{INSTANCE}/routes/{chunk}/visits.parquet")
        assert staged.height == outcome["visits"] > 0
    request = PublishRequest.from_json({**payload, "routeChunks": 3, "routed": [0, 2]})
    published = call_activity("publish_run", request.to_json())
    assert published["routeChunks"] == 3 and published["routedInPublish"] == [1]
    assert published["documents"] == routed_once["documents"]
    assert week_lists(sink, WEEK) == expected
