"""The input problems report: every bad cell of a run that had to stop, in one file.

A ContractError stands for every problem found in one pass over the tables (each table is read
even when an earlier one is bad, every bad cell of a table is listed, capped per column). The
run writes them all to ``OUT/input_problems.csv`` and the command line shows the first few, so
a data owner fixes each file once.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Final

from visitrank.contract.errors import ContractError

PROBLEMS_FILE: Final = "input_problems.csv"
SHOWN: Final = 5
"""Problems printed on the terminal; the report file has them all."""
COLUMNS: Final = ("table", "column", "row", "value", "problem")


def write_problems(error: ContractError, path: Path) -> Path:
    """``path`` as a CSV of every problem of ``error``: table, column, data row (header
    excluded), the raw value and the message."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        for problem in error.problems:
            writer.writerow(
                [
                    problem.table or "",
                    problem.column or "",
                    "" if problem.row is None else problem.row,
                    "" if problem.value is None else problem.value,
                    problem.message,
                ]
            )
    return path


def problem_lines(error: ContractError, report: Path | None = None) -> list[str]:
    """What the terminal shows: the first :data:`SHOWN` problems, then how many more there are
    and where the report is."""
    if len(error.problems) <= 1 and error.total <= 1:
        return [f"error: {error.message}"]
    lines = [f"error: {error.total} problems in the input; the first:"]
    lines += [f"  {problem.message}" for problem in error.problems[:SHOWN]]
    more = error.total - min(SHOWN, len(error.problems))
    if more > 0:
        listed = len(error.problems) - min(SHOWN, len(error.problems))
        where = f" ({listed} of them listed in {report})" if report is not None else ""
        lines.append(f"  ... and {more} more{where}")
    elif report is not None:
        lines.append(f"  (all listed in {report})")
    return lines
