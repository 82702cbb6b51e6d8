"""The one error type for bad input: it always says where the problem is.

visitrank's rule for input is "a clear error and nothing lost". Every problem with the source
data that cannot be quarantined is raised as a :class:`ContractError` naming the table, the
column, the 1-based data row (header excluded) and the offending raw value, so an operator can
open the file and fix it without reading a stack trace.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Final

PROBLEMS_PER_COLUMN: Final = 20
"""Bad cells listed per column of a table: enough to see the pattern (a date format, a
decimal comma), few enough to read; the error still counts them all."""


class ContractError(ValueError):
    """Source data breaks the data contract (see ``docs/data-contract.md``).

    Attributes:
        table: contract table name (e.g. ``"MV_Sales"``); ``None`` only when the problem is not
            about one table (e.g. the data folder itself is missing).
        column: contract column name, or ``None`` for table-level problems.
        row: 1-based data row number in the source (header excluded), or ``None``.
        value: the offending raw value as read from the source, or ``None``.
        problems: every located problem this error stands for, itself first when it is one
            (a table with several bad cells, or several tables, raise one error so that the
            data owner fixes each file once); each is a ContractError with table, column,
            row and value.
        total: how many problems there are in all (``problems`` is capped per column).
    """

    def __init__(
        self,
        message: str,
        *,
        table: str | None = None,
        column: str | None = None,
        row: int | None = None,
        value: Any = None,
        problems: Sequence[ContractError] = (),
        total: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.table = table
        self.column = column
        self.row = row
        self.value = value
        self.problems: tuple[ContractError, ...] = tuple(problems) or (self,)
        self.total = max(total or 0, len(self.problems))

    @classmethod
    def at(
        cls,
        table: str,
        detail: str,
        *,
        column: str | None = None,
        row: int | None = None,
        value: Any = None,
    ) -> ContractError:
        """Build an error whose message starts with its location: ``Table.Column row N: detail``."""
        where = table if column is None else f"{table}.{column}"
        if row is not None:
            where = f"{where} row {row}"
        return cls(f"{where}: {detail}", table=table, column=column, row=row, value=value)

    def __reduce__(self) -> tuple[Any, ...]:
        # Keyword-only attributes are not restored by the default pickling of exceptions;
        # keep them so errors survive multiprocessing / task queues intact.
        others = () if self.problems == (self,) else self.problems
        return (
            _rebuild,
            (self.message, self.table, self.column, self.row, self.value, others, self.total),
        )


def _rebuild(
    message: str,
    table: str | None,
    column: str | None,
    row: int | None,
    value: Any,
    others: tuple[ContractError, ...] = (),
    total: int = 1,
) -> ContractError:
    return ContractError(
        message, table=table, column=column, row=row, value=value, problems=others, total=total
    )


def combined(errors: Iterable[ContractError]) -> ContractError | None:
    """One error standing for all of ``errors`` (each possibly holding several problems), or
    None when there are none. Its message is the first problem's, followed by how many more
    there are; its ``problems`` are all of theirs in order."""
    found = list(errors)
    if len(found) <= 1:
        return found[0] if found else None
    problems = [problem for error in found for problem in error.problems]
    return _standing_for(problems, sum(error.total for error in found), "")


def with_problems(
    problems: Sequence[ContractError], total: int, where: str = "this table"
) -> ContractError:
    """One error for the located ``problems`` (non-empty, the first is the message) out of
    ``total`` found: ``<first problem> (and N more problems in <where>)``."""
    return _standing_for(problems, total, f" in {where}")


def _standing_for(problems: Sequence[ContractError], total: int, where: str) -> ContractError:
    first = problems[0]
    message = first.message
    if total > 1:
        message = f"{message} (and {total - 1} more {_noun(total - 1)}{where})"
    return ContractError(
        message,
        table=first.table,
        column=first.column,
        row=first.row,
        value=first.value,
        problems=problems,
        total=total,
    )


def _noun(count: int) -> str:
    return "problem" if count == 1 else "problems"


def error_text(error: BaseException, limit: int = 2000) -> str:
    """`Type: message` of an error that is reported rather than raised (run summaries, durable
    outputs), cut to `limit` characters so a payload stays small."""
    return f"{type(error).__name__}: {error}"[:limit]
