from datetime import date, timedelta

import numpy as np
import polars as pl
import pytest

from scoring.config import ScoringConfig
from scoring.inputs import ScoringWindow
from scoring.visit_response import visit_response, weekly_panel

START = date(2024, 1, 1)  # a Monday
WINDOW = ScoringWindow(
    week_start=date(2025, 1, 6),
    as_of=date(2025, 1, 5),
    window_start=date(2024, 10, 7),
    history_start=START,
)


def history(lift: float, outlets: int = 80, seed: int = 0) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Weekly orders of `outlets` outlets over the 40 history weeks; each is visited on random
    weeks, and its next 4 weeks sell `lift` more after a visit."""
    rng = np.random.default_rng(seed)
    weeks = (WINDOW.window_start - START).days // 7
    lines, visits = [], []
    for customer in range(1, outlets + 1):
        base = rng.uniform(50, 500)
        visited = rng.random(weeks) < 0.2
        boosted = np.zeros(weeks, dtype=bool)
        for week in np.flatnonzero(visited):
            boosted[week + 1 : week + 5] = True
            visits.append((customer, START + timedelta(weeks=int(week), days=1)))
        for week in range(weeks):
            amount = base * (1 + lift * boosted[week]) * rng.lognormal(0, 0.2)
            lines.append((customer, 1, START + timedelta(weeks=week, days=2), 1.0, amount))
    return (
        pl.DataFrame(
            lines, schema=["CustomerId", "ItemId", "SaleDate", "Quantity", "Amount"], orient="row"
        ),
        pl.DataFrame(visits, schema=["CustomerId", "VisitDate"], orient="row"),
    )


def test_panel_outcome_is_relative_to_outlet_and_week() -> None:
    lines, visits = history(lift=0.0, outlets=5)
    panel = weekly_panel(lines, visits, WINDOW, response_weeks=4)
    # every week's mean outcome over outlets is 1 by construction
    means = panel.group_by("Week").agg(pl.col("Outcome").mean())["Outcome"]
    assert means.to_numpy() == pytest.approx(np.ones(means.len()))
    # no week of the scored window (from week 40 on) is ever used
    assert panel["Week"].max() < (WINDOW.window_start - START).days // 7


def test_a_planted_visit_effect_is_found() -> None:
    lines, visits = history(lift=0.3)
    result = visit_response(lines, visits, WINDOW, ScoringConfig())
    assert result.signal
    assert 0.1 < result.effect < 0.5
    assert result.ci_low > ScoringConfig().response_min_effect
    factors = result.factors["ResponseFactor"]
    assert factors.len() == 80
    assert 0.8 < factors.mean() < 1.2  # type: ignore[operator]


def test_no_effect_means_no_signal_and_no_adjustment() -> None:
    lines, visits = history(lift=0.0)
    result = visit_response(lines, visits, WINDOW, ScoringConfig())
    assert not result.signal
    assert result.factors.height == 0
    assert "no measurable effect" in result.reason


def test_too_few_outlets_says_so() -> None:
    lines, visits = history(lift=0.3, outlets=5)
    result = visit_response(lines, visits, WINDOW, ScoringConfig())
    assert not result.signal
    assert "too few outlets" in result.reason
