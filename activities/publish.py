"""Fan-in activity: rank and route every rep, build the documents, upsert them to Cosmos.

Reads the staged Parquet of the regions that succeeded, the staged proposed orders and the
segment evidence, then runs the fan-in step of ``visitrank run``
(``visitrank.pipeline.fan_in.week_documents``) and upserts its documents.
Documents of reps that no longer get a list this week are withdrawn (see
``visitrank.adapters.cosmos_sink``): after a run of all regions in which every region succeeded,
all of them; after a rerun of some regions, those that list a customer of the regions rerun (the
outlet moved to another rep or was deleted); after a partial run of all regions, none, so the
reps of the failed regions keep their document rather than losing it.

Proposed orders: the staged proposals of the regions whose ``propose_orders``
succeeded become one document per customer (``visitrank.pipeline.orders.order_documents``, plus
``runId`` and ``weekStart``), upserted to the Cosmos ``orders`` container (read by
``GET /api/customers/{customerId}/order``); the rep documents get a compact ``proposedOrder``
per visit (``attach_region_orders``). A visit of a region whose orders failed has no
``proposedOrder`` key; if the orders cannot be read or written here, the rep documents are
published without any and the error is reported (``ordersError``): orders never block the
visit lists.

Segmentation: with the segmentation's ``supportPaths`` (or, when this run did not
segment, the latest segmentation's), every visit gets its behavioural segment and every pushed
SKU the segment's evidence (``visitrank.pipeline.segment_support``, the same as ``visitrank run``).
Like orders, segment evidence never blocks the visit lists: if it cannot be read the documents
are published without it and the error is reported (``segmentsError``, and the run is
"partial"). The potential's path is recorded (``segmentPotentialPath``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import polars as pl
from azure.core.exceptions import ResourceNotFoundError

from activities.orders import read_proposal
from activities.segments import SUPPORT_FILES
from visitrank.adapters.app_settings import Settings
from visitrank.adapters.blob_staging import BlobStaging
from visitrank.adapters.cosmos_sink import CosmosSink
from visitrank.adapters.order_store import OrderStore
from visitrank.adapters.segment_store import LATEST
from visitrank.contract.errors import error_text
from visitrank.pipeline.fan_in import WeekParts, plan_weeks, week_documents
from visitrank.pipeline.orders import order_documents
from visitrank.pipeline.payloads import PublishRequest, RunPlan
from visitrank.pipeline.region import merge_reps
from visitrank.pipeline.summary import document_counts

log = logging.getLogger("visitrank.publish")


LATEST_SUPPORT_PATHS: dict[str, str] = {
    key: f"{LATEST}/{name}" for key, name in SUPPORT_FILES.items()
}


def segment_evidence(
    staging: BlobStaging, support_paths: dict[str, str] | None
) -> tuple[tuple[pl.DataFrame, pl.DataFrame] | None, str | None]:
    """The segment evidence frames of this run's segmentation (`support_paths`), or, for a run
    that did not segment (a rerun of some regions, or a failed segmentation), of the latest
    one, so a rerun never strips the evidence from the lists it republishes; and the error, if
    the evidence could not be read (never blocks the lists). No segmentation yet: no frames,
    no error."""
    paths = support_paths or LATEST_SUPPORT_PATHS
    try:
        frames = (staging.read_frame(paths["outlets"]), staging.read_frame(paths["skus"]))
    except ResourceNotFoundError as error:
        if support_paths is None:
            return None, None  # no segmentation has run yet
        log.exception("segment evidence not attached")
        return None, error_text(error)
    except Exception as error:  # segment evidence never blocks the visit lists
        log.exception("segment evidence not attached")
        return None, error_text(error)
    return frames, None


def publish_run(payload: dict[str, Any], settings: Settings) -> dict[str, Any]:
    """Input: the plan (runId, generatedAt, window dates, config, dryRun), ``regions``: the ok
    region outcomes with their blob paths, ``complete`` (all regions were run and succeeded),
    ``orders``: the ok order outcomes (areaId, paths) and ``segments``: {status, potentialPath}
    or null.

    Output: the documents' counts (``pipeline.summary.document_counts``: documents, visits,
    repsWithVisits, visitsWithProposedOrder, segmentEvidence), withdrawn repIds, written (0 on a
    dry run), orderDocuments, ordersWritten, ordersError (null when none),
    segmentPotentialPath, segmentsError (null when none).
    """
    request = PublishRequest.from_json(payload)
    plan = request.plan
    window, config, dry_run = plan.window, plan.config.scoring, plan.dry_run
    staging = BlobStaging.from_settings(settings)
    ok = [region for region in request.regions if region.get("status") == "ok"]
    outlets, skus, reps = read_scored(staging, ok)
    order_regions = [o for o in request.orders if o.get("status") == "ok"]
    orders = publish_orders(
        staging,
        settings,
        plan,
        order_regions,
        dry_run=dry_run,
        every_region=request.complete and len(order_regions) == len(plan.regions),
    )
    segments = request.segments or {}
    evidence, segments_error = segment_evidence(staging, segments.get("supportPaths"))
    parts = WeekParts(
        regions=ok,
        orders=orders.documents if order_regions else None,
        order_areas=orders.covered,
        evidence=evidence,
    )
    documents = week_documents(
        plan_weeks(outlets, config),
        outlets,
        skus,
        reps,
        window,
        parts,
        run_id=plan.run_id,
        generated_at=plan.generated_at,
    )
    written, withdrawn = (
        (0, [])
        if dry_run
        else upsert(
            settings,
            plan,
            documents,
            complete=request.complete,
            rerun_customers=set(outlets["CustomerId"].to_list()) if outlets.height else set(),
        )
    )
    return {
        **document_counts(documents),
        "written": written,
        "withdrawn": withdrawn,
        "orderDocuments": len(orders.documents),
        "ordersWritten": orders.written,
        "ordersWithdrawn": len(orders.withdrawn),
        "ordersError": orders.error,
        "segmentPotentialPath": segments.get("potentialPath"),
        "segmentsError": segments_error,
    }


def read_scored(
    staging: BlobStaging, regions: list[dict[str, Any]]
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """The staged outlets, SKUs and reps of the regions that succeeded."""
    outlets = staging.read_frames([region["paths"]["outlets"] for region in regions])
    skus = staging.read_frames([region["paths"]["skus"] for region in regions])
    reps = merge_reps(staging.read_frame(region["paths"]["reps"]) for region in regions)
    return outlets, skus, reps


@dataclass(frozen=True)
class PublishedOrders:
    """The order documents, how many were upserted, the regions they cover, or the error."""

    documents: list[dict[str, Any]] = field(default_factory=list)
    written: int = 0
    covered: frozenset[int] = frozenset()
    error: str | None = None
    withdrawn: tuple[int, ...] = ()


def publish_orders(
    staging: BlobStaging,
    settings: Settings,
    plan: RunPlan,
    regions: list[dict[str, Any]],
    *,
    dry_run: bool,
    every_region: bool = False,
) -> PublishedOrders:
    """One order document per customer of the regions whose proposals succeeded, upserted to
    the Cosmos ``orders`` container (not on a dry run). After the orders of every region of a
    complete run (``every_region``), the documents of customers without one are deleted (a
    deleted customer's order was served until its TTL). A failure is reported, never raised:
    orders never block the visit lists."""
    if not regions:
        return PublishedOrders()
    try:
        window = plan.window
        proposal = read_proposal(staging, window.as_of, regions)
        documents = [
            {**order, "runId": plan.run_id, "weekStart": window.week_start.isoformat()}
            for order in order_documents(proposal)
        ]
        written, withdrawn = 0, []
        if not dry_run:
            store = OrderStore.from_settings(settings)
            written = store.upsert_orders(documents)
            if every_region:
                withdrawn = store.withdraw_missing({document["id"] for document in documents})
    except Exception as error:
        log.exception("proposed orders not published")
        return PublishedOrders(error=error_text(error))
    covered = frozenset(o["areaId"] for o in regions)
    return PublishedOrders(documents, written, covered, withdrawn=tuple(withdrawn))


def upsert(
    settings: Settings,
    plan: RunPlan,
    documents: list[dict[str, Any]],
    *,
    complete: bool,
    rerun_customers: set[int],
) -> tuple[int, list[int]]:
    """Upserts the week's documents, then withdraws the week's documents of reps that no
    longer get one: after a run of every region that all succeeded (``complete``), every
    such document; after a rerun of some regions, those listing a customer of the regions
    rerun (``rerun_customers``: their outlets moved to another rep or were deleted, and would
    sit in two lists). After a partial run of every region nothing is withdrawn: the reps of
    the failed regions keep their document."""
    sink = CosmosSink.from_settings(settings)
    written = sink.upsert_documents(documents)
    keep = {document["id"] for document in documents}
    week = plan.window.week_start.isoformat()
    withdrawn: list[int] = []
    if complete:
        withdrawn = sink.withdraw_missing(week, keep, plan.run_id, plan.generated_at)
    elif not plan.all_regions and rerun_customers:
        withdrawn = sink.withdraw_missing(
            week, keep, plan.run_id, plan.generated_at, within=rerun_customers
        )
    return written, withdrawn
