"""The one error type for bad input: it always says where the problem is.

visitrank's rule for input is "a clear error and nothing lost". Every problem with the source
data that cannot be quarantined is raised as a :class:`ContractError` naming the table, the
column, the 1-based data row (header excluded) and the offending raw value, so an operator can
open the file and fix it without reading a stack trace.
"""

from __future__ import annotations

from typing import Any


class ContractError(ValueError):
    """Source data breaks the data contract (see ``docs/data-contract.md``).

    Attributes:
        table: contract table name (e.g. ``"MV_Sales"``); ``None`` only when the problem is not
            about one table (e.g. the data folder itself is missing).
        column: contract column name, or ``None`` for table-level problems.
        row: 1-based data row number in the source (header excluded), or ``None``.
        value: the offending raw value as read from the source, or ``None``.
    """

    def __init__(
        self,
        message: str,
        *,
        table: str | None = None,
        column: str | None = None,
        row: int | None = None,
        value: Any = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.table = table
        self.column = column
        self.row = row
        self.value = value

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
        return (_rebuild, (self.message, self.table, self.column, self.row, self.value))


def _rebuild(
    message: str, table: str | None, column: str | None, row: int | None, value: Any
) -> ContractError:
    return ContractError(message, table=table, column=column, row=row, value=value)


def error_text(error: BaseException, limit: int = 2000) -> str:
    """`Type: message` of an error that is reported rather than raised (run summaries, durable
    outputs), cut to `limit` characters so a payload stays small."""
    return f"{type(error).__name__}: {error}"[:limit]
