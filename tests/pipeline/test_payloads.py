"""The typed messages of a run and their JSON at the Durable boundary."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date

from scoring.config import ScoringConfig
from scoring.inputs import ScoringWindow
from scoring.orders import OrderConfig
from scoring.segmentation_config import SegmentationConfig
from visitrank.pipeline.payloads import (
    OrderTask,
    PublishRequest,
    RegionTask,
    RouteTask,
    RunPlan,
    SegmentTask,
)
from visitrank.pipeline.run_config import RunConfig

WINDOW = ScoringWindow(
    week_start=date(2026, 11, 23),
    as_of=date(2026, 11, 20),
    window_start=date(2026, 5, 23),
    history_start=date(2025, 11, 22),
)
CONFIG = RunConfig(
    scoring=ScoringConfig(visits_per_week=25),
    orders=OrderConfig(max_lines=12),
    segmentation=SegmentationConfig(k_max=5),
)
PLAN = RunPlan("run-1", "2026-11-23T05:00:00+00:00", WINDOW, (3, 1), True, False, CONFIG)


def test_the_plan_round_trips_through_json() -> None:
    data = json.loads(json.dumps(PLAN.to_json()))
    assert RunPlan.from_json(data) == PLAN


def test_payloads_carry_only_the_fields_that_differ_from_the_defaults() -> None:
    data = PLAN.to_json()
    assert data["config"] == {"visits_per_week": 25}
    assert data["orderConfig"] == {"max_lines": 12}
    assert data["segmentationConfig"] == {"k_max": 5}
    assert data["regions"] == [3, 1]
    assert data["asOf"] == "2026-11-20"
    assert len(json.dumps(data)) < 1000


def test_the_tasks_of_a_plan_carry_their_sections() -> None:
    region = PLAN.region_task(3)
    assert RegionTask.from_json(region.to_json()) == region
    assert region.to_json() == {
        "runId": "run-1",
        "weekStart": "2026-11-23",
        "asOf": "2026-11-20",
        "windowStart": "2026-05-23",
        "historyStart": "2025-11-22",
        "config": {"visits_per_week": 25},
        "areaId": 3,
        "dryRun": False,
    }
    # a dry run's regions are told so: their scores are not kept for later weeks
    dry = replace(PLAN, dry_run=True).region_task(3)
    assert dry.dry_run and RegionTask.from_json(dry.to_json()) == dry
    order = PLAN.order_task(1, scored=True)
    assert OrderTask.from_json(order.to_json()) == order
    assert order.to_json()["scored"] is True
    assert order.orders.max_lines == 12 and order.scoring.visits_per_week == 25
    segment = PLAN.segment_task()
    assert SegmentTask.from_json(segment.to_json()) == segment
    assert segment.to_json()["segmentation"] == {"k_max": 5}
    route = PLAN.route_task([3, 1], 2, 5)
    assert RouteTask.from_json(json.loads(json.dumps(route.to_json()))) == route
    assert {k: v for k, v in route.to_json().items() if k not in region.to_json()} == {
        "regions": [3, 1],
        "chunk": 2,
        "chunks": 5,
    }
    assert route.scoring.visits_per_week == 25


def test_publish_knows_which_route_chunks_were_routed() -> None:
    ok = {"areaId": 3, "status": "ok"}
    routes = [
        {"chunk": 0, "status": "ok", "reps": 250},
        {"chunk": 1, "status": "failed", "error": "MemoryError"},
        {"chunk": 2, "status": "ok", "reps": 249},
    ]
    request = PublishRequest.after_fan_out(PLAN, [ok], [], None, routes)
    assert (request.route_chunks, request.routed) == (3, (0, 2))
    again = PublishRequest.from_json(json.loads(json.dumps(request.to_json())))
    assert (again.route_chunks, again.routed) == (3, (0, 2))
    unrouted = PublishRequest.from_json({**request.to_json(), "routeChunks": None, "routed": None})
    assert (unrouted.route_chunks, unrouted.routed) == (0, ())  # publish plans every rep


def test_publish_takes_the_area_ids_of_the_ok_outcomes_only() -> None:
    ok = {
        "areaId": 3,
        "status": "ok",
        "paths": {"outlets": "o3"},
        "outlets": 120,
        "visitResponse": {"signal": False},
        "gapPersistence": None,
    }
    failed = {"areaId": 1, "status": "failed", "error": "boom"}
    orders = [{"areaId": 3, "status": "ok", "paths": {"lines": "l3"}, "lines": 9}, failed]
    request = PublishRequest.after_fan_out(PLAN, [ok, failed], orders, {"status": "failed"})
    # area ids only: publish finds the files and verdicts in the run's folder by name
    assert request.regions == (3,)
    assert request.complete is False  # region 1 failed: stale documents stay
    assert request.orders == (3,)
    assert request.segments is None
    again = PublishRequest.from_json(json.loads(json.dumps(request.to_json())))
    assert (again.regions, again.orders, again.complete) == (
        request.regions,
        request.orders,
        request.complete,
    )
    assert again.plan.run_id == PLAN.run_id and again.plan.config == PLAN.config
    everything = PublishRequest.after_fan_out(PLAN, [ok], [], None)
    assert everything.complete is True
