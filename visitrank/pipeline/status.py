"""The run's status and its merged quarantine counts, from the steps' outcomes."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

SETUP_TABLE_PREFIX = "MV_Setup"


def read_by_every_region(table: str) -> bool:
    """A setup table every region reads whole (its counts repeat across regions), as opposed
    to the regional tables (customers, sales, lines, visits), disjoint between regions."""
    return table.startswith(SETUP_TABLE_PREFIX) and table != "MV_SetupCustomer"


def merge_input_rows(per_region: Iterable[Mapping[str, int]]) -> dict[str, int]:
    """Rows read per table over the regions: regional tables summed, setup tables counted
    once (the largest count)."""
    merged: dict[str, int] = {}
    for rows in per_region:
        for table, count in rows.items():
            before = merged.get(table, 0)
            merged[table] = max(before, count) if read_by_every_region(table) else before + count
    return merged


def merge_quarantine_counts(
    per_region: Iterable[Mapping[str, Mapping[str, int]]],
) -> dict[str, dict[str, int]]:
    """Quarantine counts of the run from per-region counts.

    Regional tables (customers, sales, lines, visits) are disjoint between regions and summed;
    setup tables are read whole by every region, so their counts repeat and the largest is kept.
    """
    merged: dict[str, dict[str, int]] = {}
    for counts in per_region:
        for table, reasons in counts.items():
            target = merged.setdefault(table, {})
            for reason, count in reasons.items():
                if read_by_every_region(table):
                    target[reason] = max(target.get(reason, 0), int(count))
                else:
                    target[reason] = target.get(reason, 0) + int(count)
    return {table: dict(sorted(reasons.items())) for table, reasons in sorted(merged.items())}


def run_status(outcomes: Iterable[Mapping[str, Any]]) -> str:
    """ "complete" when every region is ok, "partial" when some are, "failed" when none is."""
    statuses = [outcome.get("status") for outcome in outcomes]
    ok = sum(status == "ok" for status in statuses)
    if ok == len(statuses) and ok > 0:
        return "complete"
    return "partial" if ok else "failed"


def weekly_status(
    regions: Iterable[Mapping[str, Any]],
    segments: Mapping[str, Any] | None,
    orders: Iterable[Mapping[str, Any]],
    orders_error: str | None = None,
    evidence_error: str | None = None,
) -> str:
    """The weekly run's status: the regions' (``run_status``), downgraded from "complete" to
    "partial" when the segmentation, its evidence on the lists or any region's proposed orders
    failed (the visit lists were still published)."""
    status = run_status(regions)
    extras_ok = (
        (segments is None or segments.get("status") == "ok")
        and all(order.get("status") == "ok" for order in orders)
        and orders_error is None
        and evidence_error is None
    )
    return "partial" if status == "complete" and not extras_ok else status
