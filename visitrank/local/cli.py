"""The `visitrank` command line: demo-data, run, evaluate."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from visitrank.adapters.open_source import open_source
from visitrank.contract.errors import ContractError
from visitrank.local import cli_check, cli_segments
from visitrank.local.arguments import (
    add_config_args,
    add_source_arg,
    add_source_settings_arg,
    add_today_arg,
    monday,
    run_config_from,
)
from visitrank.local.cli_backtest import add_parser as add_backtest_parser
from visitrank.local.cli_orders import add_parsers as add_order_parsers
from visitrank.local.problems import PROBLEMS_FILE, problem_lines
from visitrank.local.progress import progress_reporter
from visitrank.pipeline.run_config import RunConfigError

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_INPUT_ERROR = 2
EXIT_PARTIAL = 3

log = logging.getLogger("visitrank")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="visitrank", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    commands = parser.add_subparsers(dest="command", required=True)

    demo = commands.add_parser("demo-data", help="generate seeded demo MV_ tables + truth")
    demo.add_argument("out", type=Path)
    demo.add_argument("--outlets", type=int, default=2000)
    demo.add_argument("--reps", type=int, default=20)
    demo.add_argument("--skus", type=int, default=120)
    demo.add_argument("--weeks", type=int, default=104)
    demo.add_argument("--areas", type=int, default=4)
    demo.add_argument("--seed", type=int, default=7)
    demo.add_argument("--format", choices=["parquet", "csv"], default="parquet")
    demo.add_argument(
        "--visit-effect",
        type=float,
        default=0.0,
        help="plant a visit response: orders in the 4 weeks after a visit are larger by this "
        "relative lift x the outlet's hidden responsiveness (0..2, mean 1; truth/outlets.csv)",
    )
    demo.add_argument(
        "--conversion",
        type=float,
        default=0.0,
        help="plant pitch conversions: each visit closes each open planted gap of the outlet "
        "with this base probability x the channel's (off 0.5, on 1.5) and the SKU tier's "
        "(value 1.4, mainstream 1.0, premium 0.6) multipliers (truth: ClosedDate)",
    )
    demo.add_argument(
        "--dips",
        type=float,
        default=0.0,
        help="passing stock-outs per outlet and year: a carried SKU is not ordered for 6-12 "
        "weeks, then comes back (not an opportunity: pushing it is a false gap)",
    )
    demo.add_argument(
        "--churn",
        type=float,
        default=0.0,
        help="yearly hazard of a listing being replaced by another SKU of the same "
        "subcategory and tier at the same spend (not an opportunity); 1.0 gives real store "
        "sales' range churn (docs/real-data.md)",
    )

    run = commands.add_parser(
        "run", help="run the weekly job on a folder of MV_ tables or an ODBC database"
    )
    add_source_arg(run)
    add_source_settings_arg(run)
    run.add_argument("--out", type=Path, required=True)
    add_today_arg(run)
    run.add_argument(
        "--week-start",
        type=monday,
        help="the Monday to plan (default: the Monday after the last sales day)",
    )
    run.add_argument("--workers", type=int, default=min(4, os.cpu_count() or 1))
    run.add_argument(
        "--orders",
        action="store_true",
        help="also propose each customer's next order (OUT/orders.jsonl) and attach it to "
        "the visits as proposedOrder",
    )
    run.add_argument(
        "--no-segments",
        dest="segments",
        action="store_false",
        help="skip the behavioural segmentation (by default it runs as of the same day, writes "
        "its exports to OUT/segments and adds each visit's segment evidence)",
    )
    add_config_args(run)

    evaluate = commands.add_parser("evaluate", help="measure lists against planted truth")
    evaluate.add_argument("--truth", type=Path, required=True)
    evaluate.add_argument("--lists", type=Path, required=True)
    evaluate.add_argument(
        "--source", type=Path, help="the data folder (default: the truth file's folder's parent)"
    )
    evaluate.add_argument("--json", type=Path, help="also write the figures as JSON here")
    add_config_args(evaluate)
    cli_check.add_parser(commands)
    add_order_parsers(commands)
    add_backtest_parser(commands)
    cli_segments.add_parser(commands)
    return parser


def cmd_demo(args: argparse.Namespace) -> int:
    from visitrank.lab.demo_data import DemoSpec, write_demo  # each command loads its engine

    spec = DemoSpec(
        outlets=args.outlets,
        reps=args.reps,
        skus=args.skus,
        weeks=args.weeks,
        areas=args.areas,
        seed=args.seed,
        file_format=args.format,
        visit_effect=args.visit_effect,
        conversion=args.conversion,
        dips=args.dips,
        churn=args.churn,
    )
    summary = write_demo(spec, args.out)
    rows = ", ".join(f"{name} {count:,}" for name, count in summary.row_counts.items())
    print(f"demo data written to {args.out}: {rows}")
    print(
        f"planted {summary.planted_opportunities:,} opportunities at "
        f"{summary.planted_outlets:,} outlets worth {summary.planted_value_per_week:,.0f}/week "
        f"(truth in {args.out / 'truth'}); bad rows planted: {summary.bad_rows['counts']}"
    )
    if summary.closed_opportunities:
        print(f"{summary.closed_opportunities:,} more planted gaps were closed by visits")
    return EXIT_OK


def cmd_run(args: argparse.Namespace) -> int:
    from visitrank.local.run import run_local  # each command loads its engine

    config = run_config_from(args)
    try:
        with progress_reporter() as progress:
            result = run_local(
                open_source(args.source, settings_path=args.source_settings),
                args.out,
                config.scoring,
                week_start=args.week_start,
                workers=args.workers,
                progress=progress,
                order_config=config.orders if args.orders else None,
                segment_config=config.segmentation if args.segments else None,
                today=args.today,
            )
    except ContractError as error:
        report = args.out / PROBLEMS_FILE
        for line in problem_lines(error, report if report.is_file() else None):
            print(line, file=sys.stderr)
        return EXIT_INPUT_ERROR
    s = result.summary
    print(
        f"{s['status']}: {s['documents']} rep documents, {s['visits']} visits for week "
        f"{s['weekStart']} (as of {s['asOf']}); {s['quarantinedRows']} rows quarantined"
    )
    log.debug("timings (s): %s", json.dumps(s["timingsSeconds"]))
    if s["status"] == "failed":
        print(f"FAILED: {s.get('error')}", file=sys.stderr)
        for line in cli_check.findings_lines(s.get("health", [])):
            print(line, file=sys.stderr)
        print(f"summary: {args.out / 'run_summary.json'}", file=sys.stderr)
        return EXIT_INPUT_ERROR if s.get("health") else EXIT_FAILED
    print(f"lists: {result.lists_path}")
    if s.get("failedRegions"):
        print(f"FAILED regions: {s['failedRegions']} (see run_summary.json)", file=sys.stderr)
    for part in ("orders", "segments"):
        if s[part]["status"] == "failed":
            print(f"{part} FAILED: {s[part]['error']} (the lists are written)", file=sys.stderr)
    notes = [f for f in s.get("health", []) if f["severity"] != "info"]
    if notes:
        print(f"{len(notes)} finding(s) to look at (run_summary.json, health):")
        for line in cli_check.findings_lines(notes):
            print(line)
    return EXIT_OK if s["status"] == "complete" else EXIT_PARTIAL


def cmd_evaluate(args: argparse.Namespace) -> int:
    from visitrank.lab.evaluate import evaluate_files, format_report  # loaded on use

    config = run_config_from(args).scoring
    source = args.source or args.truth.resolve().parent.parent
    report = evaluate_files(args.truth, args.lists, source, config)
    print(format_report(report))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    handlers = {
        "demo-data": cmd_demo,
        "run": cmd_run,
        "check": cli_check.run,
        "evaluate": cmd_evaluate,
        "segments": cli_segments.run,
    }
    try:
        handler = handlers.get(args.command) or args.func
        return int(handler(args))
    except (ContractError, RunConfigError) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_INPUT_ERROR


if __name__ == "__main__":
    sys.exit(main())
