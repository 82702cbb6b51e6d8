"""Can the history tell which flagged gaps a *visit* converts? A study on generated worlds.

Sales ops asked for a per-pair conversion propensity learned from `MV_Visit` and the sales: does a
flagged gap close more after a visit than without one? This study measures whether the visits
and sales alone can say so, on demo worlds without a visit effect (the answer must be "no") and
with planted conversions (`demo-data --conversion`: each visit closes each open planted gap with
a probability that depends on the channel and the SKU tier; the answer should be "yes").

For every region, at up to 6 past cut-offs 8 weeks apart (whose whole look-back is in the
data, `past_cutoffs`), the pairs the scoring would have flagged
(scoring/gap_persistence.py `cutoff_features`) are examples; outcome: the share of the gap's
expected sales recovered over the next 8 weeks (at most 1). Treated: the outlet was visited in
the 3 weeks after the cut-off; control: not in the 8. Two comparisons, each as the treated
examples' recovery beyond a gradient-boosting model of the controls (out of fold by outlet),
minus the controls' own residual, with a 95% interval over outlets:

- visited vs unvisited: all treated against all controls;
- rhythm-matched: within strata of the outlet's visits in the 26 weeks before the cut-off
  (0, 1-2, 3-4, 5+), weighted by the treated examples (who is visited depends on the outlet).

A "signal" is an interval above +0.02. Printed per world: the regions with a signal under each
comparison, and the share of flagged gaps at visited outlets that are planted (with planted
conversions, visits close the planted gaps they meet, so the gaps still open at often-visited
outlets are mostly not the planted ones: the evidence erases itself).

Usage: .venv/bin/python -m bench.conversion_study [--data data/conversion_study]
(generates the worlds once; about 3 minutes on 2 cores). Results: docs/method.md.
"""

from __future__ import annotations

import argparse
import pickle
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import numpy as np
import polars as pl
from sklearn.ensemble import HistGradientBoostingRegressor

from scoring.config import ScoringConfig
from scoring.gap_persistence import (
    FEATURES,
    PairSales,
    cutoff_features,
    outlet_folds,
    past_cutoffs,
)
from scoring.pipeline import score_region
from visitrank.adapters.file_source import FileSource
from visitrank.adapters.local_stage import load_region, stage_from_source
from visitrank.lab.demo_data import DemoSpec, write_demo

ROOT = Path(__file__).resolve().parent.parent
HORIZON, TREATED, MIN_EFFECT = 8, 3, 0.02  # the cut-offs: `past_cutoffs` (6, 8 weeks apart)
STRATA = (0.5, 2.5, 4.5)  # visits in the 26 weeks before the cut-off: 0 | 1-2 | 3-4 | 5+
BASE = DemoSpec()
WORLDS: dict[str, DemoSpec] = {
    "default (no effect)": BASE,
    "seed 11 (no effect)": replace(
        BASE, seed=11, outlets=3000, reps=24, skus=150, weeks=80, areas=5
    ),
    "300 SKUs (no effect)": replace(BASE, skus=300),
    "52 weeks (no effect)": replace(BASE, weeks=52),
    "conversion 0.3": replace(BASE, conversion=0.3),
    "conversion 0.6": replace(BASE, conversion=0.6),
    "conversion 0.3, 2,000 outlets/region": replace(
        BASE, conversion=0.3, outlets=4000, reps=40, areas=2
    ),
}


def region_examples(folder: Path, work: Path, config: ScoringConfig) -> pl.DataFrame:
    """Every flagged pair at the past cut-offs of every region, with Area, FirstVisitDays
    (days from the cut-off to the outlet's next visit, null if none in 16 weeks), VisitsBefore,
    Recovery and Planted."""
    meta = work / "meta.pkl"
    if not meta.exists():
        staged = stage_from_source(FileSource(folder), work / "clean", work / "q", None, config)
        meta.write_bytes(pickle.dumps((staged.regions, staged.window)))
    regions, window = pickle.loads(meta.read_bytes())
    truth = pl.read_csv(folder / "truth" / "opportunities.csv", try_parse_dates=True)
    frames = []
    for area in regions:
        inputs = load_region(work / "clean", area)
        scores = score_region(inputs, window, config, keep_pairs=True)
        assert scores.pairs is not None
        pairs = scores.pairs.select("CustomerId", "ItemId", "PeerRatio", "CarryRate").join(
            inputs.items.select("ItemId", "UnitPrice"), on="ItemId"
        )
        channels = inputs.customers.select("CustomerId", "Channel")
        visits = inputs.visits
        if visits is None:
            continue
        sales = PairSales(pairs, inputs.lines, config)
        now = window.as_of + timedelta(days=1)
        for cutoff in past_cutoffs(sales.first_sale, now, config):
            flagged = cutoff_features(sales, channels, cutoff, config)
            after = sales.pairs.select(
                "CustomerId",
                "ItemId",
                After=sales.revenue(cutoff, cutoff + timedelta(weeks=HORIZON))[0],
            )
            upcoming = (
                visits.filter(
                    pl.col("VisitDate").is_between(
                        cutoff, cutoff + timedelta(weeks=16), closed="left"
                    )
                )
                .group_by("CustomerId")
                .agg(FirstVisitDays=(pl.col("VisitDate").min() - pl.lit(cutoff)).dt.total_days())
            )
            before = (
                visits.filter(
                    pl.col("VisitDate").is_between(
                        cutoff - timedelta(weeks=26), cutoff, closed="left"
                    )
                )
                .group_by("CustomerId")
                .agg(VisitsBefore=pl.len().cast(pl.Float64))
            )
            frames.append(
                flagged.join(after, on=["CustomerId", "ItemId"], how="left")
                .join(upcoming, on="CustomerId", how="left")
                .join(before, on="CustomerId", how="left")
                .with_columns(
                    pl.col("VisitsBefore").fill_null(0.0),
                    Recovery=(pl.col("After").fill_null(0.0) / HORIZON / pl.col("Expected")).clip(
                        0, 1
                    ),
                    Area=pl.lit(area),
                )
            )
    planted = truth.select("CustomerId", "ItemId", Planted=pl.lit(True))
    return (
        pl.concat(frames)
        .join(planted, on=["CustomerId", "ItemId"], how="left")
        .with_columns(pl.col("Planted").fill_null(False))
        .filter(pl.col("Recovery").is_finite())
    )


def visit_effect(examples: pl.DataFrame, matched: bool) -> tuple[float, float] | None:
    """(effect, 95% lower bound) of a visit on the recovery (module doc), None if too few."""
    treated = pl.col("FirstVisitDays") < 7 * TREATED
    control = pl.col("FirstVisitDays").is_null() | (pl.col("FirstVisitDays") >= 7 * HORIZON)
    frame = examples.filter(treated | control).with_columns(Visited=treated.fill_null(False))
    x, y = frame.select(FEATURES).to_numpy(), frame["Recovery"].to_numpy()
    visited = frame["Visited"].to_numpy()
    if visited.sum() < 60 or (~visited).sum() < 60:
        return None
    fold = outlet_folds(frame["CustomerId"], 3)
    residual = np.zeros(len(y))
    for k in range(3):
        train = (fold != k) & ~visited
        model = HistGradientBoostingRegressor(
            max_iter=100,
            max_leaf_nodes=15,
            min_samples_leaf=40,
            l2_regularization=1.0,
            random_state=0,
        ).fit(x[train], y[train])
        residual[fold == k] = y[fold == k] - model.predict(x[fold == k])
    stratum = np.digitize(frame["VisitsBefore"].to_numpy(), STRATA) if matched else np.zeros(len(y))
    per_outlet = (
        pl.DataFrame(
            {
                "CustomerId": frame["CustomerId"],
                "Visited": visited,
                "Residual": residual,
                "Stratum": stratum,
            }
        )
        .group_by("CustomerId", "Visited", "Stratum")
        .agg(pl.col("Residual").mean())
    )
    effects, variances, weights = [], [], []
    for s in np.unique(stratum):
        t = per_outlet.filter(pl.col("Visited") & (pl.col("Stratum") == s))["Residual"].to_numpy()
        c = per_outlet.filter(~pl.col("Visited") & (pl.col("Stratum") == s))["Residual"].to_numpy()
        if len(t) >= 5 and len(c) >= 5:
            effects.append(t.mean() - c.mean())
            variances.append(t.var(ddof=1) / len(t) + c.var(ddof=1) / len(c))
            weights.append(len(t))
    if not weights:
        return None
    w = np.array(weights) / sum(weights)
    effect = float(w @ np.array(effects))
    return effect, effect - 1.96 * float(np.sqrt(w**2 @ np.array(variances)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=ROOT / "data" / "conversion_study")
    args = parser.parse_args()
    config = ScoringConfig().with_overrides({"gap_persistence": False})
    print(
        f"{'world':<40}{'visited vs unvisited':>22}{'rhythm-matched':>18}{'planted at visited':>20}"
    )
    for name, spec in WORLDS.items():
        folder = args.data / name.split(" (")[0].replace(" ", "_").replace(",", "").replace(
            "/", "_"
        )
        if not (folder / "truth" / "opportunities.csv").exists():
            write_demo(spec, folder)
        examples = region_examples(folder, folder / "_work", config)
        found: dict[bool, list[bool]] = {True: [], False: []}
        for area in examples["Area"].unique().sort():
            region = examples.filter(pl.col("Area") == area)
            for matched in (False, True):
                result = visit_effect(region, matched)
                found[matched].append(result is not None and result[1] > MIN_EFFECT)
        visited = examples.filter(pl.col("FirstVisitDays") < 7 * TREATED)
        print(
            f"{name:<40}{sum(found[False]):>14} of {len(found[False]):<5}"
            f"{sum(found[True]):>10} of {len(found[True]):<5}{visited['Planted'].mean():>18.0%}"
        )


if __name__ == "__main__":
    main()
