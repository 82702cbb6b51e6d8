"""Validation of ``POST /api/runs`` bodies and the "one run per week" rule.

Pure functions, so the HTTP layer only translates their results into responses.
"""

from __future__ import annotations

from datetime import date
from typing import Any, Final

from visitrank.pipeline.week import week_instance_id

ALLOWED_KEYS: Final = frozenset({"weekStart", "regions", "dryRun", "force"})
ACTIVE: Final = frozenset({"Running", "Pending", "ContinuedAsNew", "Suspended"})
FINISHED: Final = frozenset({"Completed", "Failed", "Terminated", "Canceled"})


class RunRequestError(ValueError):
    """A run request body that cannot be accepted; the message is returned with HTTP 400."""


def parse_run_request(body: Any, today: date) -> dict[str, Any]:
    """Validate a run request; returns {weekStart, regions?, dryRun, force}.

    weekStart: a Monday as YYYY-MM-DD (default: the Monday of ``today``'s week);
    regions: a non-empty list of distinct positive integer AreaIds (default: all);
    dryRun: score and route but do not write to Cosmos; force: rerun a finished week.
    """
    if body is None:
        body = {}
    if not isinstance(body, dict):
        raise RunRequestError("body must be a JSON object")
    unknown = sorted(set(body) - ALLOWED_KEYS)
    if unknown:
        raise RunRequestError(f"unknown field(s) {unknown}; allowed: {sorted(ALLOWED_KEYS)}")
    request: dict[str, Any] = {"weekStart": _week_start(body.get("weekStart"), today).isoformat()}
    regions = body.get("regions")
    if regions is not None:
        request["regions"] = _regions(regions)
    for flag in ("dryRun", "force"):
        value = body.get(flag, False)
        if not isinstance(value, bool):
            raise RunRequestError(f"{flag} must be true or false")
        request[flag] = value
    return request


def _week_start(week: Any, today: date) -> date:
    """The requested Monday (default: the Monday of ``today``'s week)."""
    if week is None:
        return date.fromordinal(today.toordinal() - today.weekday())
    if not isinstance(week, str):
        raise RunRequestError("weekStart must be a date string YYYY-MM-DD")
    try:
        week_start = date.fromisoformat(week)
    except ValueError:
        raise RunRequestError(f"weekStart {week!r} is not a date (YYYY-MM-DD)") from None
    if week_start.weekday() != 0:
        raise RunRequestError(f"weekStart {week} is not a Monday")
    return week_start


def _regions(regions: Any) -> list[int]:
    """The requested AreaIds, sorted: a non-empty list of distinct positive integers."""
    valid = (
        isinstance(regions, list)
        and regions
        and all(isinstance(r, int) and not isinstance(r, bool) and r > 0 for r in regions)
    )
    if not valid:
        raise RunRequestError("regions must be a non-empty list of positive integer AreaIds")
    if len(set(regions)) != len(regions):
        raise RunRequestError("regions must not repeat an AreaId")
    return sorted(regions)


TIMER_ATTEMPTS: Final = 3
"""Runs of a week the timer starts at most: the first, then a rerun per firing while the last
one failed (the timer fires hourly on Mondays), so a transient fault never loses the week and
a persistent one is not retried forever."""
SUCCEEDED: Final = frozenset({"complete", "partial"})
"""Run summary statuses after which the week is done (partial: what worked was published)."""


def instance_id_for(request: dict[str, Any], suffix: str) -> str:
    """The week's instance id for a run of every region; a dry run or a rerun of some regions
    gets its own id (``suffix``), so it never blocks, replaces or is mistaken for the week's
    full run (which the timer looks for)."""
    base = week_instance_id(date.fromisoformat(request["weekStart"]))
    if request.get("dryRun"):
        return f"{base}-dryrun-{suffix}"
    if request.get("regions"):
        return f"{base}-regions-{suffix}"
    return base


def is_full_run(request: dict[str, Any]) -> bool:
    """A real run of every region: the one that owns the week's instance id."""
    return not request.get("dryRun") and not request.get("regions")


def timer_decision(
    runtime_status: str | None, output: Any, run_input: Any
) -> tuple[str, int | None]:
    """What the timer does with the week's full run: ("start", 1) when there is none,
    ("rerun", attempt) when the last one failed (runtime Failed/Terminated/Canceled, or
    completed with a "failed" summary) and fewer than :data:`TIMER_ATTEMPTS` were made,
    ("skip", None) otherwise (running, done, or out of attempts)."""
    if runtime_status is None:
        return "start", 1
    if runtime_status in ACTIVE:
        return "skip", None
    status = output.get("status") if isinstance(output, dict) else None
    if runtime_status == "Completed" and status in SUCCEEDED:
        return "skip", None
    attempt = run_input.get("attempt", 1) if isinstance(run_input, dict) else 1
    attempt = attempt if isinstance(attempt, int) and not isinstance(attempt, bool) else 1
    if attempt >= TIMER_ATTEMPTS:
        return "skip", None
    return "rerun", attempt + 1


def conflict(runtime_status: str | None, *, force: bool) -> str | None:
    """Why a new run of an existing instance must be refused (HTTP 409), or None to start.

    A running run is never duplicated; a finished one is rerun only with ``force``.
    """
    if runtime_status is None:
        return None
    if runtime_status in ACTIVE:
        return f"the run of this week is {runtime_status.lower()}; wait for it to finish"
    if runtime_status in FINISHED and not force:
        return f"the run of this week is {runtime_status.lower()}; send force: true to rerun it"
    return None


def subset_conflict(full_runtime_status: str | None) -> str | None:
    """Why a rerun of some regions must wait (HTTP 409): the week's full run is active and
    would publish over it. None to start."""
    if full_runtime_status in ACTIVE:
        return (
            f"the full run of this week is {str(full_runtime_status).lower()}; rerun regions "
            "once it has finished"
        )
    return None
