"""`visitrank segments` and the weekly run's segmentation, on a local folder or ODBC database.

Loads the contract tables (or takes a weekly run's staged rows), segments every outlet
(`visitrank.pipeline.segments`) against the history kept in the out folder (state, tags) and
writes every export there. Edit `segment_tags.json` (or pass another file with `--tags`) and
re-run: the segments that are the same keep their edits; the summary says which are new,
merged, split or retired.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import polars as pl

from scoring.segmentation import Segmentation, catalogue
from scoring.segmentation_config import SegmentationConfig
from visitrank.adapters.local_stage import StagedInputs, staged_purchases, write_quarantine
from visitrank.adapters.open_source import as_source
from visitrank.contract.source import TableSource
from visitrank.pipeline.segments import (
    STATE_FILE,
    STATE_OUTLETS,
    TAGS_FILE,
    SegmentInputs,
    export_files,
    inputs_from_tables,
    run_summary,
    segment_with_history,
    truth_ari,
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
    source: TableSource | Path,
    out: Path,
    config: SegmentationConfig,
    tags_file: Path | None = None,
    truth_file: Path | None = None,
    as_of: date | None = None,
) -> SegmentsRunResult:
    """The whole local command (see the module docstring) on `source` (a TableSource, or a
    folder of files)."""
    out.mkdir(parents=True, exist_ok=True)
    tables = as_source(source).read_all()
    inputs = inputs_from_tables(
        tables, config, as_of, partial(write_quarantine, folder=out / "quarantine")
    )
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
