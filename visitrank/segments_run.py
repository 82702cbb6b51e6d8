"""`visitrank segments`: segment every outlet by purchase mix, keep identities, export.

Loads the contract tables (FileSource, coercion, quarantine), segments **all** outlets at once
(not per region: a segment is a national behaviour; the sample-then-assign fit scales to a
million outlets), matches the segments to the previous run stored in the out folder so ids,
names, descriptions and tags survive, and writes:

    segments.csv / segment_dna.csv / segment_patterns.csv / segment_outlets.csv /
    segment_potential.csv / segment_mix.csv   one CSV per table (machine column names)
    segments.xlsx                             the same tables, one sheet each, readable headers
    segment_dna.png / segment_dna.svg         the DNA small multiples (visitrank.segment_charts)
    segment_tags.json                         the editable names, descriptions and tags
    segments_state.json, segments_state_outlets.parquet   what the next run matches against
    segments_summary.json                     k, how it was chosen, counts, status, (ARI)

Edit `segment_tags.json` (or pass another file with `--tags`) and re-run: the segments that are
the same keep their edits; the summary says which are new, merged, split or retired.
"""

from __future__ import annotations

import io
import json
import re
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import xlsxwriter
from sklearn.metrics import adjusted_rand_score

from adapters.file_source import FileSource
from scoring.segment_match import identify, tags_document
from scoring.segmentation import (
    INACTIVE_SEGMENT,
    Segmentation,
    SegmentationConfig,
    catalogue,
    segment_outlets,
    window_purchases,
    window_weeks,
)
from visitrank.quarantine import quarantine
from visitrank.segment_charts import dna_chart_bytes
from visitrank.staging import StagedInputs, staged_purchases, write_quarantine

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
    quarantine_dir: Path | None = None,
) -> SegmentInputs:
    """Quarantine coerced contract tables and take the last `lookback_weeks` up to `as_of`
    (default: the last sales day)."""
    checked = quarantine(tables)
    if quarantine_dir is not None:
        write_quarantine(checked.rows, quarantine_dir)
    clean = checked.tables
    last = clean["MV_Sales"]["SaleDate"].max()
    end = as_of or (last if isinstance(last, date) else date.today())
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


def inputs_from_staged(staged: StagedInputs, config: SegmentationConfig) -> SegmentInputs | None:
    """The segmentation's inputs from a weekly run's staged clean rows (no second read of the
    source, memory bounded like the staging), as of the run's `as_of`; None when the
    segmentation looks further back than the staged history window."""
    end = staged.window.as_of
    start = end - timedelta(days=7 * config.lookback_weeks - 1)
    if start < staged.window.history_start:
        return None
    return SegmentInputs(
        customers=staged.setup["MV_SetupCustomer"],
        purchases=staged_purchases(staged.work_dir, start, end),
        items=catalogue(staged.setup),
        areas=staged.setup["MV_SetupArea"],
        start=start,
        end=end,
        quarantined=staged.quarantine_counts,
    )


def segment_with_history(
    inputs: SegmentInputs,
    config: SegmentationConfig,
    state: dict[str, Any] | None,
    previous_outlets: pl.DataFrame | None,
    edits: dict[str, Any] | None,
) -> tuple[Segmentation, dict[str, Any]]:
    """Segment, then give the segments their persistent ids and labels."""
    raw = segment_outlets(
        inputs.customers,
        inputs.purchases,
        inputs.items,
        window_weeks(inputs.start, inputs.end),
        config,
        inputs.areas,
    )
    return identify(raw, config, state, previous_outlets, edits)


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


def xlsx_bytes(frames: dict[str, pl.DataFrame]) -> bytes:
    """One workbook, one sheet per table, readable headers, numbers kept as numbers."""
    buffer = io.BytesIO()
    with xlsxwriter.Workbook(buffer, {"nan_inf_to_errors": True}) as workbook:
        for key, frame in frames.items():
            frame.rename({c: readable(c) for c in frame.columns}).write_excel(
                workbook=workbook, worksheet=SHEETS[key], autofit=True, float_precision=6
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


def _read_json(path: Path) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object")
    return data


@dataclass(frozen=True)
class SegmentsRunResult:
    """What `run_segments` did."""

    result: Segmentation
    summary: dict[str, Any]
    paths: dict[str, Path]


def run_segments(
    source: Path,
    out: Path,
    config: SegmentationConfig,
    tags_file: Path | None = None,
    truth_file: Path | None = None,
    as_of: date | None = None,
) -> SegmentsRunResult:
    """The whole local command (see the module docstring)."""
    out.mkdir(parents=True, exist_ok=True)
    tables = FileSource(source).read_all()
    inputs = inputs_from_tables(tables, config, as_of, out / "quarantine")
    return segment_and_export(inputs, out, config, tags_file, truth_file)


def segment_and_export(
    inputs: SegmentInputs,
    out: Path,
    config: SegmentationConfig,
    tags_file: Path | None = None,
    truth_file: Path | None = None,
) -> SegmentsRunResult:
    """Segments `inputs` against the history kept in `out` (state, tags) and writes every
    export there: the part of `run_segments` after the inputs are read."""
    out.mkdir(parents=True, exist_ok=True)
    state = _read_json(out / STATE_FILE)
    previous = pl.read_parquet(out / STATE_OUTLETS) if (out / STATE_OUTLETS).is_file() else None
    edits = _read_json(tags_file) if tags_file is not None else _read_json(out / TAGS_FILE)
    if tags_file is not None and edits is None:
        raise FileNotFoundError(f"tags file not found: {tags_file}")
    result, new_state = segment_with_history(inputs, config, state, previous, edits)
    summary = run_summary(result, inputs, config)
    if truth_file is not None:
        summary["ariVsTruth"] = truth_ari(result.outlets, pl.read_csv(truth_file))
    paths = {}
    for name, data in export_files(result, new_state, summary).items():
        paths[name] = out / name
        paths[name].write_bytes(data)
    return SegmentsRunResult(result, summary, paths)
