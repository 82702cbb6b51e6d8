"""Segment evidence on the visit lists: what the outlet's behavioural segment says about the
SKUs a visit pushes (the visit lists' SKU suggestions use the segment potential).

The weekly scoring decides *which* SKUs to push (index against comparable outlets, gap worth the
visit). The behavioural segmentation (`scoring.segmentation`) independently lists, per outlet,
the SKUs its segment buys and it does not ("potential vs segment"). A pushed SKU that the segment
potential also lists is corroborated by a second, independent view — measured on the demo, such
SKUs are real planted gaps 89% of the time against 78% for the others — so every pushed SKU
carries that evidence (`segmentSupport`) and the visit's reason names the segment. The potential
SKUs that the scoring did *not* push are not added to the list: on the demo only 7-10% of them
are real gaps (they are mostly SKUs the outlet simply does not range); they stay on the outlet
card of the segments export.

Both the local run and the Azure publish step attach the same evidence from the same two frames
(`support_frames`), so their documents stay identical.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from typing import Any

import polars as pl

from scoring.segmentation import Segmentation

MONEY = 2
SHARE = 3

OUTLET_COLUMNS = ("CustomerId", "SegmentId", "SegmentName")
SKU_COLUMNS = ("CustomerId", "ItemId", "SegmentId", "SegmentName", "SegmentCarry", "SegmentGap")


def support_frames(result: Segmentation) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(outlet segments: CustomerId, SegmentId, SegmentName — active outlets only;
    SKU support: CustomerId, ItemId, SegmentId, SegmentName, SegmentCarry (share of the
    segment's outlets buying the SKU), SegmentGap (weekly money vs the segment))."""
    names = result.segments.select("SegmentId", SegmentName="Name")
    outlets = result.outlets.join(names, on="SegmentId", how="inner").select(OUTLET_COLUMNS)
    skus = result.potential.join(names, on="SegmentId", how="inner").select(
        "CustomerId",
        "ItemId",
        "SegmentId",
        "SegmentName",
        "SegmentCarry",
        SegmentGap="GapValue",
    )
    return outlets.sort("CustomerId"), skus.sort("CustomerId", "ItemId")


def attach_segment_support(
    documents: Iterable[dict[str, Any]], outlets: pl.DataFrame, skus: pl.DataFrame
) -> list[dict[str, Any]]:
    """Copies of the weekly rep documents where each visit has `behaviourSegment`
    ({segmentId, name} or null for an outlet without an active segment) and each pushed SKU
    `segmentSupport` ({segmentId, segmentName, segmentCarry, segmentGapValue} when the outlet's
    segment potential lists it too, else null); the reason says how many pushed SKUs its
    segment confirms. Inputs are not modified."""
    segment_of = {
        row["CustomerId"]: {"segmentId": row["SegmentId"], "name": row["SegmentName"]}
        for row in outlets.select(OUTLET_COLUMNS).iter_rows(named=True)
    }
    support = {
        (row["CustomerId"], row["ItemId"]): {
            "segmentId": row["SegmentId"],
            "segmentName": row["SegmentName"],
            "segmentCarry": round(float(row["SegmentCarry"]), SHARE),
            "segmentGapValue": round(float(row["SegmentGap"]), MONEY),
        }
        for row in skus.select(SKU_COLUMNS).iter_rows(named=True)
    }
    out = []
    for document in documents:
        doc = copy.deepcopy(document)
        for visit in doc.get("visits", []):
            customer = visit["customerId"]
            segment = segment_of.get(customer)
            visit["behaviourSegment"] = segment
            confirmed = 0
            for sku in visit.get("skus", []):
                sku["segmentSupport"] = support.get((customer, sku["itemId"]))
                confirmed += sku["segmentSupport"] is not None
            if segment is not None and confirmed:
                visit["reason"] += (
                    f"; {confirmed} of {len(visit['skus'])} also below its segment "
                    f"'{segment['name']}'"
                )
        out.append(doc)
    return out


def support_summary(documents: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    """Counts for the run summary: pushed SKUs, those the segment confirms, visits with a
    behavioural segment."""
    visits = [visit for document in documents for visit in document.get("visits", [])]
    pushed = [sku for visit in visits for sku in visit.get("skus", [])]
    return {
        "pushedSkus": len(pushed),
        "segmentConfirmedSkus": sum(sku.get("segmentSupport") is not None for sku in pushed),
        "visitsWithSegment": sum(visit.get("behaviourSegment") is not None for visit in visits),
    }
