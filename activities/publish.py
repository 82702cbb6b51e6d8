"""Fan-in activity: join every rep's planned week, build the documents, upsert them to Cosmos.

Reads the staged Parquet of the regions that succeeded, the route chunks' planned weeks, the
staged proposed orders and the segment evidence, then runs the fan-in step of ``visitrank run``
(``visitrank.pipeline.fan_in.week_documents``) and upserts its documents.
Routing: the reps' weeks were planned by the route chunks (``activities.route``); publish
reads the chunks that succeeded and joins them (``fan_in.merge_planned``). A chunk whose
routing failed on every attempt, or whose staged weeks cannot be read, is planned here, as
every rep was before the fan-out (``routedInPublish`` lists them): a failed chunk costs time,
never a rep's list, and the documents are the same either way.
Documents of reps that no longer get a list this week are withdrawn (see
``visitrank.adapters.cosmos_sink``): after a run of all regions in which every region succeeded,
all of them; after a rerun of some regions, those that list a customer of the regions rerun (the
outlet moved to another rep or was deleted); after a partial run of all regions, none, so the
reps of the failed regions keep their document rather than losing it.

Proposed orders: the staged proposals of the regions whose ``propose_orders``
succeeded become one document per customer and week (``visitrank.pipeline.orders.order_documents``,
id ``<customerId>:<weekStart>``, plus ``runId`` and ``weekStart``), upserted to the Cosmos
``orders`` container (read by ``GET /api/customers/{customerId}/order``); the rep documents get
a compact ``proposedOrder`` per visit (``attach_region_orders``). A visit of a region whose
orders failed has no ``proposedOrder`` key; if the staged proposals cannot be read here, the
rep documents are published without any and the error is reported (``ordersError``): orders
never block the visit lists. A Cosmos fault while writing them is a fault of publish (retried).

The switch: the week's orders are written first (under new ids: nothing a reader sees changes),
then the rep documents and withdrawals, then the publication record
(``CosmosSink.record_publication``), which the read endpoints follow: they serve the new
week's lists and orders together once it lands, the previous week's until then. The progress
(documents written of how many) is kept in a blob (``visitrank.adapters.publish_progress``).

Segmentation: with the segmentation's ``supportPaths`` (or, when this run did not
segment, the latest segmentation's), every visit gets its behavioural segment and every pushed
SKU the segment's evidence (``visitrank.pipeline.segment_support``, the same as ``visitrank run``).
Like orders, segment evidence never blocks the visit lists: if it cannot be read the documents
are published without it and the error is reported (``segmentsError``, and the run is
"partial"). The potential's path is recorded (``segmentPotentialPath``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import polars as pl
from azure.core.exceptions import ResourceNotFoundError

from activities.orders import read_proposal
from activities.route import read_routed
from activities.score import read_scored
from activities.segments import SUPPORT_FILES
from visitrank.adapters.app_settings import Settings
from visitrank.adapters.blob_staging import BlobStaging
from visitrank.adapters.cosmos_sink import CosmosSink
from visitrank.adapters.order_store import OrderStore, order_id
from visitrank.adapters.publish_progress import PublishProgress
from visitrank.adapters.segment_store import LATEST
from visitrank.contract.errors import error_text
from visitrank.pipeline.fan_in import (
    PlannedWeeks,
    WeekParts,
    chunk_outlets,
    merge_planned,
    plan_weeks,
    week_documents,
)
from visitrank.pipeline.orders import order_documents
from visitrank.pipeline.payloads import PublishRequest, RunPlan
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
    """Input: ``PublishRequest`` (the plan, the ok regions' and orders' area ids, whether the
    run is complete, this run's segmentation paths or null, the number of route chunks and
    the indices of those that succeeded).

    The writes, in an order that lets a retry finish the week and readers switch to it at
    once: the week's order documents (new ids per week, so they replace nothing a reader
    sees), the rep documents and withdrawals, then the publication record
    (``CosmosSink.record_publication``), which the read endpoints follow. A write that fails
    raises, so the activity is retried; every write is an upsert of a stable id.

    Output: the documents' counts (``pipeline.summary.document_counts``: documents, visits,
    repsWithVisits, visitsWithProposedOrder, segmentEvidence), withdrawn repIds, written (0 on a
    dry run), orderDocuments, ordersWritten, ordersError (null when none: the proposals could
    not be read), segmentPotentialPath, segmentsError (null when none), publishedWeek (null on
    a dry run), routeChunks (0: the reps were not fanned out, every one was planned here) and
    routedInPublish (the chunks planned here: their routing failed or cannot be read).
    """
    request = PublishRequest.from_json(payload)
    plan = request.plan
    window, dry_run = plan.window, plan.dry_run
    week = window.week_start.isoformat()
    staging = BlobStaging.from_settings(settings)
    outlets, skus, reps, learned = read_scored(staging, plan.run_id, request.regions)
    planned, routed_here = planned_weeks(staging, request, outlets, reps)
    orders = proposed_orders(staging, plan, request.orders)
    segments = request.segments or {}
    evidence, segments_error = segment_evidence(staging, segments.get("supportPaths"))
    parts = WeekParts(
        regions=learned,
        orders=orders.documents if request.orders and orders.error is None else None,
        order_areas=orders.covered,
        evidence=evidence,
    )
    documents = week_documents(
        planned,
        outlets,
        skus,
        reps,
        window,
        parts,
        run_id=plan.run_id,
        generated_at=plan.generated_at,
    )
    written, orders_written, published_week = 0, 0, None
    withdrawn: list[int] = []
    if not dry_run:
        progress = PublishProgress(staging, plan.run_id, len(documents), len(orders.documents))
        try:
            orders_written = OrderStore.from_settings(settings).upsert_orders(
                orders.documents, on_progress=progress.orders
            )
            sink = CosmosSink.from_settings(settings)
            written, withdrawn = upsert(
                sink,
                plan,
                documents,
                complete=request.complete,
                rerun_customers=set(outlets["CustomerId"].to_list()) if outlets.height else set(),
                on_progress=progress.lists,
            )
            record = sink.record_publication(
                week,
                {
                    "runId": plan.run_id,
                    "generatedAt": plan.generated_at,
                    "documents": written,
                    "orderDocuments": orders_written,
                    "regions": len(request.regions),
                    "complete": request.complete,
                },
            )
        except Exception as error:
            progress.failed(error_text(error))
            raise  # the orchestrator retries publish; the record still names the last week
        published_week = record["latestWeek"]
        progress.done()
    return {
        **document_counts(documents),
        "written": written,
        "withdrawn": withdrawn,
        "orderDocuments": len(orders.documents),
        "ordersWritten": orders_written,
        "ordersError": orders.error,
        "segmentPotentialPath": segments.get("potentialPath"),
        "segmentsError": segments_error,
        "publishedWeek": published_week,
        "routeChunks": request.route_chunks,
        "routedInPublish": routed_here,
    }


def planned_weeks(
    staging: BlobStaging, request: PublishRequest, outlets: pl.DataFrame, reps: pl.DataFrame
) -> tuple[PlannedWeeks, list[int]]:
    """Every rep's planned week, and the route chunks planned here: the staged weeks of the
    chunks that were routed (``request.routed``), the other chunks planned here with the same
    outlets, reps and week start (their routing failed on every attempt, or their blobs
    cannot be read); every rep planned here when the reps were not fanned out."""
    plan = request.plan
    config, week_start = plan.config.scoring, plan.window.week_start
    if request.route_chunks == 0:
        return plan_weeks(outlets, config, reps=reps, week_start=week_start), []
    chunks, here = [], []
    for chunk in range(request.route_chunks):
        staged = read_routed(staging, plan.run_id, chunk) if chunk in request.routed else None
        if staged is None:
            here.append(chunk)
            mine = chunk_outlets(outlets, chunk, request.route_chunks)
            staged = plan_weeks(mine, config, reps=reps, week_start=week_start)
        chunks.append(staged)
    if here:
        log.warning("route chunks %s of %s planned in publish", here, request.route_chunks)
    return merge_planned(chunks), here


@dataclass(frozen=True)
class ProposedOrders:
    """The week's order documents of the regions whose proposals succeeded, the regions they
    cover, or why they could not be read."""

    documents: list[dict[str, Any]] = field(default_factory=list)
    covered: frozenset[int] = frozenset()
    error: str | None = None


def proposed_orders(staging: BlobStaging, plan: RunPlan, regions: Sequence[int]) -> ProposedOrders:
    """One order document per customer of the regions whose proposals succeeded
    (id ``<customerId>:<weekStart>``, with ``runId`` and ``weekStart``). Staged proposals
    that cannot be read are reported, never raised: orders never block the visit lists."""
    if not regions:
        return ProposedOrders()
    week = plan.window.week_start.isoformat()
    try:
        proposal = read_proposal(staging, plan.run_id, plan.window.as_of, regions)
        documents = [
            {
                **order,
                "id": order_id(order["customerId"], week),
                "runId": plan.run_id,
                "weekStart": week,
            }
            for order in order_documents(proposal)
        ]
    except Exception as error:
        log.exception("proposed orders not published")
        return ProposedOrders(error=error_text(error))
    return ProposedOrders(documents, frozenset(regions))


def upsert(
    sink: CosmosSink,
    plan: RunPlan,
    documents: list[dict[str, Any]],
    *,
    complete: bool,
    rerun_customers: set[int],
    on_progress: Callable[[int], None] | None = None,
) -> tuple[int, list[int]]:
    """Upserts the week's documents, then withdraws the week's documents of reps that no
    longer get one: after a run of every region that all succeeded (``complete``), every
    such document; after a rerun of some regions, those listing a customer of the regions
    rerun (``rerun_customers``: their outlets moved to another rep or were deleted, and would
    sit in two lists). After a partial run of every region nothing is withdrawn: the reps of
    the failed regions keep their document."""
    written = sink.upsert_documents(documents, on_progress=on_progress)
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
