"""`visitrank order`: the proposed order per customer, on the contract tables (a folder of
files or an ODBC database: `visitrank.adapters.open_source`).

Reads the tables (`visitrank.pipeline.orders.load_order_inputs`: cut at the as-of date, rows
set aside to `OUT/quarantine/`), proposes the orders region by region as the Azure run does
(`visitrank.pipeline.orders.propose_by_region`) and writes `OUT/orders.jsonl`, one document
per customer.

Feedback: every run appends its lines to `OUT/order_history.parquet`; the next run (a later
as-of) compares them with the orders that followed and adjusts its probabilities.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import date
from functools import partial
from pathlib import Path

import polars as pl

from scoring.config import ScoringConfig
from scoring.orders import OrderConfig
from scoring.orders.development import WeekScores
from visitrank.adapters.local_stage import write_quarantine
from visitrank.adapters.open_source import as_source
from visitrank.contract.source import TableSource
from visitrank.pipeline.orders import (
    Mapper,
    load_order_inputs,
    merged_history,
    order_documents,
    propose_by_region,
)

ORDERS = "orders.jsonl"
HISTORY = "order_history.parquet"


def run_orders(
    source: TableSource | Path,
    out_dir: Path,
    config: OrderConfig,
    scoring: ScoringConfig | None,
    *,
    as_of: date | None = None,
    customer_id: int | None = None,
    history_path: Path | None = None,
    mapper: Mapper = map,
    week_scores: Mapping[int, WeekScores] | None = None,
    calibration_scores: Mapping[int, WeekScores] | None = None,
) -> tuple[Path, int, date]:
    """Proposes the orders from `source` (a TableSource, or a folder of files) and writes
    OUT/orders.jsonl; returns (path, documents, as_of). `mapper` runs the regions
    (`propose_by_region`: the weekly run passes its worker pool's, its own scoring of the
    regions as `week_scores` and the kept scores of an earlier week as
    `calibration_scores`)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    loaded = load_order_inputs(
        as_source(source), as_of, partial(write_quarantine, folder=out_dir / "quarantine")
    )
    history_path = history_path or out_dir / HISTORY
    history = pl.read_parquet(history_path) if history_path.is_file() else None
    usable = history.filter(pl.col("AsOf") < loaded.as_of) if history is not None else None
    proposal = propose_by_region(
        loaded.inputs,
        loaded.as_of,
        config,
        scoring,
        history=usable,
        customer_ids=[customer_id] if customer_id is not None else None,
        mapper=mapper,
        week_scores=week_scores,
        calibration_scores=calibration_scores,
    )
    documents = order_documents(proposal)
    path = out_dir / ORDERS
    with path.open("w", encoding="utf-8") as handle:
        for document in documents:
            handle.write(json.dumps(document, ensure_ascii=False) + "\n")
    merged_history(history, proposal).write_parquet(history_path)
    return path, len(documents), loaded.as_of
