"""Shared pieces of the Azure weekly run: the same steps as ``visitrank run``, split in activities.

The local run (``visitrank.local.run``) stages whole tables once and fans out to processes; the
Azure run reads each region from SQL in its own activity. Everything between the read and the
write is the same engine code: ``quarantine``, ``score_region``, ``plan_visits`` and
``build_documents``. This module holds the small glue both sides need in the Azure shape
(region frames from clean tables, the rep table, the fan-in, the run status), pure and without
I/O so the orchestrator and the tests can rely on it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, timedelta
from typing import Any

import polars as pl

from scoring.config import ScoringConfig
from scoring.inputs import RegionInputs, ScoringWindow, history_visits
from scoring.weekly_plan import plan_visits
from visitrank.pipeline.documents import build_documents
from visitrank.pipeline.orders_documents import attach_proposed_orders

SETUP_TABLE_PREFIX = "MV_Setup"


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


def region_inputs(clean: Mapping[str, pl.DataFrame], window: ScoringWindow) -> RegionInputs:
    """The scoring inputs of one region from its quarantined tables.

    Same frames as ``visitrank.adapters.local_stage.stage_inputs`` writes and
    ``region_job.load_region``
    reads back: items with their CategoryId, sales lines in the history window, each
    customer's last visit before the week and the visits of the history window (for the visit
    response).
    """
    customers = clean["MV_SetupCustomer"]
    items = clean["MV_SetupItem"].join(
        clean["MV_SetupSubCategory"].select("SubCategoryId", "CategoryId"),
        on="SubCategoryId",
        how="left",
    )
    lines = (
        clean["MV_Sales"]
        .lazy()
        .filter(pl.col("SaleDate").is_between(window.history_start, window.as_of))
        .select("SaleId", "CustomerId", "SaleDate")
        .join(
            clean["MV_SalesDetail"].lazy().select("SaleId", "ItemId", "Quantity", "Amount"),
            on="SaleId",
        )
        .join(customers.lazy().select("CustomerId", "AreaId"), on="CustomerId")
        .drop("SaleId")
        .sort("AreaId", "CustomerId")
        .collect()
    )
    last_visits = (
        clean["MV_Visit"]
        .lazy()
        .filter(pl.col("VisitDate") < window.week_start)
        .group_by("CustomerId")
        .agg(LastVisitDate=pl.col("VisitDate").max())
        .join(customers.lazy().select("CustomerId"), on="CustomerId", how="semi")
        .collect()
    )
    visits = (
        history_visits(clean["MV_Visit"].lazy(), window)
        .join(customers.lazy().select("CustomerId"), on="CustomerId", how="semi")
        .collect()
    )
    return RegionInputs(
        customers=customers.sort("CustomerId"),
        items=items,
        lines=lines,
        last_visits=last_visits,
        visits=visits,
    )


def region_reps(clean: Mapping[str, pl.DataFrame]) -> pl.DataFrame:
    """RepId, RepName, EligibleOutlets for the reps owning customers of this region
    (as ``stage_inputs`` computes them for all regions)."""
    customers = clean["MV_SetupCustomer"]
    eligible = customers.filter(pl.col("Routable")).group_by("RepId").agg(EligibleOutlets=pl.len())
    return (
        clean["MV_SetupRep"]
        .select("RepId", "RepName")
        .join(customers.select("RepId").unique(), on="RepId", how="semi")
        .join(eligible, on="RepId", how="left")
        .with_columns(pl.col("EligibleOutlets").fill_null(0).cast(pl.Int64))
    )


def attach_region_orders(
    documents: list[dict[str, Any]],
    orders: list[dict[str, Any]],
    outlets: pl.DataFrame,
    covered_areas: Iterable[int],
) -> list[dict[str, Any]]:
    """The rep documents with ``visits[].proposedOrder`` (``attach_proposed_orders``) for the
    visits of outlets in ``covered_areas`` (regions whose proposed orders succeeded).

    A visit of a region whose orders failed gets no ``proposedOrder`` key at all, so "no
    proposal computed" is never confused with "nothing to propose" (``[]``). Inputs are not
    modified."""
    areas = set(covered_areas)
    if not areas or not documents:
        return [dict(document) for document in documents]
    attached = attach_proposed_orders(documents, orders)
    if "AreaId" not in outlets.columns:
        return attached
    uncovered = set(outlets.filter(~pl.col("AreaId").is_in(sorted(areas)))["CustomerId"].to_list())
    for document in attached:
        for visit in document.get("visits", []):
            if visit["customerId"] in uncovered:
                del visit["proposedOrder"]
    return attached


def merge_reps(per_region: Iterable[pl.DataFrame]) -> pl.DataFrame:
    """One row per rep; a rep with outlets in several regions gets the sum of eligible ones."""
    frames = [frame for frame in per_region if frame.height]
    if not frames:
        return pl.DataFrame(
            schema={"RepId": pl.Int64, "RepName": pl.String, "EligibleOutlets": pl.Int64}
        )
    return (
        pl.concat(frames, how="vertical_relaxed")
        .group_by("RepId")
        .agg(pl.col("RepName").first(), pl.col("EligibleOutlets").sum())
        .sort("RepId")
    )


def weekly_documents(
    outlets: pl.DataFrame,
    skus: pl.DataFrame,
    reps: pl.DataFrame,
    config: ScoringConfig,
    window: ScoringWindow,
    *,
    run_id: str,
    generated_at: str,
) -> list[dict[str, Any]]:
    """The fan-in, as in ``run_local``: rank and route every rep, then build the documents.

    Only reps with scored outlets get a document (reps of a failed region get none).
    """
    if outlets.height == 0:
        return []
    reps = reps.join(outlets.select("RepId").unique(), on="RepId", how="semi")
    visits, days = plan_visits(outlets, config)
    return build_documents(
        visits,
        days,
        outlets,
        skus,
        reps,
        week_start=window.week_start,
        as_of=window.as_of,
        run_id=run_id,
        generated_at=generated_at,
    )


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
                if table.startswith(SETUP_TABLE_PREFIX) and table != "MV_SetupCustomer":
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
