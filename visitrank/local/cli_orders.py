"""The `order` and `order-backtest` commands (wired into `visitrank.local.cli` by `add_parsers`)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from visitrank.adapters.open_source import open_source
from visitrank.local.arguments import (
    add_config_args,
    add_source_arg,
    iso_date,
    run_config_from,
)

EXIT_OK = 0


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--no-scoring",
        action="store_true",
        help="skip the development opportunities (no scoring run)",
    )
    add_config_args(parser)


def add_parsers(subparsers: Any) -> None:
    """Adds `order` and `order-backtest` to the visitrank sub-commands (handler in
    `func` defaults: `args.func(args)` returns the exit code)."""
    order = subparsers.add_parser("order", help="proposed order per customer -> OUT/orders.jsonl")
    add_source_arg(order)
    _common(order)
    order.add_argument("--out", type=Path, required=True)
    order.add_argument("--customer", type=int, help="only this CustomerId")
    order.add_argument("--as-of", type=iso_date, help="use only data up to this date")
    order.add_argument("--history", type=Path, help="proposal history (default OUT/...)")
    order.set_defaults(func=cmd_order)

    backtest = subparsers.add_parser(
        "order-backtest", help="proposed orders vs the next actual order, with baselines"
    )
    backtest.add_argument("--source", type=Path, required=True, help="a folder of MV_ tables")
    _common(backtest)
    backtest.add_argument("--at", type=iso_date, required=True, help="the cut-off date")
    backtest.add_argument("--json", type=Path, help="also write the figures as JSON here")
    backtest.add_argument(
        "--replay-from",
        type=iso_date,
        help="an earlier cut-off: propose there first and use that proposal as the feedback "
        "history of the cut-off's proposal (method visitrank_feedback)",
    )
    backtest.set_defaults(func=cmd_order_backtest)


def cmd_order(args: argparse.Namespace) -> int:

    config = run_config_from(args)
    scoring = None if args.no_scoring else config.scoring
    from visitrank.local.orders import run_orders  # scikit-learn: loaded on use

    path, count, as_of = run_orders(
        open_source(args.source),
        args.out,
        config.orders,
        scoring,
        as_of=args.as_of,
        customer_id=args.customer,
        history_path=args.history,
    )
    print(f"{count} proposed orders as of {as_of.isoformat()}: {path}")
    return EXIT_OK


def cmd_order_backtest(args: argparse.Namespace) -> int:

    config = run_config_from(args)
    scoring = None if args.no_scoring else config.scoring
    from visitrank.lab.order_backtest import backtest, format_table  # loaded on use

    report = backtest(args.source, args.at, config.orders, scoring, args.replay_from)
    print(
        f"cut-off {report['at']} (data up to {report['asOf']}), "
        f"{report['customersWithNextOrder']} customers with a next order"
    )
    print(format_table(report))
    print(
        "lines by kind (accepted / proposed): "
        + ", ".join(f"{k['Kind']} {k['Accepted']}/{k['Lines']}" for k in report["byKind"])
    )
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    return EXIT_OK
