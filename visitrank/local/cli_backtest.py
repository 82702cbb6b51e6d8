"""The `backtest` command (wired into `visitrank.local.cli` by `add_parser`; handler in `func`)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from visitrank.local.arguments import add_config_args, iso_date, run_config_from

EXIT_OK = 0


def add_parser(subparsers: Any) -> None:
    """Adds `backtest` to the visitrank sub-commands (`args.func(args)` returns the exit code)."""
    parser = subparsers.add_parser(
        "backtest",
        help="score as of a past date with only the data before it; measure the weeks after",
    )
    parser.add_argument("--source", type=Path, required=True)
    parser.add_argument("--at", type=iso_date, required=True, help="the cut-off date")
    parser.add_argument("--horizon", type=int, default=8, help="weeks measured after --at")
    parser.add_argument(
        "--json", type=Path, help="also write the figures, intervals and verdicts as JSON here"
    )
    add_config_args(parser)
    parser.set_defaults(func=cmd_backtest)


def cmd_backtest(args: argparse.Namespace) -> int:

    if args.horizon < 1:
        raise SystemExit(f"--horizon must be at least 1 week, got {args.horizon}")
    config = run_config_from(args).scoring
    from visitrank.lab.backtest import backtest, format_report  # the engine: loaded on use

    report = backtest(args.source, args.at, args.horizon, config)
    print(
        f"backtest at {report['at']} (scored with data up to {report['asOf']}), horizon "
        f"{report['horizonWeeks']} week(s): {report['pairs']:,} outlet x SKU pairs, "
        f"{report['closedEvents']:,} gap-closed events, {report['outlets']:,} routable outlets"
    )
    print(format_report(report))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    return EXIT_OK
