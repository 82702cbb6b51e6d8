"""The visit response end to end: demo data with a planted visit effect (`--visit-effect`) is
measured by the weekly run and moves the priorities; without one nothing changes.

Expectations come from the demo's truth (the planted lift and each outlet's hidden
responsiveness), never from the engine's helpers.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest

from scoring.config import ScoringConfig
from scoring.pipeline import RegionScores, score_region
from tests.conftest import RUN_WORKERS, LocalRun
from visitrank.adapters import local_stage
from visitrank.adapters.file_source import FileSource
from visitrank.adapters.local_stage import StagedInputs, stage_inputs
from visitrank.lab.demo_data import DemoSpec, write_demo
from visitrank.local.run import RUN_SUMMARY, run_local

PLANTED = 0.3  # mean lift: 0.3 x responsiveness (uniform 0..2) on the orders of 4 weeks
EFFECT_SPEC = DemoSpec(
    outlets=500, reps=5, skus=20, weeks=104, areas=1, seed=5, visit_effect=PLANTED
)


@pytest.fixture(scope="module")
def effect_demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_demo(EFFECT_SPEC, tmp_path_factory.mktemp("effect_demo")).out_dir


@pytest.fixture(scope="module")
def effect_run(effect_demo: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The run summary of the weekly job on the effect demo."""
    out = tmp_path_factory.mktemp("effect_run")
    result = run_local(effect_demo, out, ScoringConfig(), workers=RUN_WORKERS)
    assert result.status == "complete"
    summary: dict[str, Any] = json.loads((out / RUN_SUMMARY).read_text(encoding="utf-8"))
    return summary


def staged(source: Path, folder: Path, config: ScoringConfig) -> StagedInputs:
    return stage_inputs(FileSource(source).read_all(), folder / "clean", folder / "q", None, config)


def scored(stage: StagedInputs, area: int, config: ScoringConfig) -> RegionScores:
    return score_region(local_stage.load_region(stage.work_dir, area), stage.window, config)


def test_the_run_summary_reports_the_planted_effect(effect_run: dict[str, Any]) -> None:
    """The lift is planted on the orders of the 28 days from the visit day; the response
    measures the 4 whole weeks after the visit's week, about 85% of which are lifted, so a
    planted 0.3 reads as 0.25 to 0.30 (here 0.299, CI 0.259 to 0.338)."""
    (region,) = effect_run["regions"]
    response = region["visitResponse"]
    assert set(response) == {"signal", "effect", "ci95", "outlets", "reason"}
    assert response["signal"] is True
    low, high = response["ci95"]
    assert low > 0.15 > ScoringConfig().response_min_effect
    assert low < PLANTED and high > 0.85 * PLANTED
    assert low < response["effect"] < high
    assert response["outlets"] >= 100
    assert "a visit lifts the next 4 weeks' sales" in response["reason"]


def test_more_responsive_outlets_get_higher_factors(effect_demo: Path, tmp_path: Path) -> None:
    """ResponseFactor follows the hidden responsiveness, and the priority is the one without
    the response times the factor."""
    config = ScoringConfig()
    stage = staged(effect_demo, tmp_path, config)
    (area,) = stage.regions
    with_response = scored(stage, area, config).outlets
    without = scored(stage, area, config.with_overrides({"visit_response": False})).outlets
    truth = pl.read_csv(effect_demo / "truth" / "outlets.csv")
    factors = with_response.join(truth, on="CustomerId").filter(pl.col("ResponseFactor") != 1.0)
    assert factors.height >= 100
    rho = factors.select(pl.corr("ResponseFactor", "Responsiveness", method="spearman")).item()
    assert rho > 0.25  # 0.48 on this demo
    low, _, high = np.array_split(factors.sort("Responsiveness")["ResponseFactor"].to_numpy(), 3)
    assert low.mean() < 1.0 < high.mean()  # the least and the most responsive thirds
    both = with_response.join(
        without.select("CustomerId", Unadjusted="Priority", Off="ResponseFactor"), on="CustomerId"
    )
    assert (both["Off"] == 1.0).all()
    assert both["Priority"].to_numpy() == pytest.approx(
        (both["Unadjusted"] * both["ResponseFactor"]).to_numpy()
    )


def test_no_effect_leaves_every_priority_unchanged(
    local_run: LocalRun, demo_dir: Path, tmp_path: Path
) -> None:
    """The session demo plants no visit effect: no signal in any region, every factor exactly
    1 and the outlets' frames (priorities and all) equal to the run without the response."""
    responses = [region["visitResponse"] for region in local_run.result.summary["regions"]]
    assert responses and all(response["signal"] is False for response in responses)
    assert all("no measurable effect" in response["reason"] for response in responses)
    config = ScoringConfig()
    stage = staged(demo_dir, tmp_path, config)
    for area in stage.regions:
        on = scored(stage, area, config)
        off = scored(stage, area, config.with_overrides({"visit_response": False}))
        assert off.response is None and on.response is not None
        assert (on.outlets["ResponseFactor"] == 1.0).all()
        assert on.outlets.equals(off.outlets)
        assert on.skus.equals(off.skus)
    assert np.isfinite([response["effect"] for response in responses]).all()
