"""`visitrank segments`: behavioural segmentation of all outlets (see
visitrank.pipeline.segments)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from scoring.segmentation_config import SegmentationConfig
from visitrank.adapters.config_file import load_run_config
from visitrank.adapters.open_source import open_source
from visitrank.contract.errors import ContractError
from visitrank.local.arguments import add_config_args, add_source_arg
from visitrank.pipeline.run_config import RunConfigError

EXIT_OK = 0
EXIT_INPUT_ERROR = 2


def add_parser(subparsers: Any) -> None:
    """Adds the `segments` command to the `visitrank` sub-commands."""
    parser = subparsers.add_parser(
        "segments", help="segment outlets by purchase mix; export CSV, XLSX and DNA charts"
    )
    add_source_arg(parser)
    parser.add_argument("--out", type=Path, required=True, help="output folder (keeps history)")
    parser.add_argument(
        "--level", choices=["sku", "brand", "subcategory", "category"], help="mix level (sku)"
    )
    parser.add_argument("--k", type=int, help="fixed number of segments (default: by stability)")
    parser.add_argument("--tags", type=Path, help="edited segment_tags.json to apply")
    parser.add_argument("--truth", type=Path, help="truth/outlets.csv: report ARI vs Taste")
    add_config_args(parser)
    parser.set_defaults(handler=run)


def config_from_args(args: argparse.Namespace) -> SegmentationConfig:
    """The segmentation section of the run configuration (`--config`, `--set`), with `--level`
    and `--k` applied on top."""
    overrides = list(args.overrides)
    if args.level:
        overrides.append(f"segmentation.level={args.level}")
    if args.k is not None:
        overrides.append(f"segmentation.segments={args.k}")
    return load_run_config(args.config, overrides).segmentation


def run(args: argparse.Namespace) -> int:
    """Runs the command; prints k, the segments and (with --truth) the ARI."""

    try:
        config = config_from_args(args)
    except RunConfigError as error:
        print(f"error: {error}")
        return EXIT_INPUT_ERROR
    try:
        from visitrank.local.segments import run_segments  # matplotlib, scikit-learn: on use

        done = run_segments(open_source(args.source), args.out, config, args.tags, args.truth)
    except (ContractError, FileNotFoundError) as error:
        print(f"error: {error}")
        return EXIT_INPUT_ERROR
    s = done.summary
    print(
        f"{s['k']} segments ({s['kChosenBy']}) of {s['activeOutlets']:,} active outlets at "
        f"{s['level']} level ({s['inactiveOutlets']:,} without purchases); window "
        f"{s['windowStart']}..{s['asOf']}"
    )
    for row in s["segments"]:
        previous = f" from {row['PreviousIds']}" if row["PreviousIds"] else ""
        print(
            f"  {row['SegmentId']:<4} {row['Outlets']:>7,}  {row['Status']:<6}{previous:<12} "
            f"{row['Name']}  {row['Tags']}"
        )
    if s.get("retired"):
        print(f"  retired: {' '.join(s['retired'])}")
    if "ariVsTruth" in s:
        ari = s["ariVsTruth"]
        channels = ", ".join(f"{c} {v:.3f}" for c, v in ari["perChannel"].items())
        print(f"ARI vs planted taste: {ari['overall']:.3f} ({channels})")
    print(f"written to {args.out}")
    return EXIT_OK
