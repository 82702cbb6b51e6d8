"""The visit response in the Azure run: the region activity measures it from the visits it reads
from SQL exactly as the local run does from its staged files, returns it in its small JSON, and
the orchestration summary keeps it per region; with a planted signal, the factors and priorities
are the same too."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from orchestrators.weekly_run import run_summary
from scoring.config import ScoringConfig
from scoring.pipeline import score_region
from visitrank.adapters import local_stage
from visitrank.adapters.app_settings import Settings, app_settings
from visitrank.adapters.blob_staging import BlobStaging
from visitrank.adapters.local_stage import StagedInputs, stage_inputs
from visitrank.lab.demo_data import DemoSpec, generate_tables

from .conftest import write_sqlite
from .test_activities import WEEK, call_activity

SUMMARY_KEYS = {"signal", "effect", "ci95", "outlets", "reason"}
SQL_SETTING = "VISITRANK_SQL_CONNECTION_STRING"


def planned_and_staged(
    run_id: str, tables: dict[str, pl.DataFrame], tmp_path: Path
) -> tuple[dict[str, Any], ScoringConfig, StagedInputs, dict[str, Any]]:
    """The run's plan (activity), its config, the same tables staged as the local run stages
    them, and the window fields of the region activity's payload."""
    plan = call_activity(
        "plan_run",
        {"runId": run_id, "startedAt": "2026-11-16T05:00:03+00:00", "weekStart": WEEK},
    )
    config = ScoringConfig.model_validate(plan["config"])
    staged = stage_inputs(
        tables, tmp_path / "clean", tmp_path / "q", date.fromisoformat(WEEK), config
    )
    window = {k: plan[k] for k in ("runId", "weekStart", "asOf", "windowStart", "historyStart")}
    return plan, config, staged, window


def test_score_activity_reports_the_local_runs_visit_response(
    settings: Settings, demo_tables: dict[str, pl.DataFrame], tmp_path: Path
) -> None:
    plan, config, staged, window = planned_and_staged("vr-run", demo_tables, tmp_path)
    assert staged.window.history_start.isoformat() == plan["historyStart"]
    for area in plan["regions"]:
        outcome = call_activity(
            "score_region", {**window, "config": plan["config"], "areaId": area}
        )
        response = outcome["visitResponse"]
        assert set(response) == SUMMARY_KEYS
        local = local_stage.load_region(staged.work_dir, area)
        assert local.visits is not None and local.visits.height > 0
        assert response == score_region(local, staged.window, config).response
        summary = run_summary(plan, [outcome], None)
        assert summary["regions"][0]["visitResponse"] == response


def test_the_response_can_be_switched_off(settings: Settings) -> None:
    plan = call_activity(
        "plan_run",
        {"runId": "vr-off", "startedAt": "2026-11-16T05:00:03+00:00", "weekStart": WEEK},
    )
    window = {k: plan[k] for k in ("runId", "weekStart", "asOf", "windowStart", "historyStart")}
    config: dict[str, Any] = {**plan["config"], "visit_response": False}
    outcome = call_activity("score_region", {**window, "config": config, "areaId": 1})
    assert outcome["status"] == "ok"
    assert outcome["visitResponse"] is None


SIGNAL_DEMO = DemoSpec(outlets=400, reps=6, skus=30, weeks=52, areas=2, visit_effect=1.0)


@pytest.fixture
def signal_database(tmp_path: Path, settings: Settings) -> Iterator[dict[str, pl.DataFrame]]:
    """The ERP database swapped for demo data with a planted visit response (visits lift the
    next weeks' orders), for one test; the session's database is restored after it."""
    tables, *_ = generate_tables(SIGNAL_DEMO)
    connection = write_sqlite(tmp_path / "signal.db", tables)
    saved = os.environ[SQL_SETTING]
    os.environ[SQL_SETTING] = connection
    app_settings.cache_clear()
    try:
        yield tables
    finally:
        os.environ[SQL_SETTING] = saved
        app_settings.cache_clear()


def test_a_measured_signal_is_the_same_in_azure_and_locally(
    signal_database: dict[str, pl.DataFrame], tmp_path: Path
) -> None:
    """With a real signal the factors move the priorities: the region activity (rows read from
    SQL through ODBC) measures the same response as the local run (rows staged from files),
    and scores every outlet with the same ResponseFactor and priority."""
    plan, config, staged, window = planned_and_staged("vr-signal", signal_database, tmp_path)
    signals = 0
    for area in plan["regions"]:
        outcome = call_activity(
            "score_region", {**window, "config": plan["config"], "areaId": area}
        )
        local = score_region(local_stage.load_region(staged.work_dir, area), staged.window, config)
        assert outcome["visitResponse"] == local.response
        signals += bool(outcome["visitResponse"]["signal"])
        staged_outlets = BlobStaging.from_settings(app_settings()).read_frame(
            outcome["paths"]["outlets"]
        )
        compared = staged_outlets.select("CustomerId", "ResponseFactor", "Priority").sort(
            "CustomerId"
        )
        expected = local.outlets.select("CustomerId", "ResponseFactor", "Priority").sort(
            "CustomerId"
        )
        assert compared.equals(expected)
        assert compared["ResponseFactor"].n_unique() > 1  # the signal moved the priorities
    assert signals == len(plan["regions"])  # the planted effect is found in every region
