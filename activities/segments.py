"""Segmentation activity: segment every outlet by purchase mix, store the exports, feed the CRM.

Reads the regions one by one from SQL (the same ``read_region``, coercion and quarantine as the
scoring activity), keeps only each region's outlet x SKU revenue over the look-back window, then
segments **all** outlets at once (``visitrank.pipeline.segments``), matched to the previous run kept
in Blob so ids, names and tags survive. Writes every export to Blob (``segments/<runId>/`` and
``segments/latest/``) and, unless a dry run, the segment and outlet documents to the Cosmos
``segments`` container for the CRM's outlet card.

Input (from the plan): runId, weekStart, asOf, windowStart, historyStart, dryRun, and optional
``segmentation`` (SegmentationConfig overrides). A dry run writes its exports under
``segments/<runId>/`` only (``segments/latest/`` and Cosmos untouched). Output: small JSON
(k, segments, counts, the blob path of the outlet potential, and ``supportPaths``: the two
frames of ``visitrank.pipeline.segment_support`` with which the publish step adds each visit's
segment evidence).
"""

from __future__ import annotations

import io
import time
from datetime import date, timedelta
from typing import Any, Protocol

import azure.durable_functions as df
import polars as pl

from scoring.segmentation import (
    INACTIVE_SEGMENT,
    Segmentation,
    catalogue,
    window_purchases,
)
from visitrank.adapters.app_settings import Settings, app_settings
from visitrank.adapters.blob_staging import BlobStaging
from visitrank.adapters.segment_store import LATEST, TAGS_BLOB, BlobSegmentStore, CosmosSegmentSink
from visitrank.adapters.sql_source import SqlSource
from visitrank.pipeline.payloads import SegmentOutcome, SegmentTask
from visitrank.pipeline.region import quarantine_region
from visitrank.pipeline.segment_support import support_frames
from visitrank.pipeline.segments import (
    STATE_FILE,
    STATE_OUTLETS,
    SegmentInputs,
    export_files,
    run_summary,
    segment_with_history,
)
from visitrank.pipeline.status import merge_quarantine_counts

SEGMENTS = "segment_outlets"
POTENTIAL_FILE = "segment_potential.parquet"
SUPPORT_FILES = {
    "outlets": "segment_support_outlets.parquet",
    "skus": "segment_support_skus.parquet",
}
CARD_SKUS = 10
DNA_KEYS = 12

bp = df.Blueprint()


class RegionSource(Protocol):
    def regions(self) -> list[int]: ...

    def read_region(
        self, area_id: int, history_start: date, before: date
    ) -> dict[str, pl.DataFrame]: ...


class FileStore(Protocol):
    def write_files(self, run_id: str, files: dict[str, bytes]) -> list[str]: ...

    def read_json(self, path: str) -> dict[str, Any] | None: ...

    def read_frame(self, path: str) -> pl.DataFrame | None: ...


class DocumentSink(Protocol):
    def upsert(self, documents: list[dict[str, Any]]) -> int: ...

    def withdraw_missing(self, keep_ids: set[str]) -> list[str]: ...


def load_inputs(source: RegionSource, start: date, as_of: date, week_start: date) -> SegmentInputs:
    """All regions' clean customers and window purchases (region by region: lines never pile
    up, only the outlet x SKU revenue is kept)."""
    customers, purchases, counts = [], [], []
    items = areas = None
    for area_id in source.regions():
        checked = quarantine_region(source.read_region(area_id, start, week_start), area_id)
        clean = checked.tables
        customers.append(clean["MV_SetupCustomer"])
        purchases.append(window_purchases(clean["MV_Sales"], clean["MV_SalesDetail"], start, as_of))
        counts.append(checked.counts())
        if items is None:
            items, areas = catalogue(clean), clean["MV_SetupArea"]
    if items is None or areas is None:
        raise ValueError("no region has customers")
    return SegmentInputs(
        customers=pl.concat(customers, how="diagonal_relaxed"),
        purchases=pl.concat(purchases),
        items=items,
        areas=areas,
        start=start,
        end=as_of,
        quarantined=merge_quarantine_counts(counts),
    )


def segment_documents(result: Segmentation, run_id: str, as_of: str) -> list[dict[str, Any]]:
    """One Cosmos document per segment and one per outlet (the CRM's outlet card)."""
    docs: list[dict[str, Any]] = []
    dna = result.dna.sort(["SegmentId", "Index"], descending=[False, True])
    patterns = result.patterns.filter(pl.col("Carry") >= 0.3).sort(
        ["SegmentId", "Lift"], descending=[False, True]
    )
    for row in result.segments.iter_rows(named=True):
        segment = row["SegmentId"]
        doc_id = f"segment:{segment}"
        docs.append(
            {
                "id": doc_id,
                "pk": doc_id,
                "type": "segment",
                "segmentId": segment,
                "name": row["Name"],
                "description": row["Description"],
                "tags": row["Tags"].split(),
                "status": row["Status"],
                "outlets": row["Outlets"],
                "weeklyRevenue": row["WeeklyRevenue"],
                "priceIndex": row["PriceIndex"],
                "channelMix": row["ChannelMix"],
                "areaMix": row["AreaMix"],
                "dna": dna.filter(pl.col("SegmentId") == segment)
                .head(DNA_KEYS)
                .select(key="Key", name="KeyName", share="Share", index="Index")
                .to_dicts(),
                "lovedSkus": patterns.filter(pl.col("SegmentId") == segment)
                .head(DNA_KEYS)
                .select(itemId="ItemId", name="ItemName", share="Share", lift="Lift", carry="Carry")
                .to_dicts(),
                "runId": run_id,
                "asOf": as_of,
            }
        )
    potential = (
        result.potential.filter(pl.col("PotentialRank") <= CARD_SKUS)
        .group_by("CustomerId")
        .agg(
            skus=pl.struct(
                itemId="ItemId", name="ItemName", weeklyGap="GapValue", segmentCarry="SegmentCarry"
            )
        )
    )
    outlets = result.outlets.join(potential, on="CustomerId", how="left")
    for row in outlets.iter_rows(named=True):
        doc_id = f"outlet:{row['CustomerId']}"
        docs.append(
            {
                "id": doc_id,
                "pk": doc_id,
                "type": "outlet",
                "customerId": row["CustomerId"],
                "segmentId": row["SegmentId"],
                "active": row["SegmentId"] != INACTIVE_SEGMENT,
                "distancePercentile": row["DistancePercentile"],
                "weeklyPotential": row["PotentialValue"],
                "potentialSkus": row["skus"] or [],
                "runId": run_id,
                "asOf": as_of,
            }
        )
    return docs


def segment_run(
    payload: dict[str, Any], source: RegionSource, store: FileStore, sink: DocumentSink | None
) -> SegmentOutcome:
    """The activity's work with its I/O injected (see the module docstring)."""
    started = time.perf_counter()
    task = SegmentTask.from_json(payload)
    config, as_of = task.segmentation, task.window.as_of
    start = as_of - timedelta(days=7 * config.lookback_weeks - 1)
    inputs = load_inputs(source, start, as_of, task.window.week_start)

    result, state = segment_with_history(
        inputs,
        config,
        store.read_json(f"{LATEST}/{STATE_FILE}"),
        store.read_frame(f"{LATEST}/{STATE_OUTLETS}"),
        store.read_json(TAGS_BLOB),
    )
    summary = run_summary(result, inputs, config)
    files = export_files(result, state, summary)
    parquet = io.BytesIO()
    result.potential.write_parquet(parquet)
    files[POTENTIAL_FILE] = parquet.getvalue()
    for key, frame in zip(SUPPORT_FILES, support_frames(result), strict=True):
        buffer = io.BytesIO()
        frame.write_parquet(buffer)
        files[SUPPORT_FILES[key]] = buffer.getvalue()
    paths = store.write_files(task.run_id, files)
    written, withdrawn = 0, []
    if sink is not None and not task.dry_run:
        documents = segment_documents(result, task.run_id, as_of.isoformat())
        written = sink.upsert(documents)
        # the cards of outlets no longer segmented (deleted from the ERP, no purchase in the
        # window) and of retired segments would be served until their TTL
        withdrawn = sink.withdraw_missing({document["id"] for document in documents})
    return {
        "status": "ok",
        "k": result.info["k"],
        "kChosenBy": result.info["kChosenBy"],
        "segments": summary["segments"],
        "retired": result.info.get("retired", []),
        "outlets": result.outlets.height,
        "potentialRows": result.potential.height,
        "potentialPath": next(p for p in paths if p.endswith(POTENTIAL_FILE)),
        "supportPaths": {
            key: next(p for p in paths if p.endswith(name)) for key, name in SUPPORT_FILES.items()
        },
        "written": written,
        "withdrawn": len(withdrawn),
        "seconds": round(time.perf_counter() - started, 3),
    }


def segment_activity(payload: dict[str, Any], settings: Settings) -> SegmentOutcome:
    """The activity with the app's SQL source, Blob staging and Cosmos ``segments`` sink."""

    dry_run = SegmentTask.from_json(payload).dry_run
    # a dry run keeps its exports in its own folder: segments/latest/ (what the next real run
    # matches its segments against) stays the last real run's
    store = BlobSegmentStore(
        BlobStaging.from_settings(settings).container, update_latest=not dry_run
    )
    sink = None if dry_run else CosmosSegmentSink.from_settings(settings)
    return segment_run(payload, SqlSource.from_settings(settings), store, sink)


@bp.function_name(SEGMENTS)
@bp.activity_trigger(input_name="payload")
def segment_outlets_activity(payload: dict[str, Any]) -> dict[str, Any]:
    """Segment every outlet by purchase mix; exports to Blob, outlet cards to Cosmos."""
    return dict(segment_activity(payload, app_settings()))
