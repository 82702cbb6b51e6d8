from datetime import date, timedelta

import numpy as np
import polars as pl
import pytest

from scoring.config import ScoringConfig
from scoring.inputs import ScoringWindow
from scoring.visit_response import (
    VisitResponse,
    region_response,
    visit_response,
    weekly_panel,
    with_response_factors,
)

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
    # every week's mean outcome over its untouched outlet-weeks is 1 by construction
    means = (
        panel.filter(pl.col("Untouched")).group_by("Week").agg(pl.col("Outcome").mean())["Outcome"]
    )
    assert means.len() > 10
    assert means.to_numpy() == pytest.approx(np.ones(means.len()))
    # no week of the scored window (from week 40 on) is ever used
    assert panel["Week"].max() < (WINDOW.window_start - START).days // 7


def test_a_planted_visit_effect_is_found() -> None:
    lines, visits = history(lift=0.3)
    result = visit_response(lines, visits, WINDOW, ScoringConfig())
    assert result.signal
    # the planted lift itself, not diluted by the unvisited weeks next to a visit (which carry
    # its lift: comparing with every unvisited week measured about 0.13 here)
    assert 0.24 < result.effect < 0.36
    assert result.ci_low < 0.3 < result.ci_high  # measured 0.286, CI 0.261 to 0.312
    assert result.ci_low > ScoringConfig().response_min_effect
    factors = result.factors["ResponseFactor"]
    assert 60 <= factors.len() == result.outlets <= 80
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


def test_untouched_weeks_are_far_from_any_visit() -> None:
    """A week is untouched when no visit falls from 3 weeks before to 4 weeks after it (the
    visits whose 4-week lift reaches its next 4 weeks), and never in the first 3 weeks of the
    history, whose earlier visits are unknown (without an untouched reference, those weeks are
    left out)."""
    weeks = (WINDOW.window_start - START).days // 7
    lines = pl.DataFrame(
        {
            "CustomerId": [1] * weeks + [2] * weeks,
            "ItemId": [1] * (2 * weeks),
            "SaleDate": [START + timedelta(weeks=week, days=2) for week in range(weeks)] * 2,
            "Quantity": [1.0] * (2 * weeks),
            "Amount": [100.0] * (2 * weeks),
        }
    )
    visits = pl.DataFrame({"CustomerId": [1], "VisitDate": [START + timedelta(weeks=20, days=3)]})
    panel = weekly_panel(lines, visits, WINDOW, response_weeks=4)
    outlet = panel.filter(pl.col("CustomerId") == 1)
    assert outlet.filter(~pl.col("Untouched"))["Week"].to_list() == list(range(16, 24))
    assert outlet.filter(pl.col("Visited"))["Week"].to_list() == [20]
    assert panel.filter(pl.col("CustomerId") == 2)["Untouched"].all()
    assert panel["Week"].min() == 3
    assert panel["Week"].max() == weeks - 5  # the last week with 4 weeks ahead


def test_priority_is_scaled_by_the_response_factor() -> None:
    """By hand: Priority x ResponseFactor, and 1 for an outlet without a factor."""
    priorities = pl.DataFrame({"CustomerId": [3, 1, 2], "Priority": [10.0, 0.0, 7.5]})
    factors = pl.DataFrame({"CustomerId": [1, 3], "ResponseFactor": [1.5, 0.8]})
    response = VisitResponse(True, 0.2, 0.1, 0.3, 2, "planted", factors)
    out = with_response_factors(priorities, response)
    assert out["CustomerId"].to_list() == [3, 1, 2]  # the priorities' order is kept
    assert out["ResponseFactor"].to_list() == [0.8, 1.5, 1.0]
    assert out["Priority"].to_list() == pytest.approx([8.0, 0.0, 7.5])
    # off (None) or no signal (no factors): every factor 1 and the priorities unchanged
    for unchanged in (
        with_response_factors(priorities, None),
        with_response_factors(
            priorities, VisitResponse(False, 0.0, 0.0, 0.0, 0, "none", factors.clear())
        ),
    ):
        assert unchanged["ResponseFactor"].to_list() == [1.0, 1.0, 1.0]
        assert unchanged["Priority"].equals(priorities["Priority"])


def test_region_response_follows_the_config() -> None:
    lines, visits = history(lift=0.3)
    assert region_response(lines, visits, WINDOW, ScoringConfig(visit_response=False)) is None
    missing = region_response(lines, None, WINDOW, ScoringConfig())
    assert missing is not None and not missing.signal and missing.factors.height == 0
    assert "no visit history" in missing.reason
    found = region_response(lines, visits, WINDOW, ScoringConfig())
    assert found is not None and found.signal
