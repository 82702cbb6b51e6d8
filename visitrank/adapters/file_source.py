"""Read the contract tables from a local folder of ``<TableName>.parquet`` / ``.csv`` files.

The local-run source: a folder holding one file per contract table, named exactly after the
table (``MV_Sales.parquet`` or ``MV_Sales.csv``); Parquet wins when both exist. Every table is
coerced to the contract by :func:`visitrank.contract.coercion.coerce_table`, so a bad value stops
the run with table, column, row and value instead of a polars traceback.

CSV files are read as UTF-8 with every column as text (no type inference), so coercion sees the
raw cell and can quote it back exactly; row numbers are data rows, header excluded. Parquet
files are read with only the contract columns present in the file, then coerced.

A table too large to hold whole (``MV_SalesDetail`` at country scale) is read in chunks with
:meth:`FileSource.read_batches`: each chunk is coerced on its own, and an error still names the
cell's data row in the whole file.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import TypeVar

import polars as pl

from visitrank.contract.coercion import coerce_table, resolve_columns
from visitrank.contract.errors import ContractError
from visitrank.contract.tables import SALES, TABLES, TableSpec

T = TypeVar("T")


class FileSource:
    """A folder of contract tables. Raises ContractError at construction if it is missing."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        if not self.folder.is_dir():
            raise ContractError(f"data folder not found: {self.folder}")

    def path_for(self, spec: TableSpec) -> Path:
        """The file holding ``spec``'s table (Parquet preferred), or ContractError if none."""
        for suffix in (".parquet", ".csv"):
            path = self.folder / f"{spec.name}{suffix}"
            if path.is_file():
                return path
        raise ContractError(
            f"{spec.name} table missing: expected {spec.name}.parquet or {spec.name}.csv "
            f"in {self.folder}",
            table=spec.name,
        )

    def read(self, spec: TableSpec) -> pl.DataFrame:
        """Read one table, coerced to the contract columns and dtypes."""
        path = self.path_for(spec)
        raw = _read_parquet(spec, path) if path.suffix == ".parquet" else _read_csv(spec, path)
        return coerce_table(spec, raw)

    def columns(self, spec: TableSpec) -> dict[str, str]:
        """Contract column -> source column of ``spec``'s file, reading only its header (CSV)
        or schema (Parquet). ContractError if the table or a contract column is missing."""
        path = self.path_for(spec)
        if path.suffix == ".parquet":
            available = _parquet_columns(spec, path)
        else:
            available = _csv_scan(spec, path, lambda lazy: lazy.collect_schema().names())
        return resolve_columns(spec, available)

    def read_batches(self, spec: TableSpec, rows: int) -> Iterator[pl.DataFrame]:
        """Read one table as coerced chunks of at most ``rows`` rows, in file order.

        Concatenated, the chunks equal :meth:`read` (at least one chunk, empty for an empty
        table). Only one chunk is held at a time. A missing table or column raises here, before
        the first chunk; a bad value raises when its chunk is read and names its data row in the
        whole file. Parquet: one slice of the file per chunk (only the row groups it overlaps
        are decoded); CSV: polars' streaming reader, every column as text as in :meth:`read`.
        """
        if rows < 1:
            raise ValueError(f"rows must be at least 1, got {rows}")
        path = self.path_for(spec)
        columns = list(dict.fromkeys(self.columns(spec).values()))
        raw = (
            _parquet_batches(spec, path, columns, rows)
            if path.suffix == ".parquet"
            else _csv_batches(spec, path, columns, rows)
        )
        return _coerced(spec, raw)

    def read_all(self) -> dict[str, pl.DataFrame]:
        """Every contract table, coerced, keyed by table name."""
        return {name: self.read(spec) for name, spec in TABLES.items()}

    def last_sale_date(self) -> date | None:
        """Latest ``MV_Sales.SaleDate`` (the data's "today"), or None when there are no sales.

        Reads and validates only the SaleDate column.
        """
        only_date = TableSpec(SALES.name, {"SaleDate": SALES.columns["SaleDate"]}, ())
        dates = self.read(only_date).get_column("SaleDate")
        latest = dates.max()
        return latest if isinstance(latest, date) else None


def _coerced(spec: TableSpec, raw: Iterator[pl.DataFrame]) -> Iterator[pl.DataFrame]:
    offset = 0
    for chunk in raw:
        height = chunk.height
        coerced = [coerce_table(spec, chunk, row_offset=offset)]
        del chunk
        offset += height
        yield coerced.pop()  # keep no reference while suspended: the caller frees the chunk


def _parquet_columns(spec: TableSpec, path: Path) -> list[str]:
    try:
        return list(pl.read_parquet_schema(path))
    except (pl.exceptions.PolarsError, OSError) as error:
        raise _parquet_error(spec, path, error) from error


def _parquet_error(spec: TableSpec, path: Path, error: Exception) -> ContractError:
    return ContractError(f"{spec.name}: cannot read {path} as Parquet: {error}", table=spec.name)


def _parquet_batches(
    spec: TableSpec, path: Path, columns: list[str], rows: int
) -> Iterator[pl.DataFrame]:
    """Slices of the file; each reads only the row groups it overlaps (measured on M's
    13.2M-line MV_SalesDetail: 7 slices of 2M rows in 0.23 s against 0.36 s for one read)."""
    try:
        total = pl.scan_parquet(path).select(pl.len()).collect().item()  # from the metadata
        for offset in range(0, max(total, 1), rows):
            yield pl.scan_parquet(path).select(columns).slice(offset, rows).collect()
    except (pl.exceptions.PolarsError, OSError) as error:
        raise _parquet_error(spec, path, error) from error


def _csv_batches(
    spec: TableSpec, path: Path, columns: list[str], rows: int
) -> Iterator[pl.DataFrame]:
    """The CSV parsed in streaming batches, every column as text (as :func:`_read_csv`)."""
    batches = _csv_scan(
        spec, path, lambda lazy: lazy.select(columns).collect_batches(chunk_size=rows)
    )
    empty = True
    try:
        for batch in batches:
            # chunk_size is exact, so this is one slice; never exceed ``rows`` all the same
            parts = [batch.slice(start, rows) for start in range(0, batch.height, rows)][::-1]
            del batch
            while parts:
                empty = False
                yield parts.pop()  # keep no reference while suspended
    except (pl.exceptions.PolarsError, OSError) as error:
        raise _csv_error(spec, path, error) from error
    finally:
        # stop the streaming query when the consumer stops early (a bad value in a chunk)
        close = getattr(batches, "close", None)
        if close is not None:
            close()
    if empty:
        yield pl.DataFrame(schema=dict.fromkeys(columns, pl.String))


def _csv_scan(spec: TableSpec, path: Path, use: Callable[[pl.LazyFrame], T]) -> T:
    """``use`` applied to the lazy text-only scan of ``path``; read errors as ContractError."""
    try:
        return use(
            pl.scan_csv(path, infer_schema=False, encoding="utf8", empty_string_is_null=False)
        )
    except (pl.exceptions.PolarsError, OSError) as error:
        raise _csv_error(spec, path, error) from error


def _csv_error(spec: TableSpec, path: Path, error: Exception) -> ContractError:
    if isinstance(error, pl.exceptions.NoDataError):
        return ContractError(
            f"{spec.name}: {path.name} is empty (expected at least a header row)",
            table=spec.name,
        )
    return ContractError(f"{spec.name}: cannot read {path} as UTF-8 CSV: {error}", table=spec.name)


def _read_csv(spec: TableSpec, path: Path) -> pl.DataFrame:
    try:
        return pl.read_csv(path, infer_schema=False, encoding="utf8", empty_string_is_null=False)
    except pl.exceptions.NoDataError as error:
        raise _csv_error(spec, path, error) from None
    except (pl.exceptions.PolarsError, OSError) as error:
        raise _csv_error(spec, path, error) from error


def _read_parquet(spec: TableSpec, path: Path) -> pl.DataFrame:
    mapping = resolve_columns(spec, _parquet_columns(spec, path))
    try:
        return pl.read_parquet(path, columns=list(dict.fromkeys(mapping.values())))
    except (pl.exceptions.PolarsError, OSError) as error:
        raise _parquet_error(spec, path, error) from error
