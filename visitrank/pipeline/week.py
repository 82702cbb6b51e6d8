"""The planned week: its Monday, the orchestration's instance id of a week, and the scoring
window as the small JSON that travels between the Durable activities."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, timedelta
from typing import Any

from scoring.inputs import ScoringWindow, next_monday
from visitrank.contract.errors import ContractError


def data_today(last_sale: date | None) -> date:
    """The data's "today": its last sales day. The clock never stands in for it: with no sale
    at all there is nothing to score, propose or segment, and the run says so."""
    if last_sale is None:
        raise ContractError.at(
            "MV_Sales",
            "no sale at all: nothing to plan from (export the sales, or check the file holds "
            "more than its header)",
        )
    return last_sale


def default_week(last_sale: date | None) -> date:
    """The week to plan when none is asked for: the Monday after the last sales day."""
    return next_monday(data_today(last_sale))


def week_monday(day: date) -> date:
    """The Monday of the ISO week containing ``day`` (a Monday run plans its own week)."""
    return day - timedelta(days=day.weekday())


def week_instance_id(week_start: date) -> str:
    """The orchestration instance id of a week: ``visitrank-<ISO year>-W<ISO week>``.

    Deterministic so that a second start for the same week finds the first one.
    """
    year, week, _ = week_start.isocalendar()
    return f"visitrank-{year}-W{week:02d}"


def window_to_json(window: ScoringWindow) -> dict[str, str]:
    """A ScoringWindow as the small JSON that travels between activities."""
    return {
        "weekStart": window.week_start.isoformat(),
        "asOf": window.as_of.isoformat(),
        "windowStart": window.window_start.isoformat(),
        "historyStart": window.history_start.isoformat(),
    }


def window_from_json(data: Mapping[str, Any]) -> ScoringWindow:
    """The inverse of :func:`window_to_json`."""
    return ScoringWindow(
        week_start=date.fromisoformat(data["weekStart"]),
        as_of=date.fromisoformat(data["asOf"]),
        window_start=date.fromisoformat(data["windowStart"]),
        history_start=date.fromisoformat(data["historyStart"]),
    )
