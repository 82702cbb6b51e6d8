"""`visitrank check`: is this data good enough for a weekly run? Reads, validates, quarantines
and checks the health of a source exactly as `visitrank run` does, without scoring, and says
how each table was read, what was set aside and why, and every finding.

Exit codes: 0 when the data can make a week (warnings may be listed), 2 when they cannot (a
value that cannot be read, or an error finding such as every customer set aside).
"""

from __future__ import annotations

import argparse
import json
import tempfile
from collections.abc import Mapping, Sequence
from datetime import date
from pathlib import Path
from typing import Any

from visitrank.adapters.open_source import open_source
from visitrank.contract.errors import ContractError
from visitrank.contract.value_map import MappedSource
from visitrank.local.arguments import (
    add_config_args,
    add_source_arg,
    add_source_settings_arg,
    add_today_arg,
    monday,
    run_config_from,
)
from visitrank.local.problems import problem_lines, write_problems
from visitrank.pipeline.health import accounting, failure_reason, health_section

EXIT_OK = 0
EXIT_INPUT_ERROR = 2
SEVERITY_LABEL = {"error": "ERROR", "warning": "warning", "info": "info"}


def add_parser(commands: Any) -> None:
    """The `check` sub-command."""
    check = commands.add_parser(
        "check",
        help="check a source's data health without running the week (how each table was "
        "read, rows set aside and why, findings); exit 2 when no useful week can be made",
    )
    add_source_arg(check)
    add_source_settings_arg(check)
    add_today_arg(check)
    check.add_argument(
        "--week-start", type=monday, help="the Monday to plan (default: after the last sale)"
    )
    check.add_argument(
        "--report",
        type=Path,
        help="write every unreadable cell here as CSV (table, column, row, value, problem)",
    )
    check.add_argument("--json", type=Path, help="also write the findings as JSON here")
    add_config_args(check)
    check.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Checks the source; prints the report; returns the exit code."""
    config = run_config_from(args).scoring
    today: date = args.today or date.today()
    opened = open_source(args.source, settings_path=args.source_settings)
    from visitrank.adapters.local_stage import read_small_tables, stage_from_source

    source = MappedSource(opened, opened.value_map())
    try:
        tables = read_small_tables(source)
        with tempfile.TemporaryDirectory(prefix="visitrank-check-") as work:
            staged = stage_from_source(
                source,
                Path(work) / "clean",
                Path(work) / "quarantine",
                args.week_start,
                config,
                small_tables=tables,
                today=today,
            )
    except ContractError as error:
        if args.report:
            write_problems(error, args.report)
        for line in problem_lines(error, args.report):
            print(line)
        return EXIT_INPUT_ERROR
    report = {
        "source": source.label(),
        "today": today.isoformat(),
        "weekStart": staged.window.week_start.isoformat(),
        "asOf": staged.window.as_of.isoformat(),
        "windowStart": staged.window.window_start.isoformat(),
        "reading": source.reading(),
        "valuesMapped": source.mapped(),
        "tables": accounting(staged.input_rows, staged.quarantine_counts),
        "health": health_section(staged.findings),
    }
    for line in report_lines(report):
        print(line)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, ensure_ascii=False), encoding="utf-8")
    return EXIT_INPUT_ERROR if failure_reason(staged.findings) else EXIT_OK


def report_lines(report: Mapping[str, Any]) -> list[str]:
    """The check's report as the terminal shows it."""
    lines = [
        f"source: {report['source']}",
        f"week {report['weekStart']} (as of {report['asOf']}, look-back from "
        f"{report['windowStart']}; today {report['today']})",
        "",
        "how each table was read:",
    ]
    for table, reading in report["reading"].items():
        details = ", ".join(f"{k}={_short(v)}" for k, v in reading.items() if v not in (None, []))
        lines.append(f"  {table}: {details}")
    for column, values in report.get("valuesMapped", {}).items():
        mapped = ", ".join(f"{raw} ({count:,} rows)" for raw, count in values.items())
        lines.append(f"  {column} values mapped: {mapped}")
    lines += ["", *accounting_lines(report["tables"]), ""]
    lines += findings_lines(report["health"]) or ["no finding: the data look healthy"]
    return lines


def accounting_lines(tables: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Rows in = clean + set aside, per table, with the reasons."""
    width = max((len(name) for name in tables), default=5)
    lines = [f"  {'table':<{width}} {'rows in':>12} {'clean':>12} {'set aside':>10}  reasons"]
    for name, row in tables.items():
        reasons = ", ".join(f"{reason} {count:,}" for reason, count in row["reasons"].items())
        lines.append(
            f"  {name:<{width}} {row['rowsIn']:>12,} {row['clean']:>12,} "
            f"{row['setAside']:>10,}  {reasons}"
        )
    return ["rows per table:", *lines]


def findings_lines(health: Sequence[Mapping[str, Any]]) -> list[str]:
    """One line per finding (most severe first), with its first examples."""
    lines = []
    for finding in health:
        label = SEVERITY_LABEL.get(finding["severity"], finding["severity"])
        lines.append(f"{label}: {finding['message']}")
        if finding["examples"]:
            examples = ", ".join(_short(example) for example in finding["examples"][:3])
            lines.append(f"    e.g. {examples}")
    return lines


def _short(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False) if isinstance(value, dict | list) else str(value)
