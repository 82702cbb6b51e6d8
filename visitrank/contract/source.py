"""Where the contract tables come from, as the steps see it: a small protocol that the file
source (`visitrank.adapters.file_source`) implements, so the pipeline reads tables without
knowing files."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import date
from typing import Any, Protocol

import polars as pl

from visitrank.contract.tables import TableSpec


class TableSource(Protocol):
    """Contract tables, each coerced to its columns and dtypes (a bad value raises a
    ContractError naming table, column, row and value)."""

    def read(self, spec: TableSpec) -> pl.DataFrame:
        """One table, whole (an optional table the source lacks: empty)."""
        ...

    def columns(self, spec: TableSpec) -> dict[str, str]:
        """Contract column -> source column, checking only that the table and its required
        columns exist (an optional table the source lacks: ``{}``)."""
        ...

    def read_batches(self, spec: TableSpec, rows: int) -> Iterator[pl.DataFrame]:
        """One table in chunks of at most `rows` rows, in source order."""
        ...

    def read_all(self) -> dict[str, pl.DataFrame]:
        """Every required contract table and each optional one the source has, keyed by
        table name."""
        ...

    def last_sale_date(self) -> date | None:
        """The latest sale day, None when there are no sales."""
        ...

    def label(self) -> str:
        """What the run summary and messages call this source: a folder path, or a connection
        string with every secret (PWD, password, key) masked."""
        ...

    def value_map(self) -> dict[str, dict[str, str]]:
        """The source settings' mappings of coded values (column -> raw value -> contract
        value, see ``visitrank.contract.value_map``); empty when there are none."""
        ...

    def reading(self) -> dict[str, dict[str, Any]]:
        """Per table read so far, how it was read (JSON-ready): for files the file name,
        format, encoding, delimiter, decimal mark, date format, null literals and thousands
        separator, each with whether it was detected or pinned; for a database the view."""
        ...


SetAside = Callable[[dict[str, pl.DataFrame]], None]
"""Receives the rows a step quarantined, per table (contract columns + Reason), to keep them
where the driver keeps such rows (a folder of CSV files, a Blob prefix)."""
