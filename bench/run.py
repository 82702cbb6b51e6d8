"""`make bench`: end-to-end wall time per stage, peak RSS and the floor, per size.

For each size (bench/generate.py) the data are generated once into DATA/<size>/, then the weekly
run (`visitrank.local.run.run_local`, 2 worker processes, as `visitrank run`) is run `--repeat`
times, each in a fresh process so peak RSS is its own; the floor (one polars scan + join +
group-by of the sales lines to outlet x SKU) is timed in a fresh process too. Printed as a table
(medians over the repeats) and written to bench/results/<size>.json.

Stages (wall seconds; the regions run in parallel on W workers, so a region step counts for its
summed seconds over the regions / W, and what is left of the score_regions wall is "other"):
load (read + validate + quarantine + stage + the regions' reads), aggregate, segment,
expectation, index, rank (region ranking + fan-in), route, write (region staging + documents +
JSON lines), other (worker start-up and imbalance).

With `--whole`, the whole weekly job as `make run` runs it: the lists, the proposed orders and
the segmentation (`visitrank run --orders`); the orders' regions run on the worker pool while
the main process segments, so the table adds their walls ("orders", "segments") and the wall of
the two together ("orders+segments", what they add to end-to-end).

Usage: .venv/bin/python -m bench.run [--sizes S M] [--repeat 3] [--data data/bench]
       [--set benchmark=segment_median] [--whole]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
STAGES = (
    "load",
    "aggregate",
    "segment",
    "expectation",
    "index",
    "rank",
    "route",
    "write",
    "other",
)
WHOLE_STAGES = {
    "orders": "orders",
    "segments": "segments",
    "orders+segments": "orders_and_segments",
}
"""The whole job's stages beside the lists (`--whole`): table column -> timings key."""
REGION_STEPS = ("load", "aggregate", "segment", "expectation", "index", "rank", "write")


def _rss_mb() -> float:
    """Peak RSS of this process (VmHWM on Linux, see region_job.peak_rss_mb)."""
    from visitrank.local.region_job import peak_rss_mb

    return peak_rss_mb()


def stage_times(
    summary: dict[str, Any], workers: int, outcomes: list[dict[str, Any]] | None = None
) -> dict[str, float]:
    """The run's wall seconds per bench stage (see the module docstring); `outcomes`: the
    regions' outcomes with their steps (`RunResult.region_outcomes`; default: the summary's)."""
    top = summary["timingsSeconds"]
    regions = [r for r in outcomes or summary["regions"] if r["status"] == "ok"]
    step_sums = {s: sum(r["steps"].get(s, 0.0) for r in regions) for s in REGION_STEPS}
    parallel = max(1, min(workers, len(regions)))
    wall = top["score_regions"]
    share = {s: v / parallel for s, v in step_sums.items()}
    out = {
        "load": top["load_and_validate"] + top["quarantine_and_stage"] + share["load"],
        "aggregate": share["aggregate"],
        "segment": share["segment"],
        "expectation": share["expectation"],
        "index": share["index"],
        "rank": share["rank"] + top["fan_in"],
        "route": top["rank_and_route"],
        "write": share["write"] + top["documents"] + top["write_lists"],
        "other": wall - sum(share.values()),
    }
    return {k: round(v, 3) for k, v in out.items()}


def run_once(
    source: Path, overrides: dict[str, Any], workers: int, whole: bool = False
) -> dict[str, Any]:
    """One weekly run in this process (with `whole`, orders and segments too): stage times,
    peak RSS of this process and its workers."""
    from scoring.config import ScoringConfig
    from scoring.orders import OrderConfig
    from scoring.segmentation_config import SegmentationConfig
    from visitrank.local.run import run_local

    config = ScoringConfig().with_overrides(overrides)
    with tempfile.TemporaryDirectory(prefix="vr-bench-") as out:
        started = time.perf_counter()
        result = run_local(
            source,
            Path(out),
            config,
            workers=workers,
            order_config=OrderConfig() if whole else None,
            segment_config=SegmentationConfig() if whole else None,
        )
        total = time.perf_counter() - started
    summary = result.summary
    regions = [r for r in result.region_outcomes if r["status"] == "ok"]
    return {
        "status": result.status,
        "endToEnd": round(total, 3),
        "stages": stage_times(summary, workers, result.region_outcomes),
        "timings": summary["timingsSeconds"],
        "regions": len(summary["regions"]),
        "documents": summary["documents"],
        "lines": summary["inputRows"]["MV_SalesDetail"],
        "outlets": summary["inputRows"]["MV_SetupCustomer"],
        "regionSteps": {
            s: round(sum(r["steps"].get(s, 0.0) for r in regions), 3) for s in REGION_STEPS
        },
        "maxRegionSeconds": max((r["seconds"] for r in regions), default=0.0),
        "mainPeakRssMb": _rss_mb(),
        "workerPeakRssMb": max((r["workerPeakRssMb"] for r in regions), default=0.0),
    }


def floor_once(source: Path) -> dict[str, Any]:
    """One polars scan + join + group-by of the sales lines to outlet x SKU."""
    import polars as pl

    started = time.perf_counter()
    totals = (
        pl.scan_parquet(source / "MV_SalesDetail.parquet")
        .join(pl.scan_parquet(source / "MV_Sales.parquet"), on="SaleId")
        .group_by("CustomerId", "ItemId")
        .agg(pl.col("Quantity").sum(), pl.col("Amount").sum())
        .collect()
    )
    return {
        "floor": round(time.perf_counter() - started, 3),
        "pairs": totals.height,
        "peakRssMb": _rss_mb(),
    }


def _child(args: list[str]) -> dict[str, Any]:
    """Runs `python -m bench.run <args>` in a fresh process; returns its JSON answer."""
    with tempfile.NamedTemporaryFile(suffix=".json") as answer:
        subprocess.run(
            [sys.executable, "-m", "bench.run", *args, "--answer", answer.name],
            cwd=ROOT,
            check=True,
        )
        result: dict[str, Any] = json.loads(Path(answer.name).read_text())
        return result


def ensure_data(size: str, data: Path) -> Path:
    """DATA/<size>, generated by bench/generate.py the first time it is needed."""
    source = data / size
    if not (source / "MV_SalesDetail.parquet").exists():
        started = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "bench.generate", size, str(source)], cwd=ROOT, check=True
        )
        print(f"{size}: generated in {time.perf_counter() - started:.1f} s", flush=True)
    return source


def bench_size(
    size: str,
    data: Path,
    repeat: int,
    overrides: dict[str, Any],
    workers: int,
    whole: bool = False,
) -> dict[str, Any]:
    """Generates (once) and runs one size; returns the medians and every run."""
    source = ensure_data(size, data)
    one = ["--one", str(source), "--set-json", json.dumps(overrides), "--workers", str(workers)]
    one += ["--whole"] if whole else []
    runs = [_child(one) for _ in range(repeat)]
    floors = [_child(["--floor", str(source)]) for _ in range(repeat)]
    median = {
        "endToEnd": statistics.median(r["endToEnd"] for r in runs),
        "stages": {s: statistics.median(r["stages"][s] for r in runs) for s in STAGES},
        "whole": {
            name: statistics.median(r["timings"].get(key, 0.0) for r in runs)
            for name, key in WHOLE_STAGES.items()
        },
        "floor": statistics.median(f["floor"] for f in floors),
        "mainPeakRssMb": max(r["mainPeakRssMb"] for r in runs),
        "workerPeakRssMb": max(r["workerPeakRssMb"] for r in runs),
    }
    median["endToEndOverFloor"] = round(median["endToEnd"] / median["floor"], 1)
    return {
        "size": size,
        "lines": runs[0]["lines"],
        "outlets": runs[0]["outlets"],
        "regions": runs[0]["regions"],
        "workers": workers,
        "config": overrides,
        "median": median,
        "runs": runs,
        "floors": floors,
    }


def print_table(results: list[dict[str, Any]]) -> None:
    """One row per size: stage medians, end-to-end, floor, ratio, peak RSS."""
    whole = [name for name in WHOLE_STAGES if any(r["whole"] for r in results)]
    head = ["size", "lines", *STAGES, *whole, "e2e", "floor", "e2e/floor", "RSS main", "RSS worker"]
    rows = []
    for r in results:
        m = r["median"]
        rows.append(
            [
                r["size"],
                f"{r['lines'] / 1e6:.1f}M",
                *(f"{m['stages'][s]:.1f}" for s in STAGES),
                *(f"{m['whole'][name]:.1f}" for name in whole),
                f"{m['endToEnd']:.1f}",
                f"{m['floor']:.2f}",
                f"{m['endToEndOverFloor']:.1f}",
                f"{m['mainPeakRssMb'] / 1024:.2f}G",
                f"{m['workerPeakRssMb'] / 1024:.2f}G",
            ]
        )
    widths = [max(len(str(x)) for x in col) for col in zip(head, *rows, strict=True)]
    for row in [head, *rows]:
        print("  ".join(str(x).rjust(w) for x, w in zip(row, widths, strict=True)))
    print("(seconds, medians; RSS = max peak of the main process / of one worker process)")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sizes", nargs="+", default=["S", "M"])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--data", type=Path, default=ROOT / "data" / "bench")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--set-json", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--one", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--floor", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--answer", type=Path, help=argparse.SUPPRESS)
    parser.add_argument(
        "--whole", action="store_true", help="also propose the orders and segment (as make run)"
    )
    args = parser.parse_args()
    overrides: dict[str, Any] = json.loads(args.set_json) if args.set_json else {}
    for item in args.set:
        key, _, value = item.partition("=")
        overrides[key] = value
    if args.one or args.floor:
        answer = (
            run_once(args.one, overrides, args.workers, args.whole)
            if args.one
            else floor_once(args.floor)
        )
        args.answer.write_text(json.dumps(answer))
        return
    RESULTS.mkdir(parents=True, exist_ok=True)
    results = []
    for size in args.sizes:
        result = bench_size(size, args.data, args.repeat, overrides, args.workers, args.whole)
        result["whole"] = args.whole
        (RESULTS / f"{size}.json").write_text(json.dumps(result, indent=2))
        results.append(result)
        print_table([result])
    print()
    print_table(results)


if __name__ == "__main__":
    main()
