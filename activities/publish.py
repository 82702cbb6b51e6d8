"""Fan-in activity: rank and route every rep, build the documents, upsert them to Cosmos.

Reads the staged Parquet of the regions that succeeded, then runs the same ``plan_visits`` and
``build_documents`` as ``visitrank run`` (via ``visitrank.azure_run.weekly_documents``).
Documents of reps that no longer get a list this week are withdrawn (see
``adapters.cosmos_sink``), but only after a run of all regions in which every region succeeded:
after a partial run, or a rerun of some regions, the reps of the other regions keep their
document rather than losing it.
"""

from __future__ import annotations

from typing import Any

from adapters.blob_staging import BlobStaging
from adapters.cosmos_sink import CosmosSink
from scoring.config import ScoringConfig
from visitrank.azure_run import merge_reps, weekly_documents, window_from_json
from visitrank.settings import Settings


def publish_run(payload: dict[str, Any], settings: Settings) -> dict[str, Any]:
    """Input: the plan (runId, generatedAt, window dates, config, dryRun), ``regions``: the ok
    region outcomes with their blob paths, and ``complete`` (all regions were run and succeeded).

    Output: documents, visits, repsWithVisits, withdrawn repIds, written (0 on a dry run).
    """
    window = window_from_json(payload)
    config = ScoringConfig.model_validate(payload["config"])
    ok = [region for region in payload["regions"] if region.get("status") == "ok"]
    staging = BlobStaging.from_settings(settings)
    outlets = staging.read_frames([region["paths"]["outlets"] for region in ok])
    skus = staging.read_frames([region["paths"]["skus"] for region in ok])
    reps = merge_reps(staging.read_frame(region["paths"]["reps"]) for region in ok)
    documents = weekly_documents(
        outlets,
        skus,
        reps,
        config,
        window,
        run_id=payload["runId"],
        generated_at=payload["generatedAt"],
    )
    written, withdrawn = 0, []
    if not payload.get("dryRun"):
        sink = CosmosSink.from_settings(settings)
        written = sink.upsert_documents(documents)
        if payload.get("complete") and ok:
            withdrawn = sink.withdraw_missing(
                window.week_start.isoformat(),
                {document["id"] for document in documents},
                payload["runId"],
                payload["generatedAt"],
            )
    return {
        "documents": len(documents),
        "visits": sum(len(document["visits"]) for document in documents),
        "repsWithVisits": sum(1 for document in documents if document["visits"]),
        "written": written,
        "withdrawn": withdrawn,
    }
