"""The run summary: one shape for the local run (`OUT/run_summary.json`) and the Azure
orchestration's output, built by the same function from the steps' outcomes.

Top level: runId, status, dryRun, weekStart, asOf, windowStart, generatedAt; documents, visits,
repsWithVisits, written, withdrawn (the documents published and the reps whose stale document
was withdrawn); inputRows, quarantined, quarantinedRows; regions (one outcome per region),
failedRegions; `orders` and `segments` (each with its own status and error); config (every
section of the run configuration); health (the data health findings) and tables (rows in, clean
and set aside per table). A driver may add what only it knows (the local run: source,
timingsSeconds).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final, TypedDict

from scoring.inputs import ScoringWindow
from visitrank.pipeline.health import Finding, accounting, health_section
from visitrank.pipeline.run_config import RunConfig
from visitrank.pipeline.segment_support import support_summary

OUTCOME_KEYS: Final = (
    "areaId",
    "status",
    "outlets",
    "lines",
    "outletsWithOpportunity",
    "skusToPush",
    "visitResponse",
    "gapPersistence",
    "pushFloor",
    "seconds",
    "error",
)
"""What the summary keeps of a region's outcome (the drivers' own extras, such as blob paths,
stay out)."""
ORDER_OUTCOME_KEYS: Final = (
    "areaId",
    "status",
    "customers",
    "orders",
    "lines",
    "calibration",
    "seconds",
    "error",
)


class DocumentCounts(TypedDict):
    """What the published rep documents hold."""

    documents: int
    visits: int
    repsWithVisits: int
    visitsWithProposedOrder: int
    segmentEvidence: dict[str, int]


def document_counts(documents: Sequence[Mapping[str, Any]]) -> DocumentCounts:
    """The counts of the week's rep documents (the same whichever driver published them)."""
    visits = [visit for document in documents for visit in document.get("visits", [])]
    return {
        "documents": len(documents),
        "visits": len(visits),
        "repsWithVisits": sum(1 for document in documents if document.get("visits")),
        "visitsWithProposedOrder": sum("proposedOrder" in visit for visit in visits),
        "segmentEvidence": support_summary(documents),
    }


NO_DOCUMENTS: Final[DocumentCounts] = {
    "documents": 0,
    "visits": 0,
    "repsWithVisits": 0,
    "visitsWithProposedOrder": 0,
    "segmentEvidence": {"pushedSkus": 0, "segmentConfirmedSkus": 0, "visitsWithSegment": 0},
}


def orders_section(
    *,
    status: str,
    documents: int,
    written: int,
    visits_with_proposed_order: int,
    error: str | None,
    regions: Sequence[Mapping[str, Any]] = (),
    calibration: Mapping[int, str] | None = None,
) -> dict[str, Any]:
    """The proposed orders in the summary: their status ("ok", "partial", "failed",
    "skipped"), the order documents and those written, the visits that carry one, the error
    that kept them off the lists, the per-region outcomes where they are proposed per
    region, and how each region's calibration got its scores (`calibration`: area id ->
    "kept" or "scored", from the regions' `calibration` when not given): `calibration`
    {"keptScores": [area ids], "scored": [area ids]}."""
    if calibration is None:
        calibration = {int(o["areaId"]): o["calibration"] for o in regions if o.get("calibration")}
    return {
        "calibration": {
            "keptScores": sorted(a for a, how in calibration.items() if how == "kept"),
            "scored": sorted(a for a, how in calibration.items() if how == "scored"),
        },
        "status": status,
        "regions": [{k: o[k] for k in ORDER_OUTCOME_KEYS if k in o} for o in regions],
        "failedRegions": [o["areaId"] for o in regions if o.get("status") != "ok"],
        "documents": documents,
        "written": written,
        "visitsWithProposedOrder": visits_with_proposed_order,
        "error": error,
    }


def segments_section(
    outcome: Mapping[str, Any] | None, evidence: Mapping[str, int], evidence_error: str | None
) -> dict[str, Any]:
    """The behaviour segmentation in the summary: its outcome (status "ok" with k and the
    segments, "failed" with the error, or "skipped"), the evidence the lists carry and the
    error that kept it off them."""
    section: dict[str, Any] = {"error": None, **(outcome or {"status": "skipped"})}
    section["evidence"] = dict(evidence)
    section["evidenceError"] = evidence_error
    return section


def run_summary(
    *,
    run_id: str,
    status: str,
    window: ScoringWindow,
    generated_at: str,
    counts: DocumentCounts,
    regions: Sequence[Mapping[str, Any]],
    input_rows: Mapping[str, int],
    quarantined: Mapping[str, Mapping[str, int]],
    orders: Mapping[str, Any],
    segments: Mapping[str, Any],
    config: RunConfig,
    dry_run: bool = False,
    written: int = 0,
    withdrawn: Sequence[int] = (),
    findings: Sequence[Finding] = (),
) -> dict[str, Any]:
    """The run summary (see the module docstring)."""
    merged = {table: dict(reasons) for table, reasons in quarantined.items()}
    return {
        "runId": run_id,
        "status": status,
        "dryRun": dry_run,
        "weekStart": window.week_start.isoformat(),
        "asOf": window.as_of.isoformat(),
        "windowStart": window.window_start.isoformat(),
        "generatedAt": generated_at,
        "documents": counts["documents"],
        "visits": counts["visits"],
        "repsWithVisits": counts["repsWithVisits"],
        "written": written,
        "withdrawn": list(withdrawn),
        "inputRows": dict(input_rows),
        "quarantined": merged,
        "quarantinedRows": sum(sum(reasons.values()) for reasons in merged.values()),
        "regions": [{k: o[k] for k in OUTCOME_KEYS if k in o} for o in regions],
        "failedRegions": [o["areaId"] for o in regions if o.get("status") != "ok"],
        "orders": dict(orders),
        "segments": dict(segments),
        "config": config.model_dump(mode="json"),
        "health": health_section(findings),
        "tables": accounting(input_rows, quarantined),
    }
