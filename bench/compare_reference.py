"""`make bench-reference`: the polars engine against the pandas reference, stage by stage.

For each size (bench/generate.py; data generated once into DATA/<size>/, as `make bench`), both
implementations score every region of the country with the same comparison config (`CONFIG`:
`benchmark = "segment_median"`, `gap_persistence` off, every other field at its default; see
bench/pandas_reference.py for what is ported) and route each rep's week:

- polars: the engine as the weekly run uses it, region by region in one process (no worker
  pool, like the reference): read + validate + quarantine + stage (visitrank.adapters.local_stage),
  each
  region's read (visitrank.adapters.local_stage.load_region), `scoring.pipeline.score_region` timed
  by its own step timer, then each rep's Top-30 by priority and `scoring.weekly_plan.plan_visits`;
- pandas: bench/pandas_reference.py `run` (pandas.read_parquet ... the same router).

Each run is a fresh process (`--repeat` runs of each, alternated; medians). Printed: wall
seconds per stage for both and the ratio pandas / polars, the data stages (load, aggregate,
index, rank), end to end (the whole run, files to routed weeks) and its CPU seconds (all
threads: polars uses both cores, pandas mostly one). The engine's load also validates,
quarantines and stages the data (and reads each region back), which the reference does not:
"(load, same work)" times polars doing only what the reference's load does (the same reads,
joins and split by region), and "(data, same load)" the data stages with it. Then the
agreement of the first runs: per rep, is the routed Top-30 the same set (and the Top-30 by
priority), are the SKUs to push of those outlets the same (in order); the share of outlets with
identical pushed SKUs, priority and segment, the largest priority difference, identical routes,
identical visit-response summaries. Written to bench/results/reference_<size>.json.

Usage: .venv/bin/python -m bench.compare_reference [--sizes S M] [--repeat 3] [--data data/bench]
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import pandas as pd

from bench import pandas_reference as ref
from bench.run import ensure_data

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
# the learned steps (benchmark, gap persistence) are not ported to the reference
# the substitution cap is off by default but ported: the comparison exercises it
CONFIG: dict[str, Any] = {
    "benchmark": "segment_median",
    "gap_persistence": False,
    "substitution_cap": True,
}
STAGES = ref.STAGES
DATA_STAGES = ("load", "aggregate", "index", "rank")
ENGINES = ("polars", "pandas")
TOP_N_COLUMNS = ["RepId", "CustomerId"]


@dataclass(frozen=True)
class Outputs:
    """What a run produced (pandas frames, for the comparison) and its timings."""

    timings: dict[str, float]
    outlets: pd.DataFrame  # CustomerId, RepId, AreaId, Segment, Priority, PushedSkus, ...
    skus: pd.DataFrame  # CustomerId, ItemId, SkuRank, GapValue
    top: pd.DataFrame  # RepId, CustomerId: each rep's Top-30 by priority
    visits: pd.DataFrame  # RepId, CustomerId, Rank, Day, RouteOrder: each rep's routed week
    responses: dict[int, Any]
    pairs: pd.DataFrame | None = None  # CustomerId, ItemId, IndexScore, GapValue (optional)
    detail: dict[str, float] | None = None


OUTLET_COLUMNS = [
    "CustomerId",
    "RepId",
    "AreaId",
    "Segment",
    "Priority",
    "OpportunityValue",
    "PushedSkus",
    "RecencyWeight",
]
SKU_COLUMNS = ["CustomerId", "ItemId", "SkuRank", "GapValue"]
VISIT_COLUMNS = ["RepId", "CustomerId", "Rank", "Day", "RouteOrder"]
PAIR_COLUMNS = ["CustomerId", "ItemId", "IndexScore", "GapValue"]


def config() -> Any:
    """The comparison config."""
    from scoring.config import ScoringConfig

    return ScoringConfig().with_overrides(CONFIG)


def polars_run(source: Path, keep_pairs: bool = False) -> Outputs:
    """The engine on `source`, region by region in this process (see module doc)."""
    import polars as pl

    from scoring.pipeline import score_region
    from scoring.weekly_plan import plan_visits
    from visitrank.adapters import local_stage
    from visitrank.adapters import local_stage as staging
    from visitrank.adapters.file_source import FileSource
    from visitrank.local import region_job

    cfg = config()
    timings: dict[str, float] = dict.fromkeys(STAGES, 0.0)
    detail: dict[str, float] = {"read": 0.0, "stage": 0.0, "regionReads": 0.0}
    outlets, skus, pairs, responses = [], [], [], {}
    with tempfile.TemporaryDirectory(prefix="vr-reference-") as tmp:
        files = FileSource(source)
        # as the weekly run stages: streaming the sales lines where the engine has it
        streaming = hasattr(staging, "stage_from_source") and hasattr(staging, "read_small_tables")
        with ref.timed(timings, "load"), ref.timed(detail, "read"):
            tables = staging.read_small_tables(files) if streaming else files.read_all()
        with ref.timed(timings, "load"), ref.timed(detail, "stage"):
            work, quarantined = Path(tmp) / "clean", Path(tmp) / "quarantine"
            if streaming:
                staged = staging.stage_from_source(
                    files, work, quarantined, None, cfg, small_tables=tables
                )
            else:
                staged = staging.stage_inputs(tables, work, quarantined, None, cfg)
        del tables
        for area in staged.regions:
            with ref.timed(timings, "load"), ref.timed(detail, "regionReads"):
                inputs = local_stage.load_region(staged.work_dir, area)
            scores = score_region(
                inputs,
                staged.window,
                cfg,
                step_timer=partial(region_job.timed_step, timings),
                keep_pairs=keep_pairs,
            )
            outlets.append(scores.outlets)
            skus.append(scores.skus)
            if keep_pairs and scores.pairs is not None:
                pairs.append(scores.pairs.select(PAIR_COLUMNS))
            responses[area] = scores.response
    every = pl.concat(outlets, how="vertical_relaxed")
    with ref.timed(timings, "route"):
        top = (
            every.filter(
                pl.col("Routable")
                & pl.col("RepId").is_not_null()
                & pl.col("Priority").is_not_null()
            )
            .sort(["RepId", "Priority", "CustomerId"], descending=[False, True, False])
            .group_by("RepId", maintain_order=True)
            .head(cfg.visits_per_week)
            .select(TOP_N_COLUMNS)
        )
        visits, _ = plan_visits(every, cfg)
    detail["quarantinedRows"] = sum(sum(r.values()) for r in staged.quarantine_counts.values())
    return Outputs(
        timings=timings,
        outlets=every.select(OUTLET_COLUMNS).to_pandas(),
        skus=pl.concat(skus, how="vertical_relaxed").select(SKU_COLUMNS).to_pandas(),
        top=top.to_pandas(),
        visits=visits.select(VISIT_COLUMNS).to_pandas(),
        responses=responses,
        pairs=pl.concat(pairs).to_pandas() if pairs else None,
        detail=detail,
    )


def polars_same_load(source: Path) -> float:
    """Seconds polars takes for the reference's load (the same reads, joins and split by
    region, without the engine's validation, quarantine and staging): the like-for-like load."""
    from datetime import date

    import polars as pl

    from scoring.inputs import ScoringWindow, next_monday

    cfg = config()
    started = time.perf_counter()
    lat, lon = pl.col("Latitude"), pl.col("Longitude")
    customers = pl.read_parquet(
        source / "MV_SetupCustomer.parquet",
        columns=["CustomerId", "AreaId", "Latitude", "Longitude", "Channel", "RepId"],
    ).with_columns(
        pl.col("Channel").str.strip_chars().str.to_uppercase(),
        Routable=lat.is_finite()
        & lon.is_finite()
        & (lat.abs() <= 90)
        & (lon.abs() <= 180)
        & ~((lat == 0) & (lon == 0)),
    )
    items = pl.read_parquet(
        source / "MV_SetupItem.parquet", columns=["ItemId", "SubCategoryId", "UnitPrice"]
    ).join(
        pl.read_parquet(
            source / "MV_SetupSubCategory.parquet", columns=["SubCategoryId", "CategoryId"]
        ),
        on="SubCategoryId",
        how="left",
    )
    sales = pl.read_parquet(
        source / "MV_Sales.parquet", columns=["SaleId", "CustomerId", "SaleDate"]
    )
    visits = pl.read_parquet(source / "MV_Visit.parquet", columns=["CustomerId", "VisitDate"])
    last_sale = sales["SaleDate"].max()
    if not isinstance(last_sale, date):
        raise ValueError(f"no sales in {source}")
    window = ScoringWindow.for_week(next_monday(last_sale), last_sale, cfg)
    lines = (
        sales.lazy()
        .filter(pl.col("SaleDate").is_between(window.history_start, window.as_of))
        .join(
            pl.scan_parquet(source / "MV_SalesDetail.parquet").select(
                "SaleId", "ItemId", "Quantity", "Amount"
            ),
            on="SaleId",
        )
        .join(customers.lazy().select("CustomerId", "AreaId"), on="CustomerId")
        .drop("SaleId")
        .collect()
    )
    before = visits.filter(pl.col("VisitDate") < window.week_start)
    last_visits = before.group_by("CustomerId").agg(LastVisitDate=pl.col("VisitDate").max())
    history = (
        before.filter(pl.col("VisitDate") >= window.history_start)
        .unique()
        .sort("CustomerId", "VisitDate")
    )
    by_area = lines.partition_by("AreaId", as_dict=True)
    regions = []
    for (area,), group in customers.sort("CustomerId").partition_by("AreaId", as_dict=True).items():
        ids = group.select("CustomerId")
        regions.append(
            (
                group,
                by_area.get((area,), lines.clear()),
                last_visits.join(ids, on="CustomerId", how="semi"),
                history.join(ids, on="CustomerId", how="semi"),
            )
        )
    if not (items.height and regions):
        raise ValueError(f"no items or regions in {source}")
    return time.perf_counter() - started


def pandas_run(source: Path, keep_pairs: bool = False) -> Outputs:
    """The pandas reference on `source`."""
    result = ref.run(source, config(), keep_pairs=keep_pairs)
    return Outputs(
        timings=result.timings,
        outlets=result.outlets[OUTLET_COLUMNS],
        skus=result.skus[SKU_COLUMNS],
        top=result.top[TOP_N_COLUMNS],
        visits=result.visits[VISIT_COLUMNS],
        responses=result.responses,
        pairs=result.pairs[PAIR_COLUMNS] if keep_pairs else None,
    )


def _pushed_lists(skus: pd.DataFrame) -> pd.Series:
    """CustomerId -> the tuple of ItemIds to push, in SkuRank order."""
    ordered = skus.sort_values(["CustomerId", "SkuRank"])
    return ordered.groupby("CustomerId")["ItemId"].agg(tuple)


def _sets(frame: pd.DataFrame) -> pd.Series:
    """RepId -> frozenset of CustomerIds."""
    return frame.groupby("RepId")["CustomerId"].agg(frozenset)


def _share_same(a: pd.Series, b: pd.Series) -> tuple[float, int]:
    """Share of the union of keys whose values are equal in a and b, and the number of keys."""
    keys = a.index.union(b.index)
    left, right = a.reindex(keys), b.reindex(keys)
    same = sum(x == y for x, y in zip(left, right, strict=True))
    return (same / len(keys) if len(keys) else 1.0), len(keys)


def agreement(polars: Outputs, pandas: Outputs) -> dict[str, Any]:
    """How far the two runs agree (see module doc)."""
    outlets = polars.outlets.merge(
        pandas.outlets, on="CustomerId", how="outer", suffixes=("_pl", "_pd"), indicator=True
    )
    both = outlets["_merge"] == "both"
    diff = (outlets["Priority_pl"] - outlets["Priority_pd"]).abs()
    scale = outlets[["Priority_pl", "Priority_pd"]].abs().max(axis=1)
    relative = (diff / scale).where(scale > 0, 0.0)
    pushed_pl, pushed_pd = _pushed_lists(polars.skus), _pushed_lists(pandas.skus)
    every = pd.Index(outlets["CustomerId"])
    pushed_same = pushed_pl.reindex(every).fillna("").astype(str) == pushed_pd.reindex(
        every
    ).fillna("").astype(str)
    routed_pl, routed_pd = _sets(polars.visits), _sets(pandas.visits)
    top_pl, top_pd = _sets(polars.top), _sets(pandas.top)
    reps = routed_pl.index.union(routed_pd.index).union(top_pl.index).union(top_pd.index)
    same_pushed = pushed_same.set_axis(every)

    def rep_pushed_same(rep: Any) -> bool:
        members = routed_pl.get(rep, frozenset()) | routed_pd.get(rep, frozenset())
        return bool(all(same_pushed.get(c, False) for c in members))

    routes_pl = polars.visits.sort_values(["RepId", "Day", "RouteOrder"])
    routes_pd = pandas.visits.sort_values(["RepId", "Day", "RouteOrder"])
    same_routes = routes_pl.reset_index(drop=True).equals(routes_pd.reset_index(drop=True))
    routed_share, _ = _share_same(routed_pl, routed_pd)
    top_share, _ = _share_same(top_pl, top_pd)
    result: dict[str, Any] = {
        "reps": len(reps),
        "outlets": len(every),
        "outletsInBoth": int(both.sum()),
        "repsRoutedTop30Identical": routed_share,
        "repsTop30ByPriorityIdentical": top_share,
        "repsPushedSkusIdentical": sum(rep_pushed_same(r) for r in reps) / max(1, len(reps)),
        "outletsPushedSkusIdentical": float(pushed_same.mean()),
        "outletsPriorityIdentical": float(
            (outlets["Priority_pl"] == outlets["Priority_pd"]).mean()
        ),
        "outletsSegmentIdentical": float((outlets["Segment_pl"] == outlets["Segment_pd"]).mean()),
        "maxPriorityAbsDiff": float(diff.max()) if len(diff) else 0.0,
        "maxPriorityRelDiff": float(relative.max()) if len(relative) else 0.0,
        "routesIdentical": bool(same_routes),
        "responsesIdentical": _responses_same(polars.responses, pandas.responses),
    }
    if polars.pairs is not None and pandas.pairs is not None:
        pairs = polars.pairs.merge(
            pandas.pairs, on=["CustomerId", "ItemId"], how="outer", suffixes=("_pl", "_pd")
        )
        result["pairs"] = len(pairs)
        for column in ("IndexScore", "GapValue"):
            left, right = pairs[f"{column}_pl"], pairs[f"{column}_pd"]
            same = (left == right) | (left.isna() & right.isna())
            result[f"pairs{column}Identical"] = float(same.mean())
    return result


def _responses_same(polars: dict[int, Any], pandas: dict[int, Any]) -> bool:
    """The regions' visit-response summaries agree (signal, effect, CI, outlets)."""
    keys = ("signal", "effect", "ci95", "outlets")
    for area in set(polars) | set(pandas):
        left, right = polars.get(area), pandas.get(area)
        if (left is None) != (right is None):
            return False
        if left is not None and right is not None and any(left[k] != right[k] for k in keys):
            return False
    return True


# --- processes ------------------------------------------------------------------------------


def _save(outputs: Outputs, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("outlets", "skus", "top", "visits"):
        getattr(outputs, name).to_parquet(folder / f"{name}.parquet")
    extra = {"timings": outputs.timings, "detail": outputs.detail, "responses": outputs.responses}
    (folder / "run.json").write_text(json.dumps(extra, default=str))


def _load(folder: Path) -> Outputs:
    extra = json.loads((folder / "run.json").read_text())
    frames = {
        n: pd.read_parquet(folder / f"{n}.parquet") for n in ("outlets", "skus", "top", "visits")
    }
    return Outputs(
        timings=extra["timings"],
        responses={int(k): v for k, v in extra["responses"].items()},
        detail=extra["detail"],
        **frames,
    )


def _child(engine: str, source: Path, out: Path) -> dict[str, Any]:
    """One run of `engine` in a fresh process; its outputs in `out`, returns its timings."""
    subprocess.run(
        [sys.executable, "-m", "bench.compare_reference", "--one", engine, str(source), str(out)],
        cwd=ROOT,
        check=True,
    )
    answer: dict[str, Any] = json.loads((out / "answer.json").read_text())
    return answer


def _cpu_seconds() -> float:
    """User + system CPU seconds of this process so far (every thread)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run_one(engine: str, source: Path, out: Path) -> None:
    """In the child: imports done, runs one engine, saves its outputs and timings."""
    from visitrank.local.region_job import peak_rss_mb

    started, cpu = time.perf_counter(), _cpu_seconds()
    outputs = polars_run(source) if engine == "polars" else pandas_run(source)
    total, cpu = time.perf_counter() - started, _cpu_seconds() - cpu
    if engine == "polars" and outputs.detail is not None:
        outputs.detail["sameLoad"] = polars_same_load(source)
    _save(outputs, out)
    answer = {
        "engine": engine,
        "endToEnd": round(total, 3),
        "cpuSeconds": round(cpu, 3),
        "stages": {k: round(v, 3) for k, v in outputs.timings.items()},
        "detail": outputs.detail,
        "peakRssMb": peak_rss_mb(),
    }
    (out / "answer.json").write_text(json.dumps(answer))


def compare_size(size: str, data: Path, repeat: int) -> dict[str, Any]:
    """Generates (once) and compares one size; returns medians, every run and the agreement."""
    source = ensure_data(size, data)
    runs: dict[str, list[dict[str, Any]]] = {e: [] for e in ENGINES}
    with tempfile.TemporaryDirectory(prefix="vr-compare-") as tmp:
        for attempt in range(repeat):
            for engine in ENGINES:
                out = Path(tmp) / f"{engine}-{attempt}"
                runs[engine].append(_child(engine, source, out))
                print(
                    f"{size} {engine} run {attempt + 1}/{repeat}: "
                    f"{runs[engine][-1]['endToEnd']:.1f} s",
                    flush=True,
                )
        agree = agreement(_load(Path(tmp) / "polars-0"), _load(Path(tmp) / "pandas-0"))
    median = {
        engine: {
            "stages": {s: statistics.median(r["stages"][s] for r in runs[engine]) for s in STAGES},
            "endToEnd": statistics.median(r["endToEnd"] for r in runs[engine]),
            "cpuSeconds": statistics.median(r["cpuSeconds"] for r in runs[engine]),
            "peakRssMb": max(r["peakRssMb"] for r in runs[engine]),
        }
        for engine in ENGINES
    }
    for m in median.values():
        m["dataStages"] = round(sum(m["stages"][s] for s in DATA_STAGES), 3)
    polars = median["polars"]
    polars["sameLoad"] = round(
        statistics.median(r["detail"]["sameLoad"] for r in runs["polars"]), 3
    )
    polars["loadParts"] = {
        part: round(statistics.median(r["detail"][part] for r in runs["polars"]), 3)
        for part in ("read", "stage", "regionReads")
    }
    polars["dataStagesSameLoad"] = round(
        polars["dataStages"] - polars["stages"]["load"] + polars["sameLoad"], 3
    )
    return {
        "size": size,
        "config": CONFIG,
        "repeat": repeat,
        "median": median,
        "ratio": ratios(median),
        "agreement": agree,
        "runs": runs,
    }


def ratios(median: dict[str, Any]) -> dict[str, float | None]:
    """pandas seconds / polars seconds per stage, data stages and end to end."""
    pl_, pd_ = median["polars"], median["pandas"]
    out: dict[str, float | None] = {}
    for stage in STAGES:
        a, b = pl_["stages"][stage], pd_["stages"][stage]
        out[stage] = round(b / a, 2) if a > 0 else None
    out["dataStages"] = round(pd_["dataStages"] / pl_["dataStages"], 2)
    if "sameLoad" in pl_:
        out["sameLoad"] = round(pd_["stages"]["load"] / pl_["sameLoad"], 2)
        out["dataStagesSameLoad"] = round(pd_["dataStages"] / pl_["dataStagesSameLoad"], 2)
    out["endToEnd"] = round(pd_["endToEnd"] / pl_["endToEnd"], 2)
    out["cpuSeconds"] = round(pd_["cpuSeconds"] / pl_["cpuSeconds"], 2)
    return out


def print_result(result: dict[str, Any]) -> None:
    """The side-by-side table and the agreement of one size."""
    m, ratio = result["median"], result["ratio"]
    rows = [
        [
            stage,
            f"{m['polars']['stages'][stage]:.2f}",
            f"{m['pandas']['stages'][stage]:.2f}",
            "-" if ratio[stage] is None else f"{ratio[stage]:.1f}x",
        ]
        for stage in STAGES
    ]
    rows.append(
        [
            "data stages",
            f"{m['polars']['dataStages']:.2f}",
            f"{m['pandas']['dataStages']:.2f}",
            f"{ratio['dataStages']:.1f}x",
        ]
    )
    if "sameLoad" in m["polars"]:
        rows.insert(
            1,
            [
                "(load, same work)",
                f"{m['polars']['sameLoad']:.2f}",
                f"{m['pandas']['stages']['load']:.2f}",
                f"{ratio['sameLoad']:.1f}x",
            ],
        )
        rows.append(
            [
                "(data, same load)",
                f"{m['polars']['dataStagesSameLoad']:.2f}",
                f"{m['pandas']['dataStages']:.2f}",
                f"{ratio['dataStagesSameLoad']:.1f}x",
            ]
        )
    rows.append(
        [
            "end to end",
            f"{m['polars']['endToEnd']:.2f}",
            f"{m['pandas']['endToEnd']:.2f}",
            f"{ratio['endToEnd']:.1f}x",
        ]
    )
    rows.append(
        [
            "end to end, CPU s",
            f"{m['polars']['cpuSeconds']:.2f}",
            f"{m['pandas']['cpuSeconds']:.2f}",
            f"{ratio['cpuSeconds']:.1f}x",
        ]
    )
    head = ["stage", "polars s", "pandas s", "pandas/polars"]
    widths = [max(len(str(x)) for x in col) for col in zip(head, *rows, strict=True)]
    print(f"\n{result['size']} (medians of {result['repeat']}, config {result['config']})")
    for row in [head, *rows]:
        print("  ".join(str(x).rjust(w) for x, w in zip(row, widths, strict=True)))
    a = result["agreement"]
    print(
        f"agreement: {a['reps']} reps, "
        f"routed Top-30 identical {a['repsRoutedTop30Identical']:.1%}, "
        f"Top-30 by priority identical {a['repsTop30ByPriorityIdentical']:.1%}, "
        f"pushed SKUs identical {a['repsPushedSkusIdentical']:.1%} of reps / "
        f"{a['outletsPushedSkusIdentical']:.1%} of {a['outlets']} outlets, "
        f"priority identical {a['outletsPriorityIdentical']:.1%} of outlets "
        f"(largest difference {a['maxPriorityAbsDiff']:.3g}, relative "
        f"{a['maxPriorityRelDiff']:.3g}), routes identical {a['routesIdentical']}, "
        f"visit response identical {a['responsesIdentical']}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sizes", nargs="+", default=["S", "M"])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--data", type=Path, default=ROOT / "data" / "bench")
    parser.add_argument(
        "--one", nargs=3, metavar=("ENGINE", "SOURCE", "OUT"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.one:
        engine, source, out = args.one
        run_one(engine, Path(source), Path(out))
        return
    RESULTS.mkdir(parents=True, exist_ok=True)
    results = []
    for size in args.sizes:
        result = compare_size(size, args.data, args.repeat)
        (RESULTS / f"reference_{size}.json").write_text(json.dumps(result, indent=2, default=str))
        print_result(result)
        results.append(result)


if __name__ == "__main__":
    main()
