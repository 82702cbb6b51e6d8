"""`visitrank backtest`: score as of a past date, then measure against what happened after.

No look-ahead: every dated table is cut at `at` right after loading (`cut_tables`: sales and
their lines before `at`, visits before `at`) and the scoring only ever sees the cut tables. The
sales from `at` over `horizon` weeks are read separately, only to measure the outcome.

No truth file is needed. Per outlet x SKU of the scored grid the realised **growth** is its
weekly revenue over the horizon minus its weekly revenue over the look-back window before `at`.
A **gap-closed event** is a pair whose horizon sales clearly exceed its past rate: at least
`CLOSE_RATIO` x the past weekly units and more than `CLOSE_Z` Poisson standard deviations above
them. Methods compared side by side:

* the configured scoring (learned potential by default) and the segment-mean indexation
  (`benchmark = "segment_median"`): their pushed SKUs are the flagged gaps (precision / recall of
  gap-closed events, Spearman rank correlation of the gap value with the growth over all pairs);
* outlet-only baselines (top revenue, longest since visit, random): no SKU flags.

For the Top-N lists every method picks each rep's top `visits_per_week` routable outlets
(visitrank and the segment mean by priority); the figure is the mean weekly revenue growth per
recommended outlet against the mean of the rep's other outlets (lift = difference).
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from scipy.stats import spearmanr

from adapters.file_source import FileSource
from scoring.config import ScoringConfig
from scoring.inputs import next_monday
from scoring.pipeline import RegionScores, score_region
from visitrank import region_job
from visitrank.quarantine import quarantine
from visitrank.staging import stage_inputs

CLOSE_RATIO = 2.0
CLOSE_Z = 2.0
RANDOM_SEEDS = 10
DATED = {"MV_Sales": "SaleDate", "MV_Visit": "VisitDate"}


def cut_tables(tables: dict[str, pl.DataFrame], at: date) -> dict[str, pl.DataFrame]:
    """The tables as they were before `at`: sales (and their lines) and visits dated before it."""
    cut = dict(tables)
    for name, column in DATED.items():
        if name in cut:
            cut[name] = cut[name].filter(pl.col(column) < at)
    if "MV_SalesDetail" in cut and "MV_Sales" in cut:
        cut["MV_SalesDetail"] = cut["MV_SalesDetail"].join(
            cut["MV_Sales"].select("SaleId"), on="SaleId", how="semi"
        )
    return cut


@dataclass(frozen=True)
class AsOfScores:
    """The scores of every region as of the cut-off (outlets, pushed skus, all pairs)."""

    outlets: pl.DataFrame
    skus: pl.DataFrame
    pairs: pl.DataFrame
    as_of: date
    window_start: date
    week_start: date


def score_as_of(
    tables: dict[str, pl.DataFrame], at: date, config: ScoringConfig, work_dir: Path
) -> AsOfScores:
    """Scores every region with only the rows dated before `at` (cut here, before anything)."""
    past = cut_tables(tables, at)
    week_start = at if at.weekday() == 0 else next_monday(at)
    staged = stage_inputs(past, work_dir / "clean", work_dir / "quarantine", week_start, config)
    results: list[RegionScores] = [
        score_region(region_job.load_region(staged.work_dir, area), staged.window, config)
        for area in staged.regions
    ]
    return AsOfScores(
        outlets=pl.concat([r.outlets for r in results], how="vertical_relaxed"),
        skus=pl.concat([r.skus for r in results], how="vertical_relaxed"),
        pairs=pl.concat([r.pairs for r in results if r.pairs is not None], how="vertical_relaxed"),
        as_of=staged.window.as_of,
        window_start=staged.window.window_start,
        week_start=staged.window.week_start,
    )


def pair_sales(
    tables: dict[str, pl.DataFrame], start: date, end: date, weeks: float
) -> pl.DataFrame:
    """CustomerId, ItemId, weekly Revenue and Units over [start, end]."""
    return (
        tables["MV_Sales"]
        .filter(pl.col("SaleDate").is_between(start, end))
        .select("SaleId", "CustomerId")
        .join(
            tables["MV_SalesDetail"].select("SaleId", "ItemId", "Quantity", "Amount"), on="SaleId"
        )
        .group_by("CustomerId", "ItemId")
        .agg(Revenue=pl.col("Amount").sum() / weeks, Units=pl.col("Quantity").sum() / weeks)
    )


def outcomes(
    clean: dict[str, pl.DataFrame], scored: AsOfScores, at: date, horizon: int
) -> pl.DataFrame:
    """Every scored pair with Before / After weekly revenue, Growth and Closed (event)."""
    before_weeks = ((scored.as_of - scored.window_start).days + 1) / 7.0
    before = pair_sales(clean, scored.window_start, scored.as_of, before_weeks)
    after = pair_sales(clean, at, at + timedelta(days=7 * horizon - 1), float(horizon))
    pairs = (
        scored.pairs.select("CustomerId", "ItemId", "GapValue")
        .join(before, on=["CustomerId", "ItemId"], how="left")
        .join(after, on=["CustomerId", "ItemId"], how="left", suffix="After")
        .with_columns(pl.col("Revenue", "Units", "RevenueAfter", "UnitsAfter").fill_null(0.0))
    )
    past_units = pl.col("Units") * horizon
    after_units = pl.col("UnitsAfter") * horizon
    closed = (after_units >= CLOSE_RATIO * past_units) & (
        after_units > past_units + CLOSE_Z * past_units.sqrt() + 1.0
    )
    return pairs.with_columns(Growth=pl.col("RevenueAfter") - pl.col("Revenue"), Closed=closed)


def flag_metrics(pairs: pl.DataFrame, pushed: pl.DataFrame) -> dict[str, float]:
    """Precision / recall of the pushed SKUs on gap-closed events, and the Spearman correlation
    of the gap value with the realised growth over all pairs."""
    flagged = pairs.join(
        pushed.select("CustomerId", "ItemId").with_columns(Flag=pl.lit(True)),
        on=["CustomerId", "ItemId"],
        how="left",
    ).with_columns(pl.col("Flag").fill_null(False))
    hits = int((flagged["Flag"] & flagged["Closed"]).sum())
    n_flag, n_closed = int(flagged["Flag"].sum()), int(flagged["Closed"].sum())
    rho = spearmanr(flagged["GapValue"].fill_null(0.0), flagged["Growth"]).statistic
    return {
        "flagged": n_flag,
        "closedEvents": n_closed,
        "precision": round(hits / n_flag, 4) if n_flag else 0.0,
        "recall": round(hits / n_closed, 4) if n_closed else 0.0,
        "spearman": round(float(rho), 4) if np.isfinite(rho) else 0.0,
    }


def top_lift(outlets: pl.DataFrame, score: str, growth: pl.DataFrame, n: int) -> dict[str, float]:
    """Mean weekly revenue growth of each rep's top-n outlets by `score` vs its other outlets."""
    ranked = (
        outlets.join(growth, on="CustomerId", how="left")
        .with_columns(pl.col("OutletGrowth").fill_null(0.0))
        .sort(["RepId", score, "CustomerId"], descending=[False, True, False])
        .with_columns(Top=pl.int_range(pl.len()).over("RepId") < n)
    )
    top = ranked.filter(pl.col("Top"))["OutletGrowth"].mean()
    rest = ranked.filter(~pl.col("Top"))["OutletGrowth"].mean()
    top_f = float(top) if isinstance(top, int | float) else 0.0
    rest_f = float(rest) if isinstance(rest, int | float) else 0.0
    return {
        "recommendedGrowth": round(top_f, 2),
        "otherGrowth": round(rest_f, 2),
        "lift": round(top_f - rest_f, 2),
    }


def backtest(
    source: Path, at: date, horizon: int, config: ScoringConfig, work_dir: Path | None = None
) -> dict[str, Any]:
    """Scores as of `at` (configured method and segment-mean indexation) and measures both and
    the outlet baselines against the `horizon` weeks after it."""
    tables = FileSource(source).read_all()
    clean = quarantine(tables).tables
    methods = {
        "visitrank": config,
        "segmentMean": config.with_overrides({"benchmark": "segment_median"}),
    }
    with tempfile.TemporaryDirectory(dir=work_dir) as tmp:
        scored = {
            name: score_as_of(tables, at, cfg, Path(tmp) / name) for name, cfg in methods.items()
        }
    first = scored["visitrank"]
    pair_frames = {name: outcomes(clean, s, at, horizon) for name, s in scored.items()}
    growth = (
        pair_frames["visitrank"].group_by("CustomerId").agg(OutletGrowth=pl.col("Growth").sum())
    )
    routable = first.outlets.filter(pl.col("Routable"))
    n = config.visits_per_week
    last_visit = (
        cut_tables(clean, at)["MV_Visit"].group_by("CustomerId").agg(Last=pl.col("VisitDate").max())
    )
    base = (
        routable.select("CustomerId", "RepId", "WeeklyRevenue")
        .join(last_visit, on="CustomerId", how="left")
        .with_columns(
            Staleness=(pl.lit(first.week_start) - pl.col("Last")).dt.total_days().fill_null(10**6)
        )
    )
    rows: dict[str, dict[str, Any]] = {}
    for name, s in scored.items():
        rows[name] = {
            **flag_metrics(pair_frames[name], s.skus),
            **top_lift(
                s.outlets.filter(pl.col("Routable")).select("CustomerId", "RepId", "Priority"),
                "Priority",
                growth,
                n,
            ),
        }
    rows["topRevenue"] = top_lift(base, "WeeklyRevenue", growth, n)
    rows["longestSinceVisit"] = top_lift(base, "Staleness", growth, n)
    random_lifts = [
        top_lift(
            base.with_columns(Draw=pl.Series(np.random.default_rng(seed).random(base.height))),
            "Draw",
            growth,
            n,
        )
        for seed in range(RANDOM_SEEDS)
    ]
    rows["random"] = {
        key: round(float(np.mean([r[key] for r in random_lifts])), 2) for key in random_lifts[0]
    }
    return {
        "at": at.isoformat(),
        "asOf": first.as_of.isoformat(),
        "horizonWeeks": horizon,
        "benchmark": config.benchmark,
        "pairs": pair_frames["visitrank"].height,
        "closedEvents": int(pair_frames["visitrank"]["Closed"].sum()),
        "methods": rows,
    }


def format_table(report: dict[str, Any]) -> str:
    """A plain-text side-by-side table of the backtest."""
    header = (
        f"{'method':<20}{'flagged':>9}{'precision':>11}{'recall':>9}{'spearman':>10}"
        f"{'top growth':>12}{'others':>10}{'lift':>10}"
    )
    lines = [header]
    for name, row in report["methods"].items():
        lines.append(
            f"{name:<20}{_cell(row, 'flagged', 9, 'd')}{_cell(row, 'precision', 11, '.3f')}"
            f"{_cell(row, 'recall', 9, '.3f')}{_cell(row, 'spearman', 10, '.3f')}"
            f"{_cell(row, 'recommendedGrowth', 12, '.2f')}{_cell(row, 'otherGrowth', 10, '.2f')}"
            f"{_cell(row, 'lift', 10, '.2f')}"
        )
    return "\n".join(lines)


def _cell(row: dict[str, Any], key: str, width: int, fmt: str) -> str:
    """One right-aligned table cell ("-" when the method has no such figure)."""
    return f"{row[key]:>{width}{fmt}}" if key in row else f"{'-':>{width}}"
