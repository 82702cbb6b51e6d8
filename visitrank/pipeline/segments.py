"""The behaviour segmentation's steps: its inputs from clean tables, the segments matched to the
previous run (ids, names, descriptions and tags survive), and the exports as bytes.

All outlets are segmented at once (not per region: a segment is a national behaviour; the
sample-then-assign fit scales to a million outlets). The exports (`export_files`):

    segments.csv / segment_dna.csv / segment_patterns.csv / segment_outlets.csv /
    segment_potential.csv / segment_mix.csv   one CSV per table (machine column names)
    segments.xlsx                             the same tables, one sheet each, readable headers
                                              (a long table: its `WORKBOOK_ROWS` largest rows)
    segment_dna.png / segment_dna.svg         the DNA small multiples (`segment_charts`)
    segment_tags.json                         the editable names, descriptions and tags
    segments_state.json, segments_state_outlets.parquet   what the next run matches against
    segments_summary.json                     k, how it was chosen, counts, status, (ARI)

Where they are kept is the driver's: a local folder (`visitrank.local.segments`) or Blob
(`activities.segments`).
"""

from __future__ import annotations

import io
import json
import re
from dataclasses import dataclass, replace
from datetime import date, timedelta
from typing import Any

import polars as pl
import xlsxwriter
from sklearn.metrics import adjusted_rand_score

from scoring.segment_match import identify, tags_document
from scoring.segmentation import (
    INACTIVE_SEGMENT,
    Segmentation,
    WarmStart,
    behaviour_segments,
    catalogue,
    window_purchases,
    window_weeks,
)
from scoring.segmentation_config import SegmentationConfig
from visitrank.contract.quarantine import quarantine
from visitrank.contract.source import SetAside
from visitrank.pipeline.segment_charts import dna_chart_bytes
from visitrank.pipeline.week import data_today

STATE_FILE = "segments_state.json"
STATE_OUTLETS = "segments_state_outlets.parquet"
TAGS_FILE = "segment_tags.json"
SUMMARY_FILE = "segments_summary.json"
XLSX_FILE = "segments.xlsx"
TABLE_FILES = {
    "segments": "segments.csv",
    "dna": "segment_dna.csv",
    "patterns": "segment_patterns.csv",
    "outlets": "segment_outlets.csv",
    "potential": "segment_potential.csv",
    "mix": "segment_mix.csv",
}
SHEETS = {
    "segments": "Segments",
    "dna": "DNA",
    "patterns": "SKU patterns",
    "outlets": "Outlets",
    "potential": "Outlet potential",
    "mix": "Channel and area mix",
}
WORKBOOK_ROWS = 20_000
"""At most this many rows in a workbook sheet. The outlet potential has a row per outlet x SKU
(50,408 rows at 8,000 outlets, millions at a million: past Excel's 1,048,576 rows, where the
writer drops the rest silently) and took 3.8 of the 5 s the workbook took; a person reads the
largest, and the CSV holds every row."""
EXCEL_SHEET_NAME = 31
"""Excel's longest sheet name."""
WORKBOOK_LARGEST = {"potential": "GapValue", "outlets": "PotentialValue"}
"""The column a long sheet keeps its largest rows by (other tables: their first rows)."""

HEADERS = {
    "SegmentId": "Segment",
    "AutoName": "Suggested name",
    "AutoTags": "Suggested tags",
    "PreviousIds": "Previous segments",
    "Similarity": "Similarity to previous",
    "OutletShare": "Share of outlets",
    "WeeklyRevenue": "Weekly revenue",
    "RevenueShare": "Share of revenue",
    "RevenuePerOutlet": "Weekly revenue per outlet",
    "SizeIndex": "Size index (1 = average outlet)",
    "PriceIndex": "Price index (1 = average basket)",
    "TopKeys": "Most over-bought (index)",
    "MeanDistance": "Mean distance to centre",
    "PotentialValue": "Weekly potential",
    "KeyName": "Name",
    "AllShare": "Share, all outlets",
    "Index": "Index (100 = all outlets)",
    "ItemId": "SKU id",
    "ItemName": "SKU",
    "Share": "Share of purchases",
    "Lift": "Lift vs all outlets",
    "Carry": "Share of outlets buying",
    "AllCarry": "Share of all outlets buying",
    "TypicalShare": "Typical share (median outlet)",
    "CustomerId": "Outlet id",
    "CustomerName": "Outlet",
    "RepId": "Rep id",
    "AreaId": "Area id",
    "AreaName": "Area",
    "Distance": "Distance to centre",
    "DistancePercentile": "Distance percentile in segment",
    "PotentialSkus": "Potential SKUs",
    "TopPotentialSkus": "Top potential SKUs",
    "Actual": "Weekly sales",
    "Expected": "Expected weekly sales",
    "GapValue": "Weekly gap",
    "SegmentCarry": "Share of segment outlets buying",
    "SegmentLift": "Segment lift",
    "PotentialRank": "Rank",
}


def readable(column: str) -> str:
    """A column's XLSX header: from HEADERS, else CamelCase split ("ChannelMix" → "Channel mix")."""
    if column in HEADERS:
        return HEADERS[column]
    words = re.findall(r"[A-Z][a-z]*|[a-z]+|\d+", column)
    return " ".join([words[0], *[w.lower() for w in words[1:]]]) if words else column


def machine_names(frame: pl.DataFrame, template: list[str]) -> pl.DataFrame:
    """Rename an XLSX sheet's readable headers back to the machine names of `template`."""
    back = {readable(column): column for column in template}
    return frame.rename({c: back.get(c, c) for c in frame.columns})


@dataclass(frozen=True)
class SegmentInputs:
    """The clean frames the segmentation needs (any source)."""

    customers: pl.DataFrame
    purchases: pl.DataFrame
    items: pl.DataFrame
    areas: pl.DataFrame
    start: date
    end: date
    quarantined: dict[str, dict[str, int]]


def inputs_from_tables(
    tables: dict[str, pl.DataFrame],
    config: SegmentationConfig,
    as_of: date | None = None,
    set_aside: SetAside | None = None,
) -> SegmentInputs:
    """Quarantine coerced contract tables (the set-aside rows to `set_aside`) and take the last
    `lookback_weeks` up to `as_of` (default: the last sales day)."""
    checked = quarantine(tables)
    if set_aside is not None:
        set_aside(checked.rows)
    clean = checked.tables
    last = clean["MV_Sales"]["SaleDate"].max()
    end = as_of or data_today(last if isinstance(last, date) else None)
    start = end - timedelta(days=7 * config.lookback_weeks - 1)
    return SegmentInputs(
        customers=clean["MV_SetupCustomer"],
        purchases=window_purchases(clean["MV_Sales"], clean["MV_SalesDetail"], start, end),
        items=catalogue(clean),
        areas=clean["MV_SetupArea"],
        start=start,
        end=end,
        quarantined=checked.counts(),
    )


def segment_with_history(
    inputs: SegmentInputs,
    config: SegmentationConfig,
    state: dict[str, Any] | None,
    previous_outlets: pl.DataFrame | None,
    edits: dict[str, Any] | None,
) -> tuple[Segmentation, dict[str, Any]]:
    """Segment (from the previous run's segments while their k may be kept: `warm_start`),
    then give the segments their persistent ids and labels. The state records when k was
    last searched (`clustering.searchedOn`)."""
    searched_on = _searched_on(state, config)
    warm = (
        WarmStart(previous_outlets.filter(pl.col("SegmentId") != INACTIVE_SEGMENT))
        if previous_outlets is not None
        and searched_on is not None
        and (inputs.end - searched_on).days < 7 * config.research_weeks
        else None
    )
    raw = behaviour_segments(
        inputs.customers,
        inputs.purchases,
        inputs.items,
        window_weeks(inputs.start, inputs.end),
        config,
        inputs.areas,
        warm,
    )
    chosen_by = raw.info["kChosenBy"]
    last_search = searched_on if chosen_by == "previous" else inputs.end
    # a fixed k was not searched: the next run searches
    clustering = (
        {}
        if chosen_by == "fixed" or last_search is None
        else {"searchedOn": last_search.isoformat()}
    )
    raw = replace(raw, info={**raw.info, "kSearchedOn": clustering.get("searchedOn")})
    result, new_state = identify(raw, config, state, previous_outlets, edits)
    return result, {**new_state, "clustering": clustering}


def _searched_on(state: dict[str, Any] | None, config: SegmentationConfig) -> date | None:
    """When the previous run last searched k, None when its segments cannot be started from
    (no previous run, another level, a fixed k, warm starts off)."""
    if state is None or not config.warm_start or config.segments is not None:
        return None
    if state.get("level") != config.level:
        return None
    clustering = state.get("clustering")
    if not isinstance(clustering, dict) or "searchedOn" not in clustering:
        return None
    try:
        return date.fromisoformat(str(clustering["searchedOn"]))
    except ValueError:
        return None


def table_frames(result: Segmentation) -> dict[str, pl.DataFrame]:
    """The exported tables by key of TABLE_FILES."""
    return {
        "segments": result.segments,
        "dna": result.dna,
        "patterns": result.patterns,
        "outlets": result.outlets,
        "potential": result.potential,
        "mix": result.mix,
    }


def workbook_sheet(key: str, frame: pl.DataFrame) -> tuple[str, pl.DataFrame]:
    """The sheet name and rows of one table in the workbook: the whole table, or, past
    `WORKBOOK_ROWS`, its largest rows by `WORKBOOK_LARGEST` (ties by the table's order), kept
    in the table's order, under a name that says so ("Outlet potential (top 20000)")."""
    if frame.height <= WORKBOOK_ROWS:
        return SHEETS[key], frame
    by = WORKBOOK_LARGEST.get(key)
    order = pl.int_range(pl.len()).alias("_row")
    ranked = frame.with_columns(order)
    kept = (
        ranked.sort([by, "_row"], descending=[True, False]).head(WORKBOOK_ROWS).sort("_row")
        if by is not None
        else ranked.head(WORKBOOK_ROWS)
    )
    suffix = f" (top {WORKBOOK_ROWS})"
    return SHEETS[key][: EXCEL_SHEET_NAME - len(suffix)] + suffix, kept.drop("_row")


def xlsx_bytes(frames: dict[str, pl.DataFrame]) -> bytes:
    """One workbook, one sheet per table (`workbook_sheet`), readable headers, numbers kept as
    numbers."""
    buffer = io.BytesIO()
    with xlsxwriter.Workbook(buffer, {"nan_inf_to_errors": True}) as workbook:
        for key, frame in frames.items():
            name, rows = workbook_sheet(key, frame)
            rows.rename({c: readable(c) for c in rows.columns}).write_excel(
                workbook=workbook, worksheet=name, autofit=True, float_precision=6
            )
    return buffer.getvalue()


def export_files(
    result: Segmentation, state: dict[str, Any], summary: dict[str, Any]
) -> dict[str, bytes]:
    """Every output file by name (the local run writes them to a folder, Azure to Blob)."""
    frames = table_frames(result)
    files = {TABLE_FILES[key]: _csv(frame) for key, frame in frames.items()}
    files[XLSX_FILE] = xlsx_bytes(frames)
    charts = dna_chart_bytes(
        result.dna, result.segments, title=f"Segment DNA ({result.info['level']} level)"
    )
    files["segment_dna.png"], files["segment_dna.svg"] = charts["png"], charts["svg"]
    files[TAGS_FILE] = _json(tags_document(result))
    files[STATE_FILE] = _json(state)
    files[STATE_OUTLETS] = _parquet(result.outlets.select("CustomerId", "SegmentId"))
    files[SUMMARY_FILE] = _json(summary)
    return files


def _csv(frame: pl.DataFrame) -> bytes:
    return frame.write_csv(float_precision=None).encode("utf-8")


def _json(data: Any) -> bytes:
    return (json.dumps(data, ensure_ascii=False, indent=2) + "\n").encode("utf-8")


def _parquet(frame: pl.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.write_parquet(buffer)
    return buffer.getvalue()


def truth_ari(outlets: pl.DataFrame, truth: pl.DataFrame, column: str = "Taste") -> dict[str, Any]:
    """Adjusted Rand index of the segments against a planted label, overall and per channel
    (active outlets only)."""
    joined = outlets.filter(pl.col("SegmentId") != INACTIVE_SEGMENT).join(
        truth.select("CustomerId", column), on="CustomerId"
    )
    per_channel = {
        str(channel): round(float(adjusted_rand_score(group[column], group["SegmentId"])), 4)
        for (channel,), group in joined.sort("Channel").group_by("Channel", maintain_order=True)
    }
    return {
        "overall": round(float(adjusted_rand_score(joined[column], joined["SegmentId"])), 4),
        "perChannel": per_channel,
        "outlets": joined.height,
    }


def run_summary(
    result: Segmentation, inputs: SegmentInputs, config: SegmentationConfig
) -> dict[str, Any]:
    """The JSON summary of a run."""
    return {
        **result.info,
        "windowStart": inputs.start.isoformat(),
        "asOf": inputs.end.isoformat(),
        "segments": result.segments.select(
            "SegmentId", "Name", "Tags", "Status", "PreviousIds", "Outlets"
        ).to_dicts(),
        "quarantined": inputs.quarantined,
        "config": config.model_dump(),
    }
