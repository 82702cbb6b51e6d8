"""End to end: real activity outputs (SQLite ODBC, Azurite, Cosmos emulator) fed into the
orchestrator's replay, then the rep documents read back from Cosmos as the CRM reads them, and
compared with what the local engine (`visitrank run`) writes for the same data."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import azure.functions as func
import polars as pl
import pytest

from activities.orders import kept_calibration_scores
from api import orders as order_api
from orchestrators.weekly_run import ORDER_RUN, REGION_RUN, ROUTE_RUN, SEGMENT_RUN, WEEKLY_RUN
from scoring.config import ScoringConfig
from scoring.inputs import ScoringWindow
from scoring.orders import OrderConfig
from scoring.pipeline import score_region
from scoring.segmentation_config import SegmentationConfig
from visitrank.adapters.app_settings import Settings
from visitrank.adapters.blob_scores import BlobScores
from visitrank.adapters.blob_staging import BlobStaging
from visitrank.adapters.cosmos_sink import CosmosSink
from visitrank.adapters.order_store import OrderStore, order_id
from visitrank.adapters.sql_source import SqlSource
from visitrank.contract.quarantine import quarantine
from visitrank.lab.demo_data import write_demo
from visitrank.local.orders import run_orders
from visitrank.local.run import RunResult, run_local
from visitrank.pipeline.payloads import OrderTask
from visitrank.pipeline.region import region_inputs
from visitrank.pipeline.score_history import scoring_fingerprint

from .conftest import DEMO
from .history import START, History, flat_actions, registered, replay
from .test_activities import call_activity

WEEK = "2026-11-16"
LAST_WEEK = "2026-11-09"
INSTANCE = "visitrank-2026-W47"
DELETED_CUSTOMER = 987_654_321


SUB_ACTIVITY = {
    REGION_RUN: "score_region",
    SEGMENT_RUN: "segment_outlets",
    ORDER_RUN: "propose_orders",
    ROUTE_RUN: "route_chunk",
}


def run_sub_orchestrations(history: History, instance: str, first_id: int) -> list[dict[str, Any]]:
    """Replay, then execute for real the sub-orchestrations scheduled from task ``first_id``
    on (each sub-orchestration's own replay would call its activity: do what it would do) and
    add them, created then completed, to the history; returns their actions."""
    actions = flat_actions(replay(history, WEEKLY_RUN))[first_id:]
    history.new_episode()
    for task_id, action in enumerate(actions, start=first_id):
        history.sub_created(task_id, action["functionName"], f"{instance}:{task_id}")
    outcomes = [
        call_activity(SUB_ACTIVITY[a["functionName"]], json.loads(a["input"])) for a in actions
    ]
    history.new_episode()
    for task_id, outcome in enumerate(outcomes, start=first_id):
        history.sub_completed(task_id, outcome)
    return actions


def plan_and_fan_out(request: dict[str, Any], instance: str) -> tuple[History, int]:
    """Drive the orchestration up to its publish, executing each scheduled activity for real
    (the plan, the scoring fan-out, then the orders and route chunks); returns the history and
    the task id publish is scheduled under."""
    history = History(WEEKLY_RUN, request, instance, START)
    state = replay(history, WEEKLY_RUN)
    (plan_action,) = flat_actions(state)
    plan = call_activity("plan_run", json.loads(plan_action["input"]))
    history.activity_scheduled(0, "plan_run").new_episode().activity_completed(0, plan)

    fan_out = run_sub_orchestrations(history, instance, 1)
    regions = len(plan["regions"])
    segmenting = [SEGMENT_RUN] if plan["allRegions"] else []
    assert [a["functionName"] for a in fan_out] == [*[REGION_RUN] * regions, *segmenting]
    # then the orders (each region hands its staged scores to them) beside the route chunks
    second = run_sub_orchestrations(history, instance, len(fan_out) + 1)
    # the demo's reps: one chunk
    assert [a["functionName"] for a in second] == [*[ORDER_RUN] * regions, ROUTE_RUN]
    assert all(json.loads(a["input"])["scored"] for a in second[:regions])
    return history, len(fan_out) + len(second) + 1


def publish_input(history: History) -> dict[str, Any]:
    """The input of the publish the orchestrator schedules next."""
    publish_action = flat_actions(replay(history, WEEKLY_RUN))[-1]
    assert publish_action["functionName"] == "publish_run"
    payload: dict[str, Any] = json.loads(publish_action["input"])
    return payload


def run_weekly(request: dict[str, Any], instance: str) -> tuple[dict[str, Any], History]:
    """Drive the orchestration episode by episode, executing each scheduled activity for real."""
    history, publish_id = plan_and_fan_out(request, instance)
    published = call_activity("publish_run", publish_input(history))
    history.activity_scheduled(publish_id, "publish_run").new_episode()
    history.activity_completed(publish_id, published)
    state = replay(history, WEEKLY_RUN)
    assert state["isDone"] is True
    return state["output"], history


@pytest.fixture(scope="module")
def weekly(settings: Settings, sink: CosmosSink, staging: BlobStaging) -> dict[str, Any]:
    # the first segmentation of this deployment, as the local run's fresh out folder: segment
    # state left by other tests (names, tags of another data set) would be inherited otherwise
    for blob in list(staging.container.list_blobs(name_starts_with="segments/")):
        staging.container.delete_blob(blob.name)
    # a document from an earlier run for a rep that no longer exists: must be withdrawn
    sink.upsert_documents([{"id": f"999:{WEEK}", "repId": 999, "weekStart": WEEK, "visits": [1]}])
    # last week's order of a customer deleted from the ERP since: not served any more
    OrderStore.from_settings(settings).upsert_orders(
        [{"id": order_id(DELETED_CUSTOMER, LAST_WEEK), "customerId": DELETED_CUSTOMER}]
    )
    sink.record_publication(LAST_WEEK, {"runId": "last"})
    summary, _ = run_weekly({"weekStart": WEEK}, INSTANCE)
    return summary


@pytest.fixture(scope="module")
def local_result(tmp_path_factory: pytest.TempPathFactory) -> RunResult:
    """The local driver on the same data (the demo, with its planted bad rows), with the
    proposed orders and the segments, as `make run` runs it."""
    folder = tmp_path_factory.mktemp("local")
    write_demo(DEMO, folder / "data")
    return run_local(
        folder / "data",
        folder / "out",
        ScoringConfig(),
        workers=1,
        order_config=OrderConfig(),
        segment_config=SegmentationConfig(),
    )


@pytest.fixture(scope="module")
def local_lists(local_result: RunResult) -> dict[int, dict[str, Any]]:
    lines = local_result.lists_path.read_text().splitlines()
    return {doc["repId"]: doc for doc in map(json.loads, lines)}


def test_local_and_azure_summaries_have_one_shape(
    weekly: dict[str, Any], local_result: RunResult
) -> None:
    """The two drivers write the same summary (the local one adds its source, how each table
    was read, the values mapped and its timings; Azure how its route chunks went), with the
    same figures where they measure the same thing."""
    local = local_result.summary
    assert set(local) - set(weekly) == {"source", "reading", "valuesMapped", "timingsSeconds"}
    assert set(weekly) - set(local) == {"routing"}  # Azure's route chunks
    assert weekly["routing"]["chunks"] == 1 and weekly["routing"]["routedInPublish"] == []
    for section in ("orders", "segments"):
        assert set(local[section]) <= set(weekly[section]) | {"kChosenBy", "k", "outlets"}, section
        assert {"status", "error"} <= set(local[section]) & set(weekly[section])
    assert local["config"] == weekly["config"]
    assert local["status"] == "complete"
    for key in ("weekStart", "asOf", "windowStart", "documents", "visits", "repsWithVisits"):
        assert local[key] == weekly[key], key
    # the regions read their own rows; the plan reads the rows no region owns (sales of
    # customers missing from MV_SetupCustomer): together the same as the whole table
    assert local["quarantined"]["MV_Sales"]["unknown_customer"] > 0  # the demo plants them
    assert local["inputRows"] == weekly["inputRows"]
    assert local["quarantined"] == weekly["quarantined"]
    assert local["tables"] == weekly["tables"]
    for table, row in weekly["tables"].items():
        assert row["rowsIn"] == row["clean"] + row["setAside"], table
    assert [r["areaId"] for r in local["regions"]] == [r["areaId"] for r in weekly["regions"]]
    assert set(local["regions"][0]) == set(weekly["regions"][0])


def test_summary_counts(weekly: dict[str, Any]) -> None:
    assert weekly["status"] == "complete"
    assert weekly["weekStart"] == WEEK
    assert [r["status"] for r in weekly["regions"]] == ["ok", "ok"]
    assert weekly["documents"] == weekly["written"] > 0
    assert weekly["visits"] > 0
    assert weekly["withdrawn"] == [999]
    assert weekly["quarantinedRows"] == sum(
        sum(reasons.values()) for reasons in weekly["quarantined"].values()
    )
    segments = weekly["segments"]
    assert segments["status"] == "ok"
    assert segments["outlets"] == DEMO.outlets
    assert segments["written"] > segments["outlets"]  # outlet cards + segment documents
    assert segments["publishedPotentialPath"] == segments["potentialPath"]
    assert segments["potentialPath"] == f"segments/{INSTANCE}/segment_potential.parquet"
    orders = weekly["orders"]
    assert orders["status"] == "complete"
    assert [o["areaId"] for o in orders["regions"]] == [1, 2]
    assert (
        orders["documents"] == orders["written"] == sum(o["customers"] for o in orders["regions"])
    )
    assert 0 < orders["visitsWithProposedOrder"] == weekly["visits"]
    assert orders["error"] is None
    calibration = orders["calibration"]
    # every region's calibration either read kept scores (of an emulator run 8 weeks
    # earlier) or scored its customers
    assert sorted(calibration["keptScores"] + calibration["scored"]) == [1, 2]
    assert [o["calibration"] in ("kept", "scored") for o in orders["regions"]] == [True, True]
    assert len(json.dumps(weekly)) < 10_000  # the orchestration output stays small


def get_order(customer: str) -> func.HttpResponse:
    request = func.HttpRequest(
        "GET",
        f"http://localhost/api/customers/{customer}/order",
        body=b"",
        route_params={"customerId": customer},
    )
    response: func.HttpResponse = registered("get_customer_order")(request)
    return response


def test_order_endpoint_and_proposed_orders_in_the_rep_documents(
    weekly: dict[str, Any], sink: CosmosSink, settings: Settings
) -> None:
    """After the replayed run: GET /api/customers/{id}/order serves what publish wrote, and
    each visit of the rep documents carries the compact lines of its customer's order."""
    order_api.order_reader.cache_clear()
    store = OrderStore.from_settings(settings)
    checked = 0
    for _, rep in sink.week_document_refs(WEEK):
        document = sink.read_document(rep, WEEK) or {}
        for visit in document.get("visits", []):
            response = get_order(str(visit["customerId"]))
            if response.status_code == 404:
                assert visit["proposedOrder"] == []  # no proposal for this customer
                continue
            assert response.status_code == 200
            order = json.loads(response.get_body())
            assert order == {
                k: v
                for k, v in (store.read_order(visit["customerId"], WEEK) or {}).items()
                if not k.startswith("_")
            }
            assert order["customerId"] == visit["customerId"]
            assert order["runId"] == INSTANCE and order["weekStart"] == WEEK
            assert order["asOf"] == weekly["asOf"]
            assert visit["proposedOrder"] == [
                {k: line[k] for k in ("itemId", "quantity", "kind", "probability")}
                for line in order["lines"]
            ]
            checked += 1
    assert checked > 0
    assert get_order("abc").status_code == 400
    assert get_order("987654321").status_code == 404


def test_crm_point_reads_agree_with_the_local_engine(
    weekly: dict[str, Any],
    sink: CosmosSink,
    local_lists: dict[int, dict[str, Any]],
    demo_tables: dict[str, pl.DataFrame],
) -> None:
    """Same engine, same data: the same reps, dates and visit counts as `visitrank run`, and
    every visit is a routable outlet of the rep, ranked 1..n."""
    assert len(local_lists) == weekly["documents"]
    owners = dict(demo_tables["MV_SetupCustomer"].select("CustomerId", "RepId").iter_rows())
    for rep_id, local in local_lists.items():
        document = sink.read_document(rep_id, WEEK)
        assert document is not None, rep_id
        assert document["id"] == f"{rep_id}:{WEEK}"
        assert document["runId"] == INSTANCE
        assert document["asOf"] == local["asOf"]
        assert len(document["visits"]) == len(local["visits"])
        assert document["summary"]["eligibleOutlets"] == local["summary"]["eligibleOutlets"]
        ranks = sorted(v["rank"] for v in document["visits"])
        assert ranks == list(range(1, len(ranks) + 1))
        assert all(owners[v["customerId"]] == rep_id for v in document["visits"])


def test_crm_point_reads_equal_the_local_engine_visit_by_visit(
    weekly: dict[str, Any],
    sink: CosmosSink,
    local_lists: dict[int, dict[str, Any]],
    sql_connection_string: str,
) -> None:
    """Exact equality with `visitrank run` (visits, days, route order, SKUs).

    Only meaningful if the engine itself is deterministic (fixed-point sums, sorted k-means
    features), which is checked first.
    """
    assert engine_is_deterministic(sql_connection_string)
    for rep_id, local in local_lists.items():
        document = sink.read_document(rep_id, WEEK) or {}
        key = [(v["customerId"], v["day"], v["routeOrder"]) for v in document["visits"]]
        assert key == [(v["customerId"], v["day"], v["routeOrder"]) for v in local["visits"]]
        assert [s["itemId"] for v in document["visits"] for s in v["skus"]] == [
            s["itemId"] for v in local["visits"] for s in v["skus"]
        ]
        # the segment evidence is the same as well
        assert [v["behaviourSegment"] for v in document["visits"]] == [
            v["behaviourSegment"] for v in local["visits"]
        ]
        assert [s["segmentSupport"] for v in document["visits"] for s in v["skus"]] == [
            s["segmentSupport"] for v in local["visits"] for s in v["skus"]
        ]
        # and so is what the learned steps did and why (both drivers attach it)
        assert document["learnedSteps"] == local["learnedSteps"]
    confirmed = [
        s["segmentSupport"]
        for doc in local_lists.values()
        for v in doc["visits"]
        for s in v["skus"]
        if s["segmentSupport"] is not None
    ]
    assert confirmed  # the comparison above is not vacuous


def engine_is_deterministic(connection_string: str, runs: int = 3) -> bool:
    """Score region 1 a few times on identical rows; True if the segments never differ."""
    source = SqlSource(connection_string)
    config = ScoringConfig()
    window = ScoringWindow.for_week(
        date.fromisoformat(WEEK), source.last_sale_date(date.fromisoformat(WEEK)), config
    )
    clean = quarantine(source.read_region(1, window.history_start, window.week_start)).tables
    segments = [
        score_region(region_inputs(clean, window), window, config)
        .outlets.sort("CustomerId")
        .get_column("Segment")
        for _ in range(runs)
    ]
    return all(segment.equals(segments[0]) for segment in segments)


def test_withdrawn_rep_reads_as_an_empty_week(weekly: dict[str, Any], sink: CosmosSink) -> None:
    document = sink.read_document(999, WEEK)
    assert document is not None
    assert document["withdrawn"] is True
    assert document["visits"] == []


def test_rerun_overwrites_and_never_duplicates(weekly: dict[str, Any], sink: CosmosSink) -> None:
    before = sink.week_document_refs(WEEK)
    summary, _ = run_weekly({"weekStart": WEEK, "regions": [1]}, f"{INSTANCE}-rerun")
    assert summary["status"] == "complete"
    after = sink.week_document_refs(WEEK)
    assert after == before
    rerun_reps = {
        rep
        for _, rep in after
        if (sink.read_document(rep, WEEK) or {}).get("runId", "") == f"{INSTANCE}-rerun"
    }
    assert rerun_reps  # region 1's reps were rewritten by the rerun
    assert len(rerun_reps) < len(after)


def test_local_and_azure_propose_the_same_orders(
    weekly: dict[str, Any],
    settings: Settings,
    local_result: RunResult,
    local_lists: dict[int, dict[str, Any]],
    sink: CosmosSink,
    tmp_path: Path,
) -> None:
    """Both drivers' weekly runs propose region by region from the same clean rows and hand
    each region's week scores to its orders: the order documents of the local run are the
    ones publish upserted, and every visit carries the same proposed order."""
    path = local_result.lists_path.parent / "orders.jsonl"
    local = [json.loads(line) for line in path.read_text("utf-8").splitlines()]
    store = OrderStore.from_settings(settings)
    compared = 0
    for order in local:
        published = store.read_order(order["customerId"], WEEK)
        assert published is not None, order["customerId"]
        assert published["lines"] == order["lines"], order["customerId"]
        assert published.get("emptyReason") == order.get("emptyReason")
        compared += 1
    assert compared == weekly["orders"]["documents"] > 0
    development = 0
    for rep_id, lists in local_lists.items():
        document = sink.read_document(rep_id, WEEK) or {}
        assert [v["proposedOrder"] for v in document["visits"]] == [
            v["proposedOrder"] for v in lists["visits"]
        ]
        development += sum(
            line["kind"] == "development" for v in lists["visits"] for line in v["proposedOrder"]
        )
    assert development > 0  # the week's scores fed development lines in both drivers

    # `visitrank order` alone scores the customers itself (no weekly run to reuse; no visits
    # in that scoring): only the novelties (development lines and the extensions they compete
    # with for the budget) can differ from the weekly run's orders
    alone, count, _ = run_orders(
        local_result.lists_path.parent.parent / "data",
        tmp_path / "out",
        OrderConfig(),
        ScoringConfig(),
        as_of=date.fromisoformat(weekly["asOf"]),
    )
    by_customer = {order["customerId"]: order["lines"] for order in local}

    def usual(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [line for line in lines if line["kind"] == "usual"]

    orders_alone = [json.loads(line) for line in alone.read_text("utf-8").splitlines()]
    assert count == len(local)
    assert all(
        usual(order["lines"]) == usual(by_customer[order["customerId"]]) for order in orders_alone
    )


def test_a_deleted_customers_order_is_not_served_once_the_week_is_published(
    weekly: dict[str, Any], settings: Settings, sink: CosmosSink
) -> None:
    """Order documents of customers deleted from the ERP were served until their TTL. The
    orders served are the latest published week's, which has none for them (last week's
    document stays until the container's TTL, never served)."""
    order_api.order_reader.cache_clear()
    order_api.list_reader.cache_clear()
    assert weekly["status"] == "complete"
    assert weekly["orders"]["written"] > 0
    assert sink.published_week() == WEEK
    assert OrderStore.from_settings(settings).read_order(DELETED_CUSTOMER, LAST_WEEK)
    assert get_order(str(DELETED_CUSTOMER)).status_code == 404


def test_each_region_keeps_its_week_scores_for_the_orders_calibration_later(
    weekly: dict[str, Any], staging: BlobStaging
) -> None:
    """The scoring activity keeps each region's week scores in Blob; the orders of the week
    `calibration_weeks` later find them and calibrate on them instead of scoring again."""
    as_of = date.fromisoformat(weekly["asOf"])
    kept = BlobScores(staging)
    fingerprint = scoring_fingerprint(ScoringConfig())
    for area in (1, 2):
        assert as_of in kept.weeks(area, fingerprint)
        assert kept.weeks(area, scoring_fingerprint(ScoringConfig(min_peers=30))) == []
    later = as_of + timedelta(weeks=OrderConfig().calibration_weeks, days=1)
    monday = later + timedelta(days=7 - later.weekday())
    window = ScoringWindow.for_week(monday, later, ScoringConfig())
    assert window.as_of == later
    task = OrderTask(
        "later",
        1,
        window,
        ScoringConfig(),
        OrderConfig(),
        dry_run=True,
    )
    found = kept_calibration_scores(staging, task)
    assert found is not None and found.as_of == as_of
    assert found.gaps.height > 0
    assert found.gaps.equals(kept.read(as_of, 1).gaps)
