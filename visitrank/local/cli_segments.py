"""`visitrank segments`: behavioural segmentation of all outlets (see
visitrank.pipeline.segments)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from scoring.segmentation import SegmentationConfig

EXIT_OK = 0
EXIT_INPUT_ERROR = 2


def add_parser(subparsers: Any) -> None:
    """Adds the `segments` command to the `visitrank` sub-commands."""
    parser = subparsers.add_parser(
        "segments", help="segment outlets by purchase mix; export CSV, XLSX and DNA charts"
    )
    parser.add_argument("--source", type=Path, required=True, help="folder of MV_ tables")
    parser.add_argument("--out", type=Path, required=True, help="output folder (keeps history)")
    parser.add_argument(
        "--level", choices=["sku", "brand", "subcategory", "category"], help="mix level (sku)"
    )
    parser.add_argument("--k", type=int, help="fixed number of segments (default: by stability)")
    parser.add_argument("--tags", type=Path, help="edited segment_tags.json to apply")
    parser.add_argument("--truth", type=Path, help="truth/outlets.csv: report ARI vs Taste")
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="override one SegmentationConfig field, e.g. --set min_carry=0.4",
    )
    parser.set_defaults(handler=run)


def config_from_args(args: argparse.Namespace) -> SegmentationConfig:
    """SegmentationConfig from --level, --k and --set (values parsed as JSON, else text)."""
    values: dict[str, Any] = {}
    for item in args.overrides:
        name, sep, raw = item.partition("=")
        if not sep:
            raise ValueError(f"--set expects NAME=VALUE, got {item!r}")
        try:
            values[name.strip()] = json.loads(raw)
        except json.JSONDecodeError:
            values[name.strip()] = raw
    if args.level:
        values["level"] = args.level
    if args.k is not None:
        values["segments"] = args.k
    return SegmentationConfig.model_validate(values)


def run(args: argparse.Namespace) -> int:
    """Runs the command; prints k, the segments and (with --truth) the ARI."""
    from visitrank.contract.errors import ContractError
    from visitrank.local.segments import run_segments

    try:
        config = config_from_args(args)
    except (ValueError, ValidationError) as error:
        print(f"error: {error}")
        return EXIT_INPUT_ERROR
    try:
        done = run_segments(args.source, args.out, config, args.tags, args.truth)
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
