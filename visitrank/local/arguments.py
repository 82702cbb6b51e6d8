"""argparse value types shared by the `visitrank` commands."""

from __future__ import annotations

import argparse
from datetime import date
from pathlib import Path

from visitrank.adapters.config_file import load_run_config
from visitrank.adapters.open_source import SOURCE_HELP
from visitrank.pipeline.run_config import RunConfig


def iso_date(text: str) -> date:
    """argparse type: a YYYY-MM-DD date."""
    try:
        return date.fromisoformat(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"{text!r} is not a YYYY-MM-DD date") from error


def monday(text: str) -> date:
    """argparse type: a YYYY-MM-DD date that is a Monday (the first day of a planned week)."""
    day = iso_date(text)
    if day.weekday() != 0:
        raise argparse.ArgumentTypeError(f"{text} is a {day:%A}, not a Monday")
    return day


def add_source_arg(parser: argparse.ArgumentParser) -> None:
    """`--source`, kept as text: a folder or an ODBC connection string, opened by the command
    (`visitrank.adapters.open_source.open_source`) so that a bad one is a one-line error."""
    parser.add_argument("--source", required=True, metavar="SOURCE", help=SOURCE_HELP)


def add_source_settings_arg(parser: argparse.ArgumentParser) -> None:
    """`--source-settings FILE`: how to read the source's files and map its coded values
    (default: visitrank-source.toml beside the tables, when there is one)."""
    parser.add_argument(
        "--source-settings",
        type=Path,
        metavar="FILE",
        help="the source settings file: file dialects and value mappings (default: "
        "visitrank-source.toml in the source folder, if any; docs/file-dialects.md)",
    )


def add_today_arg(parser: argparse.ArgumentParser) -> None:
    """`--today YYYY-MM-DD`: the day the run counts as today."""
    parser.add_argument(
        "--today",
        type=iso_date,
        metavar="YYYY-MM-DD",
        help="the day the run counts as today (default: the clock's): later sales and visits "
        "are set aside and staleness is measured against it",
    )


def add_config_args(parser: argparse.ArgumentParser) -> None:
    """`--config FILE` and repeatable `--set section.field=value` (one run configuration for
    every command: scoring, orders and segmentation sections)."""
    parser.add_argument(
        "--config",
        type=Path,
        help="TOML or JSON file of config overrides, one table per section "
        "([scoring], [orders], [segmentation])",
    )
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="SECTION.FIELD=VALUE",
        help="override one config field (repeatable), e.g. --set scoring.visits_per_week=25 "
        "or --set orders.max_new_items=1 (the section may be left out when the field name "
        "is unique)",
    )


def run_config_from(args: argparse.Namespace) -> RunConfig:
    """The run configuration of a parsed command line."""
    return load_run_config(args.config, args.overrides)
