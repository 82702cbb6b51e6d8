"""The visit response in the Azure run: the region activity measures it from the visits it reads
from SQL exactly as the local run does from its staged files, returns it in its small JSON, and
the orchestration summary keeps it per region."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import polars as pl

from orchestrators.weekly_run import run_summary
from scoring.config import ScoringConfig
from scoring.pipeline import score_region
from visitrank import region_job
from visitrank.settings import Settings
from visitrank.staging import stage_inputs

from .test_activities import WEEK, call_activity

SUMMARY_KEYS = {"signal", "effect", "ci95", "outlets", "reason"}


def test_score_activity_reports_the_local_runs_visit_response(
    settings: Settings, demo_tables: dict[str, pl.DataFrame], tmp_path: Path
) -> None:
    plan = call_activity(
        "plan_run",
        {"runId": "vr-run", "startedAt": "2026-11-16T05:00:03+00:00", "weekStart": WEEK},
    )
    config = ScoringConfig.model_validate(plan["config"])
    staged = stage_inputs(
        demo_tables, tmp_path / "clean", tmp_path / "q", date.fromisoformat(WEEK), config
    )
    assert staged.window.history_start.isoformat() == plan["historyStart"]
    for area in plan["regions"]:
        window = {k: plan[k] for k in ("runId", "weekStart", "asOf", "windowStart", "historyStart")}
        outcome = call_activity(
            "score_region", {**window, "config": plan["config"], "areaId": area}
        )
        response = outcome["visitResponse"]
        assert set(response) == SUMMARY_KEYS
        local = region_job.load_region(staged.work_dir, area)
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
