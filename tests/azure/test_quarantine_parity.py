"""The same messy data through both drivers give the same quarantine counts.

One SQLite ERP database (read through the SQLite3 ODBC driver) holds the demo with every kind of
row that one driver could read or count differently from the other: a customer repeated in its
area (identical, and with another Channel), a customer listed in two areas, sales lines whose
SaleId has no header, sale headers that conflict across the edge of the history window, outside
it, between two regions and between a region and a customer missing from MV_SetupCustomer,
visits whose copies differ between two regions and between a region and such a missing
customer, and repeated headers and visits of such a missing customer (which copy of a repeated
key is kept never depends on the rows' order, which a database does not have), and bad optional
planning inputs (reps' homes out of range, impossible visit lengths and frequencies, opening
hours repeated, conflicting, backwards or of outlets set aside or missing, pinned visits and
exclusions repeated, conflicting or of a missing customer). The local run
reads it whole (``stage_from_source`` through ``OdbcSource``, as ``visitrank run --source
odbc:...``); the Azure app reads it as its activities do: the plan activity (the rows no region
owns), then every region's scoring activity, their counts merged as the orchestrator merges
them.

What must be equal: the Azure app reads only the run's scope, the sales headers of the history
window (``history_start <= SaleDate < week_start``) with their lines, the visits before the week,
the lines whose SaleId has no header at all, and the customers and setup tables whole; the local
run reads every row. So the Azure counts (rows in and every reason) equal the local run's counted
on the rows of that scope, table by table, and rows in = clean + set aside in each driver; when
the window holds every row (a history as long as the data), they equal the local run's whole
counts. A customer row without an AreaId (a required column) stops both drivers instead.
"""

from __future__ import annotations

import dataclasses
import uuid
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from activities.plan import plan_run
from activities.score import score_region_activity
from scoring.config import ScoringConfig
from scoring.inputs import ScoringWindow
from tests.sqlite_erp import write_sqlite
from visitrank.adapters.app_settings import Settings
from visitrank.adapters.local_stage import read_small_tables, scan_region_lines, stage_from_source
from visitrank.adapters.odbc_source import OdbcSource
from visitrank.contract.errors import ContractError
from visitrank.contract.quarantine import REASON, reason_counts, set_aside_columns
from visitrank.contract.tables import (
    ALL_TABLES,
    CUSTOMER,
    OUTLET_HOURS,
    REP,
    SALES,
    SALES_DETAIL,
    VISIT,
    VISIT_EXCLUSION,
    VISIT_PIN,
)
from visitrank.pipeline.health import accounting
from visitrank.pipeline.payloads import RunPlan
from visitrank.pipeline.status import merge_input_rows, merge_quarantine_counts

WEEK = date(2026, 11, 16)
RECENT = date(2026, 10, 1)
"""Sales from this day on are in the window of both configurations."""
OLD = date(2026, 7, 1)
"""Sales before this day are outside the short history window (12 weeks before the week)."""
EARLY = date(2026, 5, 4)
"""Within the demo's dates (its first sales day is 2026-04-20), outside the short window."""
GHOST = 99_000_101
"""A CustomerId missing from MV_SetupCustomer (its rows belong to no region)."""
ORPHAN_SALE = 77_000_001
"""A SaleId of sales lines that no header has."""
GHOST_SALE = 88_000_001
GHOST_VISIT = 6_900_001

SHORT = {"lookback_weeks": 8, "history_weeks": 12}
"""A history window shorter than the demo's 30 weeks: rows outside it exist."""
FULL: dict[str, int] = {}
"""The default history (104 weeks) holds the whole demo."""


def _first_sale(sales: pl.DataFrame, customer: int, when: pl.Expr) -> dict[str, Any]:
    """The first sale header (by SaleId) of ``customer`` matching ``when``."""
    return sales.filter((pl.col("CustomerId") == customer) & when).sort("SaleId").row(0, named=True)


def _first_visit(visits: pl.DataFrame, customer: int) -> dict[str, Any]:
    """The first visit (by VisitId) of ``customer``."""
    return visits.filter(pl.col("CustomerId") == customer).sort("VisitId").row(0, named=True)


def messy_tables(demo: dict[str, pl.DataFrame]) -> dict[str, pl.DataFrame]:
    """The demo with every case planted (the demo's own bad rows stay: unknown items, missing
    quantities, repeated headers, sales of unknown customers, outlets without GPS)."""
    customers, sales = demo[CUSTOMER.name], demo[SALES.name]
    ones = customers.filter(pl.col("AreaId") == 1).sort("CustomerId")
    twos = customers.filter(pl.col("AreaId") == 2).sort("CustomerId")
    repeated, two_areas = ones.row(0, named=True), ones.row(1, named=True)
    other_channel = ones.row(3, named=True)
    flipped = "OFF_TRADE" if other_channel["Channel"] == "ON_TRADE" else "ON_TRADE"
    visits = demo[VISIT.name]
    visit_across = _first_visit(visits, ones["CustomerId"][5])
    visit_with_ghost = _first_visit(visits, ones["CustomerId"][6])
    recent, old = pl.col("SaleDate") >= RECENT, pl.col("SaleDate") < OLD
    straddling = _first_sale(sales, twos["CustomerId"][2], recent)
    outside = _first_sale(sales, twos["CustomerId"][3], old)
    across = _first_sale(sales, ones["CustomerId"][4], recent)
    with_ghost = _first_sale(sales, twos["CustomerId"][5], recent)
    ghost_sale = {"SaleId": GHOST_SALE, "CustomerId": GHOST + 1, "SaleDate": RECENT, "RepId": None}
    extra_customers = [
        repeated,  # the same customer twice in its area: duplicate_key
        {**two_areas, "AreaId": 2, "RepId": twos["RepId"][0]},  # several_areas
        {**other_channel, "Channel": flipped},  # another channel in its area: conflicting_key
    ]
    extra_sales = [
        {**straddling, "SaleDate": EARLY},  # a copy outside the short window
        {**outside, "RepId": None},  # both copies outside the short window
        {**across, "CustomerId": twos["CustomerId"][4]},  # a copy in the other region
        {**with_ghost, "CustomerId": GHOST},  # a copy of a customer no region owns
        ghost_sale,
        ghost_sale,  # a repeated header of a customer no region owns
    ]
    item = demo["MV_SetupItem"]["ItemId"][0]
    extra_lines = [
        *({"SaleId": ORPHAN_SALE, "ItemId": item, "Quantity": 1.0, "Amount": 9.5},) * 2,
        {"SaleId": ORPHAN_SALE + 1, "ItemId": item, "Quantity": 2.0, "Amount": 19.0},
        {"SaleId": GHOST_SALE, "ItemId": item, "Quantity": 3.0, "Amount": 28.5},
    ]
    ghost_visit = {"VisitId": GHOST_VISIT, "CustomerId": GHOST, "RepId": 501, "VisitDate": RECENT}
    extra_visits = [
        ghost_visit,
        ghost_visit,  # a repeated visit of a customer no region owns
        {**visit_across, "CustomerId": twos["CustomerId"][6]},  # a copy in the other region
        {**visit_with_ghost, "CustomerId": GHOST},  # a copy of a customer no region owns
    ]
    extra = {
        CUSTOMER.name: extra_customers,
        SALES.name: extra_sales,
        SALES_DETAIL.name: extra_lines,
        VISIT.name: extra_visits,
        **planning_rows(demo, ones, two_areas["CustomerId"]),
    }
    planted = {
        name: pl.concat([frame, pl.DataFrame(extra[name], schema=frame.schema, orient="row")])
        if name in extra
        else frame
        for name, frame in demo.items()
    }
    return with_bad_attributes(planted, ones, twos)


def planning_rows(
    demo: dict[str, pl.DataFrame], ones: pl.DataFrame, two_areas: int
) -> dict[str, list[dict[str, Any]]]:
    """Bad rows of the optional planning tables (the demo's own stay: a backwards interval,
    a pinned visit of a missing customer): hours repeated identically (duplicate_key), with
    another closing time (conflicting_key, both copies), of a missing customer and of the
    customer listed in two areas (unknown_customer), on a weekday 8 (bad_hours); a pin
    repeated and one of a missing customer; an exclusion conflicting with itself and one of a
    missing customer."""
    hours, pins = demo[OUTLET_HOURS.name], demo[VISIT_PIN.name]
    exclusions = demo[VISIT_EXCLUSION.name]
    later = ones["CustomerId"].slice(10).implode()
    own = hours.filter(pl.col("CustomerId").is_in(later)).sort("CustomerId", "Weekday")
    repeated, changed = own.row(0, named=True), own.row(own.height - 1, named=True)
    other_closes = changed["Closes"].replace(hour=changed["Closes"].hour - 1)
    pin = pins.filter(pl.col("CustomerId").is_in(later)).row(0, named=True)
    excluded = exclusions.filter(pl.col("CustomerId").is_in(later)).row(0, named=True)
    return {
        OUTLET_HOURS.name: [
            repeated,  # duplicate_key
            {**changed, "Closes": other_closes},  # conflicting_key, with the original
            {**repeated, "CustomerId": GHOST},  # unknown_customer, read by the plan
            {**repeated, "CustomerId": two_areas},  # unknown_customer: set aside customer
            {**repeated, "Weekday": 8},  # bad_hours
        ],
        VISIT_PIN.name: [pin, {**pin, "CustomerId": GHOST}],
        VISIT_EXCLUSION.name: [
            {**excluded, "Reason": "another reason"},  # conflicting_key, with the original
            {**excluded, "CustomerId": GHOST},
        ],
    }


def with_bad_attributes(
    tables: dict[str, pl.DataFrame], ones: pl.DataFrame, twos: pl.DataFrame
) -> dict[str, pl.DataFrame]:
    """Invalid optional attributes (the rows stay, the attribute is ignored): a rep's home out
    of range and one at (0, 0) (invalid_home, with the demo's one with a latitude only), a
    customer of each region with an impossible visit length or frequency."""
    reps = tables[REP.name]["RepId"].sort()
    rep = pl.col("RepId")
    customer = pl.col("CustomerId")
    minutes_of, weeks_of = ones["CustomerId"][12], twos["CustomerId"][12]
    return {
        **tables,
        REP.name: tables[REP.name].with_columns(
            pl.when(rep == reps[0])
            .then(95.0)
            .when(rep == reps[-1])
            .then(0.0)
            .otherwise("HomeLatitude")
            .alias("HomeLatitude"),
            pl.when(rep == reps[-1]).then(0.0).otherwise("HomeLongitude").alias("HomeLongitude"),
        ),
        CUSTOMER.name: tables[CUSTOMER.name].with_columns(
            pl.when(customer == minutes_of)
            .then(600.0)
            .otherwise("VisitMinutes")
            .alias("VisitMinutes"),
            pl.when(customer == weeks_of)
            .then(99)
            .otherwise("VisitEveryWeeks")
            .alias("VisitEveryWeeks"),
        ),
    }


@pytest.fixture(scope="module")
def messy_database(
    tmp_path_factory: pytest.TempPathFactory, demo_tables: dict[str, pl.DataFrame]
) -> tuple[dict[str, pl.DataFrame], str]:
    """The messy tables and the ODBC connection string of their SQLite database."""
    tables = messy_tables(demo_tables)
    return tables, write_sqlite(tmp_path_factory.mktemp("messy") / "erp.db", tables)


def in_scope(
    table: str, rows: pl.DataFrame, sales: pl.DataFrame, window: ScoringWindow
) -> pl.DataFrame:
    """The rows of ``table`` that the Azure app reads for ``window``: the sales headers of the
    history window, the lines of those sales or of no sale at all, the visits before the week,
    every row of the other tables. ``sales`` is the whole MV_Sales table."""
    dated = pl.col("SaleDate").is_between(window.history_start, window.week_start, closed="left")
    if table == SALES.name:
        return rows.filter(dated)
    if table == VISIT.name:
        return rows.filter(pl.col("VisitDate") < window.week_start)
    if table == SALES_DETAIL.name:
        windowed = sales.filter(dated).get_column("SaleId").implode()
        headed = sales.get_column("SaleId").implode()
        return rows.filter(pl.col("SaleId").is_in(windowed) | ~pl.col("SaleId").is_in(headed))
    return rows


@dataclass(frozen=True)
class Counted:
    """What one driver read and set aside: its window, rows in and reasons per table, the
    accounting of its summary (`tables`) and the clean sales lines scored per region."""

    window: ScoringWindow
    input_rows: dict[str, int]
    quarantined: dict[str, dict[str, int]]
    lines: dict[int, int]

    def tables(self) -> dict[str, dict[str, Any]]:
        return accounting(self.input_rows, self.quarantined)


def local_run(
    connection: str, folder: Path, scoring: ScoringConfig
) -> tuple[Counted, dict[str, pl.DataFrame]]:
    """The local run's reading (``OdbcSource``, the whole views) and staging, and its
    set-aside rows per table (its quarantine files, with their Reason)."""
    staged = stage_from_source(
        OdbcSource(connection),
        folder / "work",
        folder / "quarantine",
        WEEK,
        scoring,
        batch_rows=10_000,
        today=WEEK,
    )
    set_aside: dict[str, pl.DataFrame] = {}
    for name, spec in ALL_TABLES.items():
        path = folder / "quarantine" / f"{name}.csv"
        shown = set_aside_columns(spec)
        schema = {
            **dict(zip(shown, spec.all_columns.values(), strict=True)),
            REASON: pl.String(),
        }
        set_aside[name] = (
            pl.read_csv(path, schema=schema) if path.exists() else pl.DataFrame(schema=schema)
        )
    lines = {
        area: scan_region_lines(staged.work_dir, area).collect().height for area in staged.regions
    }
    counted = Counted(staged.window, staged.input_rows, staged.quarantine_counts, lines)
    return counted, set_aside


def azure_run(settings: Settings) -> Counted:
    """The Azure app's plan activity (with the rows no region owns) and every region's scoring
    activity, their counts merged as the orchestrator merges them."""
    started = {"runId": f"parity-{uuid.uuid4().hex[:8]}", "startedAt": f"{WEEK}T05:00:00+00:00"}
    plan = RunPlan.from_json(plan_run({**started, "weekStart": WEEK.isoformat()}, settings))
    assert plan.all_regions
    outcomes = [
        score_region_activity(plan.region_task(area).to_json(), settings) for area in plan.regions
    ]
    input_rows = merge_input_rows(
        [*(outcome["inputRows"] for outcome in outcomes), plan.unowned.input_rows]
    )
    quarantined = merge_quarantine_counts(
        [*(outcome["quarantined"] for outcome in outcomes), plan.unowned.quarantined]
    )
    lines = {outcome["areaId"]: outcome["lines"] for outcome in outcomes}
    return Counted(plan.window, input_rows, quarantined, lines)


def settings_for(settings: Settings, connection: str, history: dict[str, int]) -> Settings:
    """The test settings (emulators) on the ``connection`` database, with ``history``."""
    return dataclasses.replace(
        settings, sql_connection_string=connection, scoring_overrides=history
    )


@pytest.mark.parametrize(
    ("history", "conflicting"),
    [pytest.param(SHORT, 5, id="short-history"), pytest.param(FULL, 8, id="full-history")],
)
def test_both_drivers_count_the_same_messy_rows(
    tmp_path: Path,
    settings: Settings,
    messy_database: tuple[dict[str, pl.DataFrame], str],
    history: dict[str, int],
    conflicting: int,
) -> None:
    """Per table, the Azure app's rows in and reasons are the local run's on the rows of the
    run's scope (all of them with the full history), rows in = clean + set aside in both, and
    both score the same clean sales lines in every region.

    ``conflicting``: the conflicting headers in the scope (short history: the copy in the
    window of the SaleId straddling its start, and both copies of the SaleIds sold in two
    regions and in a region and to a missing customer; full history: also the other copy of
    the first and both of the SaleId conflicting before the short window)."""
    tables, connection = messy_database
    local, set_aside = local_run(connection, tmp_path, ScoringConfig(**history))
    azure = azure_run(settings_for(settings, connection, history))
    assert azure.window == local.window
    window, sales = azure.window, tables[SALES.name]
    scoped = Counted(
        window,
        {name: in_scope(name, frame, sales, window).height for name, frame in tables.items()},
        {
            name: reason_counts(in_scope(name, rows, sales, window))
            for name, rows in set_aside.items()
        },
        local.lines,
    )
    # every planted case is in the scope
    assert scoped.quarantined[CUSTOMER.name]["several_areas"] == 2
    assert scoped.quarantined[CUSTOMER.name]["duplicate_key"] == 1
    assert scoped.quarantined[CUSTOMER.name]["conflicting_key"] == 2
    assert scoped.quarantined[SALES.name]["conflicting_sale_id"] == conflicting
    assert scoped.quarantined[SALES.name]["duplicate_sale_id"] >= 1
    assert scoped.quarantined[SALES_DETAIL.name]["unknown_sale"] == 3
    assert scoped.quarantined[VISIT.name]["duplicate_visit_id"] == 1
    assert scoped.quarantined[VISIT.name]["conflicting_visit_id"] == 4
    assert scoped.quarantined[REP.name] == {"invalid_home": 3}
    assert scoped.quarantined[CUSTOMER.name]["invalid_visit_minutes"] == 1
    assert scoped.quarantined[CUSTOMER.name]["invalid_visit_frequency"] == 1
    hours = scoped.quarantined[OUTLET_HOURS.name]
    assert {
        reason: hours[reason] for reason in ("bad_hours", "conflicting_key", "duplicate_key")
    } == {
        "bad_hours": 2,
        "conflicting_key": 2,
        "duplicate_key": 1,
    }
    assert hours["unknown_customer"] >= 2  # with the hours of the customers set aside
    assert scoped.quarantined[VISIT_PIN.name] == {"duplicate_key": 1, "unknown_customer": 2}
    assert scoped.quarantined[VISIT_EXCLUSION.name] == {
        "conflicting_key": 2,
        "unknown_customer": 1,
    }

    assert {name: azure.quarantined.get(name, {}) for name in ALL_TABLES} == scoped.quarantined
    assert azure.input_rows == scoped.input_rows
    assert azure.tables() == scoped.tables()
    for driver in (azure, local):
        for name, row in driver.tables().items():
            assert row["rowsIn"] == row["clean"] + row["setAside"], name
            assert 0 <= row["setAside"] <= row["rowsIn"], name
    assert azure.lines == local.lines  # no conflicting sale is scored by either
    if history is FULL:  # the window holds every row: the two summaries' counts are equal
        assert azure.input_rows == local.input_rows
        assert azure.quarantined == local.quarantined
    else:  # the local run also counts the rows before the window
        assert azure.input_rows[SALES.name] < local.input_rows[SALES.name]
        assert azure.quarantined != local.quarantined


def test_a_customer_without_an_area_stops_both_drivers(
    tmp_path: Path, settings: Settings, demo_tables: dict[str, pl.DataFrame]
) -> None:
    """AreaId is required: a customer row without one (no region reads it) stops the Azure
    plan with the table and column, as it stops the local run's reading, instead of its
    sales being counted as those of an unknown customer."""
    customers = demo_tables[CUSTOMER.name]
    orphan = {**customers.row(0, named=True), "CustomerId": GHOST + 7, "AreaId": None}
    sale = {"SaleId": GHOST_SALE + 7, "CustomerId": GHOST + 7, "SaleDate": RECENT, "RepId": None}
    tables = {
        **demo_tables,
        CUSTOMER.name: pl.concat([customers, pl.DataFrame([orphan], schema=customers.schema)]),
        SALES.name: pl.concat(
            [demo_tables[SALES.name], pl.DataFrame([sale], schema=demo_tables[SALES.name].schema)]
        ),
    }
    connection = write_sqlite(tmp_path / "erp.db", tables)
    with pytest.raises(ContractError) as local:
        read_small_tables(OdbcSource(connection))
    with pytest.raises(ContractError) as azure:
        azure_run(settings_for(settings, connection, FULL))
    for error in (local.value, azure.value):
        problem = error.problems[0]
        assert (problem.table, problem.column) == (CUSTOMER.name, "AreaId"), str(error)
