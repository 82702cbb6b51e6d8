"""Next-order evaluation on real baskets (households of *The Complete Journey* as customers).

For each cut-off date `at` (a Monday): `visitrank order` runs on every household with data up
to the day before (a separate process, timed wall clock), its `orders.jsonl` is read back and
scored with `visitrank.lab.order_backtest.compare` against each household's first order on or
after `at`, beside the baselines (personal top-frequency at its median order size and at
visitrank's length, repeat-last, global popularity, TIFU-KNN at visitrank's length).

Default cut-offs: 2017-09-04, 2017-10-16 and 2017-11-27, six weeks apart, late enough that the
26-week look-back and the 8-week calibration fit inside the year (2017-01-01 onward) and
before the Christmas weeks, with a next order for almost every household.

    python -m bench.real_data.baskets /tmp/cj_baskets
    python -m bench.real_data.order_eval --source /tmp/cj_baskets [--no-scoring] \\
        [--at 2017-09-04 --at 2017-10-16 --at 2017-11-27] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import polars as pl

from scoring.orders import OrderConfig
from visitrank.adapters.file_source import FileSource
from visitrank.lab.order_backtest import compare
from visitrank.local.orders import ORDERS
from visitrank.pipeline.orders import load_order_inputs

CUT_OFFS = (date(2017, 9, 4), date(2017, 10, 16), date(2017, 11, 27))
SHOWN = (
    "visitrank",
    "top_frequency_same_length",
    "tifu_knn",
    "top_frequency",
    "repeat_last",
    "global_popularity",
)


def run_order(source: Path, out: Path, as_of: date, no_scoring: bool) -> tuple[float, Path]:
    """Runs `visitrank order` in its own process; returns (wall seconds, orders.jsonl)."""
    command = [sys.executable, "-m", "visitrank.local.cli", "order", "--source", str(source)]
    command += ["--out", str(out), "--as-of", as_of.isoformat()]
    if no_scoring:
        command.append("--no-scoring")
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start, out / ORDERS


def read_proposal(path: Path) -> tuple[pl.DataFrame, int, dict[str, int]]:
    """(lines: CustomerId, ItemId, Quantity, Rank, Kind; documents; empty reasons -> count)
    of an orders.jsonl."""
    rows: list[tuple[int, int, float, int, str]] = []
    reasons: dict[str, int] = {}
    documents = 0
    for text in path.read_text(encoding="utf-8").splitlines():
        document = json.loads(text)
        documents += 1
        if not document["lines"]:
            reason = str(document.get("emptyReason", "none given")).split(":")[0]
            reasons[reason] = reasons.get(reason, 0) + 1
        for rank, line in enumerate(document["lines"], start=1):
            rows.append(
                (document["customerId"], line["itemId"], line["quantity"], rank, line["kind"])
            )
    schema = {
        "CustomerId": pl.Int64,
        "ItemId": pl.Int64,
        "Quantity": pl.Float64,
        "Rank": pl.Int64,
        "Kind": pl.String,
    }
    return pl.DataFrame(rows, schema=schema, orient="row"), documents, reasons


def evaluate(source: Path, cut_offs: list[date], no_scoring: bool) -> dict[str, Any]:
    """Per cut-off reports (`compare` + seconds, documents, emptyReasons) and medians."""
    lines = load_order_inputs(FileSource(source), None).inputs.lines
    config = OrderConfig()
    reports = []
    with tempfile.TemporaryDirectory() as tmp:
        for at in cut_offs:
            as_of = at - timedelta(days=1)
            seconds, path = run_order(source, Path(tmp) / at.isoformat(), as_of, no_scoring)
            proposal, documents, reasons = read_proposal(path)
            report = compare(lines, at, proposal, config)
            report |= {"seconds": seconds, "documents": documents, "emptyReasons": reasons}
            reports.append(report)
            print(format_cut_off(report), flush=True)
    return {"scoring": not no_scoring, "cutOffs": reports, "medians": medians(reports)}


def medians(reports: list[dict[str, Any]]) -> dict[str, Any]:
    """Median over the cut-offs of every method's F1, precision, recall and NDCG, of the
    F1 ratio to top_frequency_same_length and tifu_knn, of the empty share and timing."""
    out: dict[str, Any] = {}
    for name in reports[0]["methods"]:
        out[name] = {
            key: statistics.median(r["methods"][name]["all"][key] for r in reports)
            for key in ("f1", "precision", "recall", "ndcg", "lines_proposed")
        }
    for base in ("top_frequency_same_length", "tifu_knn"):
        out[f"f1_ratio_vs_{base}"] = statistics.median(
            r["methods"]["visitrank"]["all"]["f1"] / r["methods"][base]["all"]["f1"]
            for r in reports
        )
    for key in ("emptyShare", "meanLines", "seconds"):
        out[key] = statistics.median(r[key] for r in reports)
    return out


def format_cut_off(report: dict[str, Any]) -> str:
    """One cut-off as a Markdown table."""
    head = (
        f"\n### Cut-off {report['at']} (data up to {report['asOf']}): "
        f"{report['customersWithNextOrder']} households with a next order; `visitrank order` "
        f"{report['seconds']:.1f} s; empty proposals {100 * report['emptyShare']:.1f} % "
        f"({report['emptyReasons'] or 'none'}); mean lines {report['meanLines']:.1f}\n\n"
        "| method | F1 | precision | recall | NDCG | F1 / top-freq same length | lines |\n"
        "| --- | --- | --- | --- | --- | --- | --- |\n"
    )
    base = report["methods"]["top_frequency_same_length"]["all"]["f1"]
    rows = []
    for name in SHOWN:
        a = report["methods"][name]["all"]
        rows.append(
            f"| {name} | {a['f1']:.4f} | {a['precision']:.4f} | {a['recall']:.4f} | "
            f"{a['ndcg']:.4f} | {a['f1'] / base:.3f} | {int(a['lines_proposed'])} |"
        )
    return head + "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, required=True)
    parser.add_argument("--at", type=date.fromisoformat, action="append", help="a cut-off")
    parser.add_argument("--no-scoring", action="store_true", help="skip the development part")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON here")
    args = parser.parse_args(argv)
    result = evaluate(args.source, args.at or list(CUT_OFFS), args.no_scoring)
    m = result["medians"]
    print(
        f"\nMedians over the cut-offs: visitrank F1 {m['visitrank']['f1']:.4f}, "
        f"x{m['f1_ratio_vs_top_frequency_same_length']:.3f} top-frequency (same length), "
        f"x{m['f1_ratio_vs_tifu_knn']:.3f} TIFU-KNN; empty {100 * m['emptyShare']:.1f} %; "
        f"mean lines {m['meanLines']:.1f}; visitrank order {m['seconds']:.1f} s"
    )
    if args.json:
        args.json.write_text(json.dumps(result, indent=2, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
