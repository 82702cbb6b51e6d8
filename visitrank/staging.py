"""Local staging of validated inputs: read, validate and quarantine once, then fan out.

The contract tables are read from the source folder, coerced to their contract types (a bad value
stops the run with table, column and row), quarantined (set-aside rows are written with their
reason), and the clean rows the regions need are written as typed Parquet, sorted by region, so
every region worker reads only its own rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

import polars as pl

from scoring.config import ScoringConfig
from scoring.inputs import ScoringWindow, history_visits, next_monday
from visitrank.quarantine import quarantine

LINE_SCHEMA = {
    "CustomerId": pl.Int64,
    "SaleDate": pl.Date,
    "ItemId": pl.Int64,
    "Quantity": pl.Float64,
    "Amount": pl.Float64,
    "AreaId": pl.Int64,
}
CUSTOMERS = "customers.parquet"
ITEMS = "items.parquet"
LINES = "lines"  # a folder of Parquet files partitioned by AreaId (AreaId=<id>/...)
LAST_VISITS = "last_visits.parquet"
VISITS = "visits.parquet"  # the visit history (history window, before the week), for the response


@dataclass(frozen=True)
class StagedInputs:
    """Where the clean inputs are, which regions have outlets, and what was set aside."""

    work_dir: Path
    regions: list[int]  # areas with customers, the largest first
    window: ScoringWindow
    reps: pl.DataFrame  # RepId, RepName, EligibleOutlets
    quarantine_counts: dict[str, dict[str, int]]
    input_rows: dict[str, int]


def scan_region_lines(work_dir: Path, area_id: int) -> pl.LazyFrame:
    """The staged sales lines of one region (empty when the region sold nothing)."""
    folder = work_dir / LINES / f"AreaId={area_id}"
    if not folder.exists():
        return pl.LazyFrame(schema=LINE_SCHEMA)
    files = pl.scan_parquet(folder / "*.parquet")
    return files.with_columns(AreaId=pl.lit(area_id, pl.Int64)).select(list(LINE_SCHEMA))


def write_quarantine(rows: dict[str, pl.DataFrame], folder: Path) -> None:
    """One CSV per table that had rows set aside (contract columns + Reason)."""
    folder.mkdir(parents=True, exist_ok=True)
    for table, frame in rows.items():
        if frame.height:
            frame.write_csv(folder / f"{table}.csv")


def stage_inputs(
    tables: dict[str, pl.DataFrame],
    work_dir: Path,
    quarantine_dir: Path,
    week_start: date | None,
    config: ScoringConfig,
) -> StagedInputs:
    """Quarantines the coerced contract tables and writes the regions' clean inputs."""
    checked = quarantine(tables)
    write_quarantine(checked.rows, quarantine_dir)
    clean = checked.tables
    sales, detail = clean["MV_Sales"], clean["MV_SalesDetail"]
    last_sale = sales["SaleDate"].max()
    last_sale_date = last_sale if isinstance(last_sale, date) else None
    if week_start is None:
        week_start = next_monday(last_sale_date or date.today())
    window = ScoringWindow.for_week(week_start, last_sale_date, config)

    customers = clean["MV_SetupCustomer"]
    items = clean["MV_SetupItem"].join(
        clean["MV_SetupSubCategory"].select("SubCategoryId", "CategoryId"),
        on="SubCategoryId",
        how="left",
    )
    lines = (
        sales.lazy()
        .filter(pl.col("SaleDate").is_between(window.history_start, window.as_of))
        .select("SaleId", "CustomerId", "SaleDate")
        .join(detail.lazy().select("SaleId", "ItemId", "Quantity", "Amount"), on="SaleId")
        .join(customers.lazy().select("CustomerId", "AreaId"), on="CustomerId")
        .drop("SaleId")
    )
    last_visits = (
        clean["MV_Visit"]
        .lazy()
        .filter(pl.col("VisitDate") < window.week_start)
        .group_by("CustomerId")
        .agg(LastVisitDate=pl.col("VisitDate").max())
    )
    visits = history_visits(clean["MV_Visit"].lazy(), window)
    work_dir.mkdir(parents=True, exist_ok=True)
    customers.sort("AreaId", "CustomerId").write_parquet(work_dir / CUSTOMERS)
    items.write_parquet(work_dir / ITEMS)
    # one partition per region instead of a global sort: a region reads only its own files
    # (measured on 42M lines: sort + write 23 s, partitioned write 3 s)
    lines.collect().write_parquet(work_dir / LINES, partition_by="AreaId")
    last_visits.collect().write_parquet(work_dir / LAST_VISITS)
    visits.collect().write_parquet(work_dir / VISITS)

    eligible = customers.filter(pl.col("Routable")).group_by("RepId").agg(EligibleOutlets=pl.len())
    reps = (
        clean["MV_SetupRep"]
        .select("RepId", "RepName")
        .join(customers.select("RepId").unique(), on="RepId", how="semi")
        .join(eligible, on="RepId", how="left")
        .with_columns(pl.col("EligibleOutlets").fill_null(0).cast(pl.Int64))
    )
    return StagedInputs(
        work_dir=work_dir,
        # largest first: the longest region starts first, so the workers finish together
        regions=customers.group_by("AreaId")
        .len()
        .sort(["len", "AreaId"], descending=[True, False])["AreaId"]
        .to_list(),
        window=window,
        reps=reps,
        quarantine_counts=checked.counts(),
        input_rows={name: frame.height for name, frame in tables.items()},
    )
