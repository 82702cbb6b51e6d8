"""The visit lists on real store sales with planted lost sales, over several seeds.

For each seed ``bench.real_data.stores`` plants gaps into the Complete Journey's store sales,
``visitrank run`` makes the lists, and ``visitrank.lab.evaluate`` scores them against the planted
truth: captured value, outlet share against the outlet baselines (top revenue, longest since
visit, random), SKU precision and recall at the visited outlets. The same world without a plant
is scored once: a push the unplanted data also produce, at any outlet, is a gap of the real data
(true or not, the plant cannot say), so **new-push precision** counts only the pushes the plant
created.

Usage: .venv/bin/python -m bench.real_data.list_eval [--seeds 1 2 3 4 5] [--set name=value ...]
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import tempfile
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import polars as pl

from bench.real_data import completejourney as cj
from bench.real_data import stores
from scoring.config import ScoringConfig
from visitrank.lab.backtest import score_as_of
from visitrank.lab.evaluate import evaluate, read_lists
from visitrank.local.run import run_local

# 4 reps of ~25 stores: a rep visits a third of its stores a week, so the choice matters
VISITS_PER_WEEK = 8


def run_lists(tables: dict[str, pl.DataFrame], work: Path, config: ScoringConfig) -> Path:
    """Writes the tables to ``work/src``, runs the weekly job into ``work/out``; the lists."""
    cj.write_tables(tables, work / "src")
    run_local(work / "src", work / "out", config, workers=1)
    return work / "out" / "visit_lists.jsonl"


def unplanted_pushes(
    tables: dict[str, pl.DataFrame], config: ScoringConfig, work: Path
) -> pl.DataFrame:
    """CustomerId, ItemId the scoring pushes at *every* outlet (visited or not) without a plant:
    a plant that changes which outlets are visited must not count their real gaps as new."""
    last = tables["MV_Sales"]["SaleDate"].max()
    assert isinstance(last, date)
    return pairs(score_as_of(tables, last + timedelta(days=1), config, work).skus)


def pairs(pushed: pl.DataFrame) -> pl.DataFrame:
    return pushed.select("CustomerId", "ItemId").unique()


def evaluate_seed(
    spec: stores.StoreSpec,
    lines: pl.DataFrame,
    base_pushed: pl.DataFrame,
    config: ScoringConfig,
    work: Path,
) -> dict[str, Any]:
    """One planted world: the evaluation's figures plus new-push precision and counts."""
    tables, truth = stores.build(spec, plant=True, lines=lines)
    visits, pushed, documents = read_lists(run_lists(tables, work, config))
    report = evaluate(truth, visits, pushed, documents, tables, config)
    new = pairs(pushed).join(pairs(base_pushed), on=["CustomerId", "ItemId"], how="anti")
    new_hits = new.join(truth, on=["CustomerId", "ItemId"], how="semi").height
    ours = report["visitrank"]
    return {
        "seed": spec.seed,
        "planted": truth.height,
        "captured": ours["capturedShare"],
        "outletShare": ours["outletShare"],
        "topRevenue": report["baselines"]["topRevenue"]["outletShare"],
        "longestSinceVisit": report["baselines"]["longestSinceVisit"]["outletShare"],
        "random": report["baselines"]["random"]["outletShare"],
        "skuPrecision": ours["skuPrecision"],
        "skuRecall": ours["skuRecall"],
        "newPushes": new.height,
        "newPushPrecision": round(new_hits / new.height, 4) if new.height else 0.0,
        "pushes": pushed.height,
        "kmPerVisit": ours["kmPerVisit"],
    }


COLUMNS = (
    "seed",
    "planted",
    "captured",
    "outletShare",
    "topRevenue",
    "longestSinceVisit",
    "random",
    "skuPrecision",
    "skuRecall",
    "newPushPrecision",
    "newPushes",
    "pushes",
)


def table(rows: list[dict[str, Any]]) -> str:
    """A markdown table of the rows plus their medians."""
    out = ["| " + " | ".join(COLUMNS) + " |", "|" + " --- |" * len(COLUMNS)]
    for row in rows:
        out.append("| " + " | ".join(str(row[c]) for c in COLUMNS) + " |")
    medians = [
        "median",
        *[str(round(statistics.median(r[c] for r in rows), 3)) for c in COLUMNS[1:]],
    ]
    out.append("| " + " | ".join(medians) + " |")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4, 5])
    parser.add_argument("--skus", type=int, default=stores.StoreSpec.n_skus)
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE")
    parser.add_argument("--json", type=Path, help="also write the rows as JSON")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    overrides: dict[str, Any] = {"visits_per_week": VISITS_PER_WEEK}
    for item in args.set:
        name, _, value = item.partition("=")
        overrides[name] = json.loads(value) if value not in ("", "null") else None
    config = ScoringConfig(**overrides)
    lines = cj.load_lines()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        base_spec = stores.StoreSpec(n_skus=args.skus)
        base_tables, _ = stores.build(base_spec, plant=False, lines=lines)
        base_pushed = unplanted_pushes(base_tables, config, Path(tmp) / "base")
        print(f"unplanted: {base_pushed.height} pushes at all outlets")
        for seed in args.seeds:
            spec = stores.StoreSpec(n_skus=args.skus, seed=seed)
            rows.append(evaluate_seed(spec, lines, base_pushed, config, Path(tmp) / f"s{seed}"))
            print(json.dumps(rows[-1]))
    print(table(rows))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
