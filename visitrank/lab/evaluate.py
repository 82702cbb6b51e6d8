"""`visitrank evaluate`: how much of the planted opportunity value the lists capture.

Figures (documented in README):
- captured share: planted value (per week) of the outlet x SKU pairs the lists visit *and push*,
  over the best possible: each rep's top-N outlets by planted value with every planted SKU pushed.
- outlet share: the same, counting every planted SKU of a visited outlet (what a baseline that
  only picks outlets could capture at best). Baselines are scored with this generous measure:
  random outlets (mean of 10 seeds), top revenue, longest since last visit.
- SKU precision / recall at the recommended outlets, and km per visit of each list set routed
  day by day with the same router (value-only, travel_tradeoff = 0) for the baselines.

With planted pitch conversions (`demo-data --conversion`), only the gaps still open at the end
count, each worth its gap x its conversion probability: what a visit is expected to unlock.
"""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from scoring.config import ScoringConfig
from scoring.routing import plan_weeks
from scoring.weekly_plan import routing_params
from visitrank.adapters.file_source import FileSource
from visitrank.contract.quarantine import quarantine
from visitrank.lab.demo_data import open_opportunities
from visitrank.pipeline.week import data_today

RANDOM_SEEDS = 10


def read_lists(path: Path) -> tuple[pl.DataFrame, pl.DataFrame, list[dict[str, Any]]]:
    """(visits: RepId, CustomerId; pushed: RepId, CustomerId, ItemId; documents) of a JSONL."""
    documents = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    visits = [
        {"RepId": d["repId"], "CustomerId": v["customerId"]} for d in documents for v in d["visits"]
    ]
    pushed = [
        {"RepId": d["repId"], "CustomerId": v["customerId"], "ItemId": s["itemId"]}
        for d in documents
        for v in d["visits"]
        for s in v["skus"]
    ]
    schema2 = {"RepId": pl.Int64, "CustomerId": pl.Int64}
    return (
        pl.DataFrame(visits, schema=schema2),
        pl.DataFrame(pushed, schema={**schema2, "ItemId": pl.Int64}),
        documents,
    )


def planted_values(truth: pl.DataFrame) -> pl.DataFrame:
    """The truth's pairs a visit can still capture, with Value: the weekly gap, times the
    conversion probability when conversions were planted (gaps closed before the end are gone)."""
    value = pl.col("GapValuePerWeek")
    if "ConversionProbability" in truth.columns:
        value = value * pl.col("ConversionProbability")
    return open_opportunities(truth).with_columns(Value=value)


def outlet_value(truth: pl.DataFrame) -> pl.DataFrame:
    """CustomerId, PlantedValue: planted value per week of each outlet (`planted_values`)."""
    return planted_values(truth).group_by("CustomerId").agg(PlantedValue=pl.col("Value").sum())


def captured(selection: pl.DataFrame, values: pl.DataFrame) -> float:
    """Planted value of the selected outlets (RepId, CustomerId)."""
    joined = selection.join(values, on="CustomerId", how="left")
    return float(joined["PlantedValue"].fill_null(0.0).sum())


def top_per_rep(scored: pl.DataFrame, column: str, counts: pl.DataFrame) -> pl.DataFrame:
    """Each rep's top `Visits` outlets by `column` (desc), ties by CustomerId."""
    ranked = scored.sort(["RepId", column, "CustomerId"], descending=[False, True, False])
    ranked = ranked.with_columns(_r=pl.int_range(1, pl.len() + 1).over("RepId"))
    return (
        ranked.join(counts, on="RepId")
        .filter(pl.col("_r") <= pl.col("Visits"))
        .select("RepId", "CustomerId")
    )


def km_per_visit(selection: pl.DataFrame, eligible: pl.DataFrame, config: ScoringConfig) -> float:
    """Km per visit of these outlets routed day by day (all of them, value-only routing)."""
    candidates = selection.join(
        eligible.select("CustomerId", "Latitude", "Longitude"), on="CustomerId"
    ).with_columns(Priority=pl.lit(1.0))
    params = routing_params(config.with_overrides({"travel_tradeoff": 0.0, "value_per_km": None}))
    visits, days = plan_weeks(candidates, params)
    return float(days["Km"].sum() / max(visits.height, 1))


def evaluate(
    truth: pl.DataFrame,
    visits: pl.DataFrame,
    pushed: pl.DataFrame,
    documents: list[dict[str, Any]],
    tables: dict[str, pl.DataFrame],
    config: ScoringConfig,
) -> dict[str, Any]:
    """The evaluation figures of one set of lists against the planted truth."""
    truth = planted_values(truth)
    clean = quarantine(tables).tables
    eligible = clean["MV_SetupCustomer"].filter(pl.col("Routable"))
    counts = visits.group_by("RepId").agg(Visits=pl.len())
    values = outlet_value(truth)
    pool = eligible.select("RepId", "CustomerId", "Latitude", "Longitude").join(
        counts.select("RepId"), on="RepId", how="semi"
    )

    best_sel = top_per_rep(
        pool.join(values, on="CustomerId", how="left").with_columns(
            pl.col("PlantedValue").fill_null(0.0)
        ),
        "PlantedValue",
        counts,
    )
    best = captured(best_sel, values)
    planted_pairs = truth.select("CustomerId", "ItemId").unique()
    hit_pairs = pushed.join(planted_pairs, on=["CustomerId", "ItemId"], how="semi")
    sku_value = float(hit_pairs.join(truth, on=["CustomerId", "ItemId"])["Value"].sum())
    planted_at_visits = planted_pairs.join(visits, on="CustomerId", how="semi")

    last_sale = clean["MV_Sales"]["SaleDate"].max()
    as_of = (
        date.fromisoformat(documents[0]["asOf"])
        if documents
        else data_today(last_sale if isinstance(last_sale, date) else None)
    )
    week_start = date.fromisoformat(documents[0]["weekStart"]) if documents else as_of
    window_start = as_of - timedelta(days=7 * config.lookback_weeks - 1)
    revenue = (
        clean["MV_Sales"]
        .filter(pl.col("SaleDate").is_between(window_start, as_of))
        .join(clean["MV_SalesDetail"], on="SaleId")
        .group_by("CustomerId")
        .agg(Revenue=pl.col("Amount").sum())
    )
    last_visit = (
        clean["MV_Visit"]
        .filter(pl.col("VisitDate") < week_start)
        .group_by("CustomerId")
        .agg(Last=pl.col("VisitDate").max())
    )
    top_revenue = top_per_rep(
        pool.join(revenue, on="CustomerId", how="left").with_columns(
            pl.col("Revenue").fill_null(0.0)
        ),
        "Revenue",
        counts,
    )
    longest = top_per_rep(
        pool.join(last_visit, on="CustomerId", how="left").with_columns(
            Staleness=(pl.lit(week_start) - pl.col("Last")).dt.total_days().fill_null(10**6)
        ),
        "Staleness",
        counts,
    )
    random_values, random_km = [], []
    for seed in range(RANDOM_SEEDS):
        rng = np.random.default_rng(seed)
        draw = pool.with_columns(Draw=pl.Series(rng.random(pool.height)))
        chosen = top_per_rep(draw, "Draw", counts)
        random_values.append(captured(chosen, values))
        if seed == 0:
            random_km.append(km_per_visit(chosen, eligible, config))

    km_total = sum(float(d["summary"]["km"]) for d in documents)
    ours_visits = max(visits.height, 1)

    def share(value: float) -> float:
        return round(value / best, 4) if best > 0 else 0.0

    return {
        "reps": len(documents),
        "visits": visits.height,
        "bestPossibleValuePerWeek": round(best, 2),
        "plantedValuePerWeek": round(float(truth["Value"].sum()), 2),
        "visitrank": {
            "capturedShare": share(sku_value),
            "outletShare": share(captured(visits, values)),
            "skuPrecision": round(hit_pairs.height / pushed.height, 4) if pushed.height else 0.0,
            "skuRecall": round(hit_pairs.height / planted_at_visits.height, 4)
            if planted_at_visits.height
            else 0.0,
            "kmPerVisit": round(km_total / ours_visits, 2),
        },
        "bestPossible": {
            "outletShare": 1.0,
            "kmPerVisit": round(km_per_visit(best_sel, eligible, config), 2),
        },
        "baselines": {
            "random": {
                "outletShare": share(float(np.mean(random_values))),
                "kmPerVisit": round(random_km[0], 2),
            },
            "topRevenue": {
                "outletShare": share(captured(top_revenue, values)),
                "kmPerVisit": round(km_per_visit(top_revenue, eligible, config), 2),
            },
            "longestSinceVisit": {
                "outletShare": share(captured(longest, values)),
                "kmPerVisit": round(km_per_visit(longest, eligible, config), 2),
            },
        },
    }


def evaluate_files(
    truth_path: Path, lists_path: Path, source: Path, config: ScoringConfig
) -> dict[str, Any]:
    """Reads the truth, the lists and the source tables, then evaluates."""
    truth = pl.read_csv(truth_path)
    visits, pushed, documents = read_lists(lists_path)
    return evaluate(truth, visits, pushed, documents, FileSource(source).read_all(), config)


def format_report(report: dict[str, Any]) -> str:
    """A plain-text table of the evaluation."""
    ours = report["visitrank"]
    lines = [
        f"Evaluation: {report['reps']} reps, {report['visits']} visits; best possible planted "
        f"value {report['bestPossibleValuePerWeek']:.0f}/week",
        f"{'lists':<22}{'captured':>10}{'outlet share':>14}{'km/visit':>10}",
        f"{'visitrank':<22}{ours['capturedShare']:>10.3f}{ours['outletShare']:>14.3f}"
        f"{ours['kmPerVisit']:>10.2f}",
        f"{'best possible':<22}{1.0:>10.3f}{1.0:>14.3f}"
        f"{report['bestPossible']['kmPerVisit']:>10.2f}",
    ]
    for name, figures in report["baselines"].items():
        lines.append(
            f"{'baseline ' + name:<22}{'-':>10}{figures['outletShare']:>14.3f}"
            f"{figures['kmPerVisit']:>10.2f}"
        )
    lines.append(
        f"SKU precision {ours['skuPrecision']:.3f}, SKU recall {ours['skuRecall']:.3f} "
        "at the recommended outlets"
    )
    return "\n".join(lines)
