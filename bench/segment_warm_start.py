"""Weekly outlet segmentations chained through their state, warm start off and on.

For each setting, the data are cut at `weeks` consecutive weekly as-of dates ending at `last`,
and each run starts from the previous run's state and segments, as a weekly job into one OUT
does. Printed per run: k, how it was set, the segmentation's seconds, the adjusted Rand index
with the previous week's segments and, when the data have truth/outlets.csv, with the planted
tastes (docs/segments.md, "Warm start, measured").

    .venv/bin/python -m bench.segment_warm_start /tmp/rdm/baskets 2017-12-29 --weeks 8
"""

from __future__ import annotations

import argparse
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import polars as pl
from sklearn.metrics import adjusted_rand_score

from scoring.segmentation_config import SegmentationConfig
from visitrank.adapters.open_source import as_source
from visitrank.pipeline.segments import inputs_from_tables, segment_with_history


def _ari(a: pl.DataFrame, b: pl.DataFrame, column: str) -> float:
    joined = a.join(b, on="CustomerId")
    return round(
        float(adjusted_rand_score(joined["SegmentId"].to_list(), joined[column].to_list())), 3
    )


def chained(source: Path, last: date, weeks: int, warm: bool) -> list[dict[str, Any]]:
    """One row per weekly run (see module doc)."""
    tables = as_source(source).read_all()
    truth_file = source / "truth" / "outlets.csv"
    truth = pl.read_csv(truth_file).select("CustomerId", "Taste") if truth_file.is_file() else None
    config = SegmentationConfig(warm_start=warm)
    state: dict[str, Any] | None = None
    previous: pl.DataFrame | None = None
    rows = []
    for back in range(weeks - 1, -1, -1):
        inputs = inputs_from_tables(tables, config, last - timedelta(days=7 * back))
        started = time.perf_counter()
        result, state = segment_with_history(inputs, config, state, previous, None)
        seconds = time.perf_counter() - started
        labels = result.outlets.filter(pl.col("SegmentId") != "inactive").select(
            "CustomerId", "SegmentId"
        )
        rows.append(
            {
                "asOf": inputs.end.isoformat(),
                "k": result.info["k"],
                "kChosenBy": result.info["kChosenBy"],
                "seconds": round(seconds, 2),
                "ariLastWeek": None
                if previous is None
                else _ari(labels, previous.rename({"SegmentId": "Previous"}), "Previous"),
                "ariTruth": None if truth is None else _ari(labels, truth, "Taste"),
            }
        )
        previous = result.outlets.select("CustomerId", "SegmentId")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("source", type=Path)
    parser.add_argument("last", type=date.fromisoformat, help="the last as-of date")
    parser.add_argument("--weeks", type=int, default=6)
    args = parser.parse_args()
    for warm in (False, True):
        print("warm start" if warm else "searched every week")
        for row in chained(args.source, args.last, args.weeks, warm):
            print("  ", row)


if __name__ == "__main__":
    main()
