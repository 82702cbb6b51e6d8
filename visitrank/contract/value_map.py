"""Coded values mapped to the contract's: an ERP says ``HORECA`` where the contract says
``ON_TRADE``.

The contract constrains a few text columns to a fixed set of codes (:data:`CODED_COLUMNS`).
Sources name the same things their own way, so the source settings can map each raw value to a
contract value (``[values.Channel]`` in ``visitrank-source.toml``). The mapping is applied after
coercion and before quarantine, compared as the quarantine compares (surrounding spaces and case
ignored); a value that stays unknown is still quarantined (``unknown_channel``) and reported by
the health checks with its most frequent values, so it is shouted about, not buried.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import date
from typing import Any, Final

import polars as pl

from visitrank.contract.errors import ContractError
from visitrank.contract.source import TableSource
from visitrank.contract.tables import CHANNELS, TableSpec

CODED_COLUMNS: Final[dict[str, tuple[str, ...]]] = {"Channel": CHANNELS}
"""Column -> the contract's values: the columns a value mapping may target."""

ValueMap = dict[str, dict[str, str]]
"""Column -> raw value (trimmed, upper-cased) -> contract value."""


def checked_value_map(values: Mapping[str, Mapping[str, str]], origin: str = "") -> ValueMap:
    """The mapping, validated and normalised: every column must be a coded column and every
    target one of its contract values; raw values are trimmed and upper-cased. ContractError
    names ``origin`` (the settings file), the column and the bad value otherwise."""
    where = f"{origin}: " if origin else ""
    checked: ValueMap = {}
    for column, mapping in values.items():
        allowed = CODED_COLUMNS.get(column)
        if allowed is None:
            coded = ", ".join(CODED_COLUMNS)
            raise ContractError(
                f"{where}[values.{column}]: {column!r} is not a coded column (mappable: {coded})",
                column=column,
                value=column,
            )
        normalised: dict[str, str] = {}
        for raw, target in mapping.items():
            if target.strip().upper() not in allowed:
                raise ContractError(
                    f"{where}[values.{column}] {raw} = {target!r}: not a contract value "
                    f"(one of {', '.join(allowed)})",
                    column=column,
                    value=target,
                )
            normalised[raw.strip().upper()] = target.strip().upper()
        checked[column] = normalised
    return checked


def map_values(
    tables: Mapping[str, pl.DataFrame], values: ValueMap
) -> tuple[dict[str, pl.DataFrame], dict[str, dict[str, int]]]:
    """Every table with its coded columns mapped (``checked_value_map`` output), and per
    column how many rows each raw value mapped (``{"Channel": {"HORECA": 120}}``). Values not
    in the mapping are left as they are."""
    mapped: dict[str, pl.DataFrame] = {}
    counts: dict[str, dict[str, int]] = {}
    for name, table in tables.items():
        frame = table
        columns = [c for c in values if c in frame.columns and values[c]]
        for column in columns:
            key = pl.col(column).str.strip_chars().str.to_uppercase()
            hits = (
                frame.select(key.alias("raw"))
                .filter(pl.col("raw").is_in(list(values[column])))
                .group_by("raw")
                .len()
                .sort("raw")
            )
            target = counts.setdefault(column, {})
            for raw, count in hits.iter_rows():
                target[raw] = target.get(raw, 0) + count
            frame = frame.with_columns(
                pl.when(key.is_in(list(values[column])))
                .then(key.replace_strict(values[column], default=None))
                .otherwise(pl.col(column))
                .alias(column)
            )
        mapped[name] = frame
    return mapped, counts


class MappedSource:
    """A TableSource whose coded values are mapped on the way out (:func:`map_values`), so
    every step reading it (staging, orders, segments) sees the contract's codes. Counts what
    it mapped, per table read (the last read of a table counts)."""

    def __init__(self, source: TableSource, values: ValueMap) -> None:
        self.source = source
        self.values = values
        self._mapped: dict[str, dict[str, dict[str, int]]] = {}

    def _map(self, table: str, frame: pl.DataFrame) -> pl.DataFrame:
        if not self.values:
            return frame
        mapped, counts = map_values({table: frame}, self.values)
        if counts:
            self._mapped[table] = counts
        return mapped[table]

    def read(self, spec: TableSpec) -> pl.DataFrame:
        return self._map(spec.name, self.source.read(spec))

    def columns(self, spec: TableSpec) -> dict[str, str]:
        return self.source.columns(spec)

    def read_batches(self, spec: TableSpec, rows: int) -> Iterator[pl.DataFrame]:
        for batch in self.source.read_batches(spec, rows):
            yield self._map(spec.name, batch)

    def read_all(self) -> dict[str, pl.DataFrame]:
        tables = self.source.read_all()
        return {name: self._map(name, frame) for name, frame in tables.items()}

    def last_sale_date(self) -> date | None:
        return self.source.last_sale_date()

    def label(self) -> str:
        return self.source.label()

    def reading(self) -> dict[str, dict[str, Any]]:
        return self.source.reading()

    def value_map(self) -> ValueMap:
        return self.values

    def mapped(self) -> dict[str, dict[str, int]]:
        """Column -> raw value -> rows mapped, over the tables read."""
        total: dict[str, dict[str, int]] = {}
        for counts in self._mapped.values():
            for column, values in counts.items():
                target = total.setdefault(column, {})
                for raw, count in values.items():
                    target[raw] = target.get(raw, 0) + count
        return total
