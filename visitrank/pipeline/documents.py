"""The weekly rep documents: exactly what the Cosmos container holds and the CRM reads.

One document per rep per week (see docs/output-contract.md). Built from frames in one vectorised
pass; the only Python per document is the final conversion to dicts.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date
from typing import Any

import polars as pl

MONEY = 2
INDEX = 1


def document_id(rep_id: int, week_start: date) -> str:
    """The Cosmos id of a rep's weekly document: `<repId>:<weekStart>`."""
    return f"{rep_id}:{week_start.isoformat()}"


def visit_reasons() -> pl.Expr:
    """A one-line human reason for each visit, from its opportunity and recency columns."""
    last = (
        pl.when(pl.col("DaysSinceLastVisit").is_null())
        .then(pl.lit("never visited"))
        .otherwise(pl.format("last visit {} days ago", pl.col("DaysSinceLastVisit")))
    )
    against = (
        pl.when(pl.col("TopBasis") == "own history")
        .then(pl.lit("its own past sales"))
        .otherwise(pl.format("{} peers", pl.col("TopPeers")))
    )
    window = pl.col("TopWindow").round(0).cast(pl.Int64)
    gap = pl.format(
        "{} SKU(s) below potential worth {}/week (top: {} at index {} vs {} over {} weeks)",
        pl.col("PushedSkus"),
        pl.col("OpportunityValue").round(0).cast(pl.Int64),
        pl.col("TopItemName"),
        pl.col("TopIndex").round(0).cast(pl.Int64),
        against,
        window,
    )
    reason = (
        pl.when(pl.col("PushedSkus") > 0)
        .then(pl.concat_str([gap, last], separator="; "))
        .otherwise(
            pl.concat_str([pl.lit("no gap against peers; on the route"), last], separator="; ")
        )
    )
    factor = pl.col("ResponseFactor").fill_null(1.0).round(2)
    responds = pl.format(
        "{}; its sales respond to visits {} average (priority x{})",
        reason,
        pl.when(factor > 1.0).then(pl.lit("more than")).otherwise(pl.lit("less than")),
        factor,
    )
    # said only where it moved a priority that counts: a visit without a gap has priority 0
    return pl.when((factor != 1.0) & (pl.col("PushedSkus") > 0)).then(responds).otherwise(reason)


def _with_gains(skus: pl.DataFrame, outlets: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The scores with PersistProbability / ExpectedGain, as a region scored without the
    gap-persistence step has them: no probability, the expected gain is the gap."""
    if "ExpectedGain" not in skus.columns:
        skus = skus.with_columns(
            PersistProbability=pl.lit(None, dtype=pl.Float64), ExpectedGain=pl.col("GapValue")
        )
    if "ExpectedGain" not in outlets.columns:
        outlets = outlets.with_columns(ExpectedGain=pl.col("OpportunityValue"))
    return skus, outlets


def build_documents(
    visits: pl.DataFrame,
    days: pl.DataFrame,
    outlets: pl.DataFrame,
    skus: pl.DataFrame,
    reps: pl.DataFrame,
    *,
    week_start: date,
    as_of: date,
    run_id: str,
    generated_at: str,
) -> list[dict[str, Any]]:
    """Documents for every rep in `reps` (RepId, RepName, EligibleOutlets); a rep without a
    routable outlet gets an empty `visits` list, so the CRM sees an explicit empty week.

    visits: RepId, CustomerId, Rank, Day, RouteOrder, Priority (from routing);
    days: RepId, Day, Visits, Km; outlets and skus: the region scores.
    """
    skus, outlets = _with_gains(skus, outlets)
    sku_lists = (
        skus.sort("CustomerId", "SkuRank")
        .group_by("CustomerId", maintain_order=True)
        .agg(
            TopItemName=pl.col("ItemName").first(),
            TopIndex=pl.col("IndexScore").first(),
            TopPeers=pl.col("Peers").first(),
            TopBasis=pl.col("Basis").first(),
            TopWindow=pl.col("GapWindow").first(),
            skus=pl.struct(
                itemId="ItemId",
                itemName="ItemName",
                indexScore=pl.col("IndexScore").round(INDEX),
                actual=pl.col("Actual").round(MONEY),
                benchmark=pl.col("Expected").round(MONEY),
                gapValue=pl.col("GapValue").round(MONEY),
                persistProbability=pl.col("PersistProbability").round(3),
                expectedGain=pl.col("ExpectedGain").round(MONEY),
                basis="Basis",
                windowWeeks=pl.col("GapWindow").round(0).cast(pl.Int64),
            ),
        )
    )
    detailed = (
        visits.join(
            outlets.select(
                "CustomerId",
                "CustomerName",
                "Latitude",
                "Longitude",
                "Segment",
                "DaysSinceLastVisit",
                "OpportunityValue",
                "ExpectedGain",
                "PushedSkus",
                "ResponseFactor",
            ),
            on="CustomerId",
            how="left",
        )
        .join(sku_lists, on="CustomerId", how="left")
        .with_columns(pl.col("skus").fill_null([]), reason=visit_reasons())
        .sort("RepId", "Day", "RouteOrder")
    )
    timed = "Arrival" in visits.columns
    times: dict[str, Any] = (
        {
            "date": (pl.lit(week_start) + pl.duration(days=pl.col("Day") - 1)).dt.to_string(),
            "arrival": clock("Arrival"),
            "departure": clock("Departure"),
            "rule": "Rule",
        }
        if timed
        else {}
    )
    per_rep = detailed.group_by("RepId", maintain_order=True).agg(
        visits=pl.struct(
            rank="Rank",
            customerId="CustomerId",
            customerName="CustomerName",
            day="Day",
            routeOrder="RouteOrder",
            **times,
            priority=pl.col("Priority").round(MONEY),
            opportunityValue=pl.col("OpportunityValue").round(MONEY),
            expectedGain=pl.col("ExpectedGain").round(MONEY),
            responseFactor=pl.col("ResponseFactor").fill_null(1.0).round(3),
            daysSinceLastVisit="DaysSinceLastVisit",
            latitude="Latitude",
            longitude="Longitude",
            segment="Segment",
            reason="reason",
            skus="skus",
        ),
        OpportunityValue=pl.col("OpportunityValue").sum(),
        WithGap=(pl.col("PushedSkus") > 0).sum(),
    )
    day_plans: dict[str, Any] = (
        {
            "days": pl.struct(
                day="Day",
                date=(pl.lit(week_start) + pl.duration(days=pl.col("Day") - 1)).dt.to_string(),
                start=clock("Start"),
                end=clock("End"),
                visits="Visits",
                km=pl.col("Km").round(1),
            )
        }
        if timed and "Start" in days.columns
        else {}
    )
    day_lists = (
        days.sort("RepId", "Day")
        .group_by("RepId", maintain_order=True)
        .agg(kmPerDay=pl.col("Km").round(1), km=pl.col("Km").sum(), **day_plans)
    )
    table = (
        reps.join(per_rep, on="RepId", how="left")
        .join(day_lists, on="RepId", how="left")
        .sort("RepId")
    )
    documents = []
    for row in table.iter_rows(named=True):
        rep_visits = row["visits"] or []
        km = float(row["km"] or 0.0)
        documents.append(
            {
                "id": document_id(row["RepId"], week_start),
                "repId": row["RepId"],
                "repName": row["RepName"],
                "weekStart": week_start.isoformat(),
                "runId": run_id,
                "generatedAt": generated_at,
                "asOf": as_of.isoformat(),
                "visits": rep_visits,
                "summary": {
                    "visits": len(rep_visits),
                    "eligibleOutlets": row["EligibleOutlets"],
                    "visitsWithGap": int(row["WithGap"] or 0),
                    "opportunityValue": round(float(row["OpportunityValue"] or 0.0), MONEY),
                    "km": round(km, 1),
                    "kmPerDay": row["kmPerDay"] or [],
                    "kmPerVisit": round(km / len(rep_visits), 2) if rep_visits else None,
                    **({"days": row["days"] or []} if "days" in row else {}),
                },
            }
        )
    return documents


def clock(column: str) -> pl.Expr:
    """Minutes from midnight as ``HH:MM``."""
    minutes = pl.col(column)
    return pl.format(
        "{}:{}",
        (minutes // 60).cast(pl.String).str.zfill(2),
        (minutes % 60).cast(pl.String).str.zfill(2),
    )


def attach_left_out(
    documents: list[dict[str, Any]], missed: pl.DataFrame, outlets: pl.DataFrame
) -> list[dict[str, Any]]:
    """The documents with ``leftOut``: the rep's most valuable outlets not in the week and
    why (``scoring.timed_weeks.left_out``; an exclusion's reason when the data gives one)."""
    reasons = ["ExclusionReason"] if "ExclusionReason" in outlets.columns else []
    named = missed.join(
        outlets.select("CustomerId", "CustomerName", *reasons), on="CustomerId", how="left"
    )
    why = pl.col("Why")
    if reasons:
        why = (
            pl.when(
                (pl.col("Why") == "excluded this week") & pl.col("ExclusionReason").is_not_null()
            )
            .then(pl.format("excluded this week: {}", pl.col("ExclusionReason")))
            .otherwise(pl.col("Why"))
        )
    per_rep = named.group_by("RepId", maintain_order=True).agg(
        leftOut=pl.struct(
            customerId="CustomerId",
            customerName="CustomerName",
            priority=pl.col("Priority").round(MONEY),
            why=why,
        )
    )
    lists = {row["RepId"]: row["leftOut"] for row in per_rep.iter_rows(named=True)}
    return [{**document, "leftOut": lists.get(document["repId"], [])} for document in documents]


LEARNED_STEPS = ("visitResponse", "gapPersistence")
"""The region outcomes' summaries of the steps that learn from the history."""

SWITCHED_OFF = "switched off in the configuration"


def learned_steps(outcome: Mapping[str, Any] | None) -> dict[str, dict[str, Any]]:
    """{step: {used, why}} for one region outcome: whether the learned step changed the list
    and, in words, why (the step's own reason: too few visit-free weeks, no skill over the base
    rate, ...). A region with no outcome, or a step switched off, says so."""
    steps: dict[str, dict[str, Any]] = {}
    for step in LEARNED_STEPS:
        summary = None if outcome is None else outcome.get(step)
        if outcome is None:
            steps[step] = {"used": False, "why": "the region has no scoring outcome"}
        elif summary is None:
            steps[step] = {"used": False, "why": SWITCHED_OFF}
        else:
            steps[step] = {"used": bool(summary.get("signal")), "why": str(summary.get("reason"))}
    return steps


def attach_learned_steps(
    documents: list[dict[str, Any]],
    outlets: pl.DataFrame,
    outcomes: Iterable[Mapping[str, Any]],
) -> list[dict[str, Any]]:
    """The documents with `learnedSteps` (`learned_steps`) of each rep's region: the region
    where most of its outlets are (`outlets`: RepId, AreaId). A sales-ops analyst reading one
    list sees whether visit response and gap persistence shaped it, and if not, why."""
    by_area = {int(o["areaId"]): o for o in outcomes if o.get("areaId") is not None}
    if outlets.height == 0:
        return documents
    home = (
        outlets.group_by("RepId", "AreaId")
        .agg(n=pl.len())
        .sort(["RepId", "n", "AreaId"], descending=[False, True, False])
        .unique("RepId", keep="first")
    )
    area_of = dict(zip(home["RepId"].to_list(), home["AreaId"].to_list(), strict=True))
    return [
        {**doc, "learnedSteps": learned_steps(by_area.get(area_of.get(doc["repId"], -1)))}
        for doc in documents
    ]
