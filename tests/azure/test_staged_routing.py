"""The Azure scoring activity hands the planner the optional planning inputs as the local run
does: each region's staged outlets carry the routing attributes of its customers (the same
values as from the whole tables), its staged reps their homes."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

import polars as pl

from activities.plan import plan_run
from activities.score import score_region_activity
from visitrank.adapters.app_settings import Settings
from visitrank.adapters.blob_staging import BlobStaging
from visitrank.contract.quarantine import quarantine
from visitrank.pipeline.payloads import RunPlan
from visitrank.pipeline.region import REP_SCHEMA
from visitrank.pipeline.routing_inputs import ROUTING_COLUMNS, ROUTING_SCHEMA, routing_attributes

WEEK = date(2026, 11, 16)


def test_staged_outlets_and_reps_carry_the_planning_inputs(
    settings: Settings, demo_tables: dict[str, pl.DataFrame]
) -> None:
    started: dict[str, Any] = {
        "runId": f"routing-{uuid.uuid4().hex[:8]}",
        "startedAt": f"{WEEK}T05:00:00+00:00",
        "weekStart": WEEK.isoformat(),
    }
    plan = RunPlan.from_json(plan_run(started, settings))
    staging = BlobStaging.from_settings(settings)
    expected = routing_attributes(quarantine(demo_tables).tables, plan.window)
    outlets, reps = [], []
    for area in plan.regions:
        outcome = score_region_activity(plan.region_task(area).to_json(), settings)
        outlets.append(staging.read_frame(outcome["paths"]["outlets"]))
        reps.append(staging.read_frame(outcome["paths"]["reps"]))
    staged = pl.concat(outlets)
    assert [staged.schema[name] for name in ROUTING_COLUMNS] == [
        ROUTING_SCHEMA[name] for name in ROUTING_COLUMNS
    ]
    got = staged.select("CustomerId", *ROUTING_COLUMNS).sort("CustomerId")
    assert got.equals(expected.join(got.select("CustomerId"), on="CustomerId", how="semi"))
    assert got["PinnedDate"].drop_nulls().len() >= 3  # the demo's appointments of the week
    assert got["Hours"].drop_nulls().len() > 0
    homes = pl.concat(reps)
    assert list(homes.schema) == list(REP_SCHEMA)
    assert homes["HomeLatitude"].drop_nulls().len() == homes["RepId"].n_unique() - 1  # 1 invalid
