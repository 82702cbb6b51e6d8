"""Orders activity: one region's proposed orders, staged in Blob for the publish step.

Why per region (like the scoring) rather than one activity for all outlets: ``propose_orders``
scores the region ``calibration_weeks`` before the as-of date (for the calibration) and, when
the region's scoring of this run failed, at the as-of date too (``OrderTask.scored``: otherwise
the week's staged scores are read, so the development lines are the SKUs the visits push), and
needs line-level history (up to two years for the item seasonality). One activity for
everything would be the run's critical path (the sum of all regions' scoring, in one process)
and hold every region's lines in one 4 GB instance; per region, the work runs in parallel and
memory stays one region.
Consequence: the calibration, the item-item similarity and the item seasonality are fitted on
the region's customers; ``visitrank order`` and the local run do the same
(``visitrank.pipeline.orders.propose_by_region``), so both drivers propose the same orders.

Reads the region from SQL (same coercion and quarantine as the scoring) from
``order_history_start`` to the week start, keeps only sales up to the as-of date, proposes the
orders and writes ``order_lines.parquet`` and ``order_customers.parquet`` under the region's
run folder. Input and output are small JSON.

Feedback: the proposal's lines are appended to ``orders/history/region=<areaId>.parquet``
(rerun of the same as-of replaces its lines), and the next run's proposal is adjusted by it,
like ``OUT/order_history.parquet`` of ``visitrank order``. A dry run does not touch it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from datetime import date
from typing import Any, Final

import polars as pl
from azure.core.exceptions import ResourceNotFoundError

from activities.score import SCORED_FILES
from scoring.orders import OrderProposal, propose_orders
from scoring.orders.development import WeekScores
from visitrank.adapters.app_settings import Settings
from visitrank.adapters.blob_scores import BlobScores
from visitrank.adapters.blob_staging import BlobStaging, region_paths
from visitrank.adapters.sql_source import SqlSource
from visitrank.pipeline.orders import merged_history, order_history_start, order_inputs
from visitrank.pipeline.payloads import OrderOutcome, OrderTask
from visitrank.pipeline.region import quarantine_region
from visitrank.pipeline.score_history import scoring_fingerprint

log = logging.getLogger("visitrank.orders")

ORDER_FILES: Final = {"lines": "order_lines.parquet", "customers": "order_customers.parquet"}
"""What the proposal of a region stages in its folder (``region_paths``), read by publish."""
HISTORY_PREFIX: Final = "orders/history"


def history_path(area_id: int) -> str:
    """The region's feedback history (past proposal lines) in the staging container."""
    return f"{HISTORY_PREFIX}/region={area_id}.parquet"


def read_history(staging: BlobStaging, area_id: int) -> pl.DataFrame | None:
    try:
        return staging.read_frame(history_path(area_id))
    except ResourceNotFoundError:
        return None


def staged_week_scores(staging: BlobStaging, task: OrderTask) -> WeekScores | None:
    """The region's scoring of this run, as the scoring activity staged it (``SCORED_FILES``),
    when the region scored; None (the activity scores the region itself) when it did not or
    its staged scores cannot be read."""
    if not task.scored:
        return None
    paths = region_paths(task.run_id, task.area_id, SCORED_FILES)
    try:
        skus, outlets = staging.read_frame(paths["skus"]), staging.read_frame(paths["outlets"])
    except Exception as error:
        log.warning("region %s: staged scores unreadable, scored again: %s", task.area_id, error)
        return None
    return WeekScores.from_scores(skus, outlets)


def kept_calibration_scores(staging: BlobStaging, task: OrderTask) -> WeekScores | None:
    """The region's week scores an earlier run kept about ``calibration_weeks`` before the
    as-of date, made with this scoring configuration (``KeptScores.calibration_scores``);
    None: the calibration scores the region itself."""
    return BlobScores(staging).calibration_scores(
        task.area_id,
        task.window.as_of,
        task.orders.calibration_weeks,
        scoring_fingerprint(task.scoring),
    )


def propose_region_orders(payload: dict[str, Any], settings: Settings) -> OrderOutcome:
    """Input: runId, areaId, weekStart, asOf, dryRun, config (scoring) and optional
    orderConfig (OrderConfig fields).

    Output: areaId, status "ok", paths {lines, customers}, customers, orders (customers with
    at least one line), lines, lines per kind, seconds. Raises on failure (retry policy)."""
    started = time.perf_counter()
    task = OrderTask.from_json(payload)
    area_id, as_of, week_start = task.area_id, task.window.as_of, task.window.week_start
    scoring, config = task.scoring, task.orders
    source = SqlSource.from_settings(settings)
    tables = source.read_region(area_id, order_history_start(as_of, config, scoring), week_start)
    checked = quarantine_region(tables, area_id)
    staging = BlobStaging.from_settings(settings)
    history = read_history(staging, area_id)
    usable = history.filter(pl.col("AsOf") < as_of) if history is not None else None
    proposal = propose_orders(
        order_inputs(checked.tables, as_of),
        as_of,
        config,
        scoring,
        history=usable,
        week_scores=staged_week_scores(staging, task),
        calibration_scores=(kept := kept_calibration_scores(staging, task)),
    )
    paths = region_paths(task.run_id, area_id, ORDER_FILES)
    staging.write_frame(paths["lines"], proposal.lines)
    staging.write_frame(paths["customers"], proposal.customers)
    if not task.dry_run:
        staging.write_frame(history_path(area_id), merged_history(history, proposal))
    kinds = proposal.lines.group_by("Kind").len().sort("Kind")
    return {
        "areaId": area_id,
        "status": "ok",
        "paths": paths,
        "customers": proposal.customers.height,
        "orders": proposal.lines["CustomerId"].n_unique(),
        "lines": proposal.lines.height,
        "kinds": dict(kinds.iter_rows()),
        "calibration": "scored" if kept is None else "kept",
        "seconds": round(time.perf_counter() - started, 3),
    }


def read_proposal(
    staging: BlobStaging, run_id: str, as_of: date, regions: Sequence[int]
) -> OrderProposal:
    """The staged proposals of several regions of the run as one OrderProposal (for
    ``order_documents``)."""
    paths = [region_paths(run_id, area, ORDER_FILES) for area in regions]
    lines = [staging.read_frame(path["lines"]) for path in paths]
    customers = [staging.read_frame(path["customers"]) for path in paths]
    return OrderProposal(
        as_of=as_of,
        lines=pl.concat(lines, how="vertical_relaxed"),
        customers=pl.concat(customers, how="vertical_relaxed"),
    )
