"""Local staging of validated inputs: read, validate and quarantine once, then fan out.

The contract tables are read from the source folder, coerced to their contract types (a bad value
stops the run with table, column and row), quarantined (set-aside rows are written with their
reason), and the clean rows the regions need are written as typed Parquet, partitioned by region,
so every region worker reads only its own rows.

Memory does not grow with the sales lines: every table but ``MV_SalesDetail``
is read whole (the largest, ``MV_Sales``, has ~1/5 as many rows as the lines), quarantined
(:func:`~visitrank.contract.quarantine.quarantine_headers`) and the window's clean sale headers are
joined to their customer's region once; then the lines stream through one loop, a chunk at a time:
coerce (errors name the row in the whole file) ->
:func:`~visitrank.contract.quarantine.quarantine_detail`
-> append the chunk's set-aside lines to the quarantine CSV -> join to the headers -> one Parquet
file per (chunk, region), ``lines/AreaId=<id>/part-<chunk>.parquet``. :func:`stage_from_source`
streams the file in chunks of ``batch_rows`` lines; :func:`stage_inputs` (tables already in
memory, e.g. tests) runs the same loop with the lines as one chunk, so both give the same result.
"""

from __future__ import annotations

import shutil
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Final

import polars as pl

from scoring.config import ScoringConfig
from scoring.exact import exact_sum
from scoring.inputs import RegionInputs, ScoringWindow, history_visits
from visitrank.contract.errors import ContractError, combined
from visitrank.contract.quarantine import (
    RULE_ORDER,
    DetailRules,
    check_inputs,
    quarantine_detail,
    quarantine_headers,
    reason_counts,
)
from visitrank.contract.source import TableSource
from visitrank.contract.tables import (
    ALL_TABLES,
    CUSTOMER,
    OPTIONAL_TABLES,
    SALES,
    SALES_DETAIL,
    complete,
)
from visitrank.pipeline.health import DataFacts, Finding, accounting, input_findings
from visitrank.pipeline.region import items_with_category, last_visits_before, rep_table
from visitrank.pipeline.routing_inputs import routing_attributes
from visitrank.pipeline.week import default_week

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
ROUTING = "routing.parquet"  # the planner's outlet attributes (routing_inputs), with AreaId
BATCH_ROWS: Final = 5_000_000
"""Sales lines per chunk when staging from files (0.5-0.9 GB of working memory, measured)."""
WORK_COMPRESSION: Final = "lz4"
"""Of the staged sales-line files, read once or twice and deleted: lz4 writes 2x and reads 3x
faster than polars' default zstd, for files 1.7x larger."""
DETAIL: Final = SALES_DETAIL.name
_PENDING_QUARANTINE: Final = f"{DETAIL}.quarantine.csv"  # in work_dir until the loop succeeds


@dataclass(frozen=True)
class StagedInputs:
    """Where the clean inputs are, which regions have outlets, and what was set aside."""

    work_dir: Path
    regions: list[int]  # areas with customers, the largest first
    window: ScoringWindow
    reps: pl.DataFrame  # RepId, RepName, EligibleOutlets
    quarantine_counts: dict[str, dict[str, int]]
    input_rows: dict[str, int]
    setup: dict[str, pl.DataFrame] = field(default_factory=dict)
    """The clean setup tables (items, brands, subcategories, categories, areas, customers), for
    the steps after the scoring that need names (the segmentation)."""
    findings: list[Finding] = field(default_factory=list)
    """The data health findings about the input (`visitrank.pipeline.health`)."""


SETUP_TABLES: Final = (
    "MV_SetupItem",
    "MV_SetupBrand",
    "MV_SetupSubCategory",
    "MV_SetupCategory",
    "MV_SetupArea",
    "MV_SetupCustomer",
)


def staged_purchases(work_dir: Path, start: date, end: date) -> pl.DataFrame:
    """CustomerId, ItemId, Revenue, Units over [start, end] from the staged lines of every
    region (as `scoring.segmentation.window_purchases` on the clean tables; the staged lines
    cover the scoring history window only)."""
    files = sorted((work_dir / LINES).glob("AreaId=*/*.parquet"))
    schema = {
        "CustomerId": pl.Int64,
        "ItemId": pl.Int64,
        "Revenue": pl.Float64,
        "Units": pl.Float64,
    }
    if not files:
        return pl.DataFrame(schema=schema)
    return (
        pl.scan_parquet(files, hive_partitioning=False)
        .filter(pl.col("SaleDate").is_between(start, end))
        .group_by("CustomerId", "ItemId")
        .agg(Revenue=exact_sum("Amount"), Units=exact_sum("Quantity"))
        .sort("CustomerId", "ItemId")
        .collect()
    )


def scan_region_lines(work_dir: Path, area_id: int) -> pl.LazyFrame:
    """The staged sales lines of one region (empty when the region sold nothing)."""
    folder = work_dir / LINES / f"AreaId={area_id}"
    if not folder.exists():
        return pl.LazyFrame(schema=LINE_SCHEMA)
    files = pl.scan_parquet(folder / "*.parquet")
    return files.with_columns(AreaId=pl.lit(area_id, pl.Int64)).select(list(LINE_SCHEMA))


def load_region(work_dir: Path, area_id: int) -> RegionInputs:
    """The staged clean rows of one region (predicate pushdown on AreaId)."""
    in_area = pl.col("AreaId") == area_id
    customers = pl.scan_parquet(work_dir / CUSTOMERS).filter(in_area).collect()
    ids = customers.lazy().select("CustomerId")
    return RegionInputs(
        customers=customers,
        items=pl.read_parquet(work_dir / ITEMS),
        lines=scan_region_lines(work_dir, area_id).collect(),
        last_visits=pl.scan_parquet(work_dir / LAST_VISITS)
        .join(ids, on="CustomerId", how="semi")
        .collect(),
        visits=pl.scan_parquet(work_dir / VISITS).join(ids, on="CustomerId", how="semi").collect(),
    )


def load_routing(work_dir: Path, area_id: int) -> pl.DataFrame:
    """The staged routing attributes of one region's customers (``routing_attributes``'s
    columns; predicate pushdown on AreaId)."""
    return (
        pl.scan_parquet(work_dir / ROUTING)
        .filter(pl.col("AreaId") == area_id)
        .drop("AreaId")
        .collect()
    )


def write_quarantine(rows: dict[str, pl.DataFrame], folder: Path) -> None:
    """One CSV per table that had rows set aside (contract columns + Reason)."""
    folder.mkdir(parents=True, exist_ok=True)
    for table, frame in rows.items():
        if frame.height:
            frame.write_csv(folder / f"{table}.csv")


def read_small_tables(source: TableSource) -> dict[str, pl.DataFrame]:
    """Every contract table but ``MV_SalesDetail``, read whole and coerced (``read_all`` order),
    the optional ones included (a source without one reads it as an empty table).

    ``MV_SalesDetail`` is streamed later (:func:`stage_from_source`); here, in its turn, only its
    file and columns are checked, so a missing table or column is reported as ``read_all``
    would. A bad *value* in the lines is found while streaming, after the other tables.

    Every table is read even when an earlier one is bad: the error raised at the end stands
    for the problems of all of them (``ContractError.problems``), so the data owner fixes each
    file once instead of once per run.
    """
    tables: dict[str, pl.DataFrame] = {}
    errors: list[ContractError] = []
    for name, spec in ALL_TABLES.items():
        try:
            if name == DETAIL:
                source.columns(spec)
            else:
                tables[name] = source.read(spec)
        except ContractError as error:
            if error.table is None:  # the source itself (a connection): no table can be read
                raise
            errors.append(error)
    problem = combined(errors)
    if problem is not None:
        raise problem
    return tables


def stage_from_source(
    source: TableSource,
    work_dir: Path,
    quarantine_dir: Path,
    week_start: date | None,
    config: ScoringConfig,
    batch_rows: int = BATCH_ROWS,
    *,
    small_tables: dict[str, pl.DataFrame] | None = None,
    today: date | None = None,
) -> StagedInputs:
    """Stages a folder of contract tables, streaming ``MV_SalesDetail`` in chunks of
    ``batch_rows`` lines (the other tables are read whole; pass ``small_tables`` when already
    read with :func:`read_small_tables`). Same result as :func:`stage_inputs` on ``read_all()``.
    ``today``: the run's day; later sales and visits are set aside (``future_date``) and the
    health checks measure staleness against it (None: neither).
    """
    small = read_small_tables(source) if small_tables is None else small_tables
    return _stage(
        small,
        source.read_batches(SALES_DETAIL, batch_rows),
        [*ALL_TABLES],
        work_dir,
        quarantine_dir,
        week_start,
        config,
        today,
    )


def stage_inputs(
    tables: dict[str, pl.DataFrame],
    work_dir: Path,
    quarantine_dir: Path,
    week_start: date | None,
    config: ScoringConfig,
    today: date | None = None,
) -> StagedInputs:
    """Quarantines the coerced contract tables and writes the regions' clean inputs (the sales
    lines as one chunk of :func:`stage_from_source`'s loop). Optional tables ``tables`` lacks
    are empty."""
    check_inputs(tables)
    small = {name: frame for name, frame in tables.items() if name != DETAIL}
    return _stage(
        small, [tables[DETAIL]], [*tables], work_dir, quarantine_dir, week_start, config, today
    )


def _stage(
    small: dict[str, pl.DataFrame],
    detail_chunks: Iterable[pl.DataFrame],
    table_order: list[str],
    work_dir: Path,
    quarantine_dir: Path,
    week_start: date | None,
    config: ScoringConfig,
    today: date | None = None,
) -> StagedInputs:
    """The one staging implementation: headers whole, the sales lines chunk by chunk. The
    optional tables (``small`` may lack them: empty) are counted after ``table_order``'s."""
    small = complete(small)
    table_order = [*table_order, *(name for name in OPTIONAL_TABLES if name not in table_order)]
    checked, rules = quarantine_headers(small, today)
    clean = checked.tables
    sales = clean[SALES.name]
    first_sale, last_sale = _day(sales["SaleDate"].min()), _day(sales["SaleDate"].max())
    if week_start is None:
        # with every sale set aside, the week of the sales read still dates the (failed) run
        # whose health findings say why
        week_start = default_week(last_sale or _last_read_sale(small[SALES.name], today))
    window = ScoringWindow.for_week(week_start, last_sale, config, first_sale)

    customers = clean[CUSTOMER.name]
    items = items_with_category(clean)
    # the window's clean headers with their region, joined once; every chunk of lines joins it
    headers = (
        sales.lazy()
        .filter(pl.col("SaleDate").is_between(window.history_start, window.as_of))
        .select("SaleId", "CustomerId", "SaleDate")
        .join(customers.lazy().select("CustomerId", "AreaId"), on="CustomerId")
        .collect()
    )
    work_dir.mkdir(parents=True, exist_ok=True)
    detail_rows, detail_counts, duplicate_lines = _stage_lines(
        detail_chunks, rules, headers, work_dir
    )
    write_quarantine(checked.rows, quarantine_dir)
    pending = work_dir / _PENDING_QUARANTINE
    if pending.exists():
        shutil.move(pending, quarantine_dir / f"{DETAIL}.csv")

    last_visits = last_visits_before(clean["MV_Visit"].lazy(), window)
    visits = history_visits(clean["MV_Visit"].lazy(), window)
    customers.sort("AreaId", "CustomerId").write_parquet(work_dir / CUSTOMERS)
    items.write_parquet(work_dir / ITEMS)
    last_visits.collect().write_parquet(work_dir / LAST_VISITS)
    visits.collect().write_parquet(work_dir / VISITS)
    routing_attributes(clean, window).join(
        customers.select("CustomerId", "AreaId"), on="CustomerId", maintain_order="left"
    ).write_parquet(work_dir / ROUTING)

    reps = rep_table(clean)
    header_counts = checked.counts()
    quarantine_counts = {
        name: detail_counts if name == DETAIL else header_counts[name] for name in RULE_ORDER
    }
    input_rows = {
        name: detail_rows if name == DETAIL else small[name].height for name in table_order
    }
    facts = DataFacts(
        today=today,
        first_sale=first_sale,
        last_sale=last_sale,
        window=window,
        lookback_weeks=config.lookback_weeks,
        input_rows=input_rows,
        clean_rows={
            name: row["clean"] for name, row in accounting(input_rows, quarantine_counts).items()
        },
        set_aside=checked.rows,
        quarantined=quarantine_counts,
        duplicate_lines=duplicate_lines,
        reps_without_outlets=_reps_without_outlets(clean),
        routable_outlets=int(customers.get_column("Routable").sum()),
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
        quarantine_counts=quarantine_counts,
        input_rows=input_rows,
        setup={name: clean[name] for name in SETUP_TABLES},
        findings=input_findings(facts),
    )


def _last_read_sale(sales: pl.DataFrame, today: date | None) -> date | None:
    """The last sale day read, clean or not (not after ``today``)."""
    dates = sales.get_column("SaleDate")
    return _day((dates if today is None else dates.filter(dates <= today)).max())


def _day(value: object) -> date | None:
    return value if isinstance(value, date) else None


def _reps_without_outlets(clean: dict[str, pl.DataFrame]) -> list[int]:
    """RepIds of MV_SetupRep that own no outlet that can be routed."""
    owners = clean[CUSTOMER.name].filter(pl.col("Routable")).select("RepId").unique()
    return (
        clean["MV_SetupRep"]
        .join(owners, on="RepId", how="anti")
        .get_column("RepId")
        .sort()
        .to_list()
    )


def _stage_lines(
    chunks: Iterable[pl.DataFrame], rules: DetailRules, headers: pl.DataFrame, work_dir: Path
) -> tuple[int, dict[str, int], int]:
    """Quarantines and stages the sales lines chunk by chunk; returns the lines read, the
    reason counts of the set-aside ones and the lines repeating another line of their chunk
    exactly (a sale's lines are together in an export, so its repeats share a chunk).

    A chunk's set-aside lines are appended to ``work_dir/MV_SalesDetail.quarantine.csv``
    (header once, no file when none); its clean lines in the window, joined to their sale
    header (CustomerId, SaleDate) and region, go to ``lines/AreaId=<id>/part-<chunk>.parquet``
    in line order, so a region's files list in chunk order. If a chunk fails (a bad value),
    what was written is removed before the error propagates.
    """
    lines_dir = work_dir / LINES
    pending = work_dir / _PENDING_QUARANTINE
    counts: Counter[str] = Counter()
    total = 0
    repeated = 0
    pending.unlink(missing_ok=True)
    shutil.rmtree(lines_dir, ignore_errors=True)  # never mix in files of an earlier staging
    try:
        # one chunk's frames at a time: each is dropped as soon as the next step has its data
        for index, chunk in enumerate(chunks):
            total += chunk.height
            repeated += chunk.height - chunk.n_unique()
            clean, rows = quarantine_detail(chunk, rules)
            del chunk
            if rows.height:
                with pending.open("ab") as handle:
                    rows.write_csv(handle, include_header=not counts)
                counts.update(reason_counts(rows))
            lines = (
                clean.select("SaleId", "ItemId", "Quantity", "Amount")
                .join(headers, on="SaleId", maintain_order="left")
                .select(list(LINE_SCHEMA))
            )
            del clean, rows
            parts = lines.partition_by("AreaId", as_dict=True)
            del lines
            for (area,), part in parts.items():
                folder = lines_dir / f"AreaId={area}"
                folder.mkdir(parents=True, exist_ok=True)
                part.write_parquet(
                    folder / f"part-{index:05d}.parquet", compression=WORK_COMPRESSION
                )
            del parts
    except BaseException:
        shutil.rmtree(lines_dir, ignore_errors=True)
        pending.unlink(missing_ok=True)
        raise
    return total, dict(sorted(counts.items())), repeated
