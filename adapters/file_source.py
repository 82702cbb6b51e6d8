"""Read the contract tables from a local folder of ``<TableName>.parquet`` / ``.csv`` files.

The local-run source: a folder holding one file per contract table, named exactly after the
table (``MV_Sales.parquet`` or ``MV_Sales.csv``); Parquet wins when both exist. Every table is
coerced to the contract by :func:`visitrank.validation.coerce_table`, so a bad value stops the
run with table, column, row and value instead of a polars traceback.

CSV files are read as UTF-8 with every column as text (no type inference), so coercion sees the
raw cell and can quote it back exactly; row numbers are data rows, header excluded. Parquet
files are read with only the contract columns present in the file, then coerced.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import polars as pl

from visitrank.contract import SALES, TABLES, TableSpec
from visitrank.errors import ContractError
from visitrank.validation import coerce_table, resolve_columns


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


def _read_csv(spec: TableSpec, path: Path) -> pl.DataFrame:
    try:
        return pl.read_csv(path, infer_schema=False, encoding="utf8", empty_string_is_null=False)
    except pl.exceptions.NoDataError:
        raise ContractError(
            f"{spec.name}: {path.name} is empty (expected at least a header row)",
            table=spec.name,
        ) from None
    except (pl.exceptions.PolarsError, OSError) as error:
        raise ContractError(
            f"{spec.name}: cannot read {path} as UTF-8 CSV: {error}", table=spec.name
        ) from error


def _read_parquet(spec: TableSpec, path: Path) -> pl.DataFrame:
    try:
        available = list(pl.read_parquet_schema(path))
        mapping = resolve_columns(spec, available)
        return pl.read_parquet(path, columns=list(dict.fromkeys(mapping.values())))
    except ContractError:
        raise
    except (pl.exceptions.PolarsError, OSError) as error:
        raise ContractError(
            f"{spec.name}: cannot read {path} as Parquet: {error}", table=spec.name
        ) from error
