"""One region's scoring inputs and rep table from its quarantined contract tables.

The same frames whichever driver reads the region: the local run stages them for all regions
at once (`visitrank.adapters.local_stage`, which calls `items_with_category` and `rep_table`),
the Azure scoring activity shapes one region read from SQL (`region_inputs`, `rep_table`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Final

import polars as pl

from scoring.inputs import RegionInputs, ScoringWindow, history_visits
from scoring.pipeline import RegionScores
from visitrank.contract.quarantine import Quarantined, quarantine
from visitrank.contract.tables import (
    ALL_TABLES,
    CUSTOMER,
    OPTIONAL_TABLES,
    REP,
    SALES,
    SALES_DETAIL,
    TABLES,
    VISIT,
    TableSpec,
    complete,
    with_optional_columns,
)
from visitrank.pipeline.payloads import RegionOutcome

REP_SCHEMA = {
    "RepId": pl.Int64,
    "RepName": pl.String,
    "HomeLatitude": pl.Float64,
    "HomeLongitude": pl.Float64,
    "EligibleOutlets": pl.Int64,
}
HOME_COLUMNS: Final = ("HomeLatitude", "HomeLongitude")


def items_with_category(clean: Mapping[str, pl.DataFrame]) -> pl.DataFrame:
    """The items with the CategoryId of their subcategory (the scoring's item table)."""
    return clean["MV_SetupItem"].join(
        clean["MV_SetupSubCategory"].select("SubCategoryId", "CategoryId"),
        on="SubCategoryId",
        how="left",
    )


def last_visits_before(visits: pl.LazyFrame, window: ScoringWindow) -> pl.LazyFrame:
    """CustomerId, LastVisitDate: each customer's last visit before the planned week."""
    return (
        visits.filter(pl.col("VisitDate") < window.week_start)
        .group_by("CustomerId")
        .agg(LastVisitDate=pl.col("VisitDate").max())
    )


def region_inputs(clean: Mapping[str, pl.DataFrame], window: ScoringWindow) -> RegionInputs:
    """The scoring inputs of one region from its quarantined tables.

    Same frames as ``visitrank.adapters.local_stage.stage_inputs`` writes and
    ``region_job.load_region``
    reads back: items with their CategoryId, sales lines in the history window, each
    customer's last visit before the week and the visits of the history window (for the visit
    response).
    """
    customers = clean["MV_SetupCustomer"]
    items = clean["MV_SetupItem"].join(
        clean["MV_SetupSubCategory"].select("SubCategoryId", "CategoryId"),
        on="SubCategoryId",
        how="left",
    )
    lines = (
        clean["MV_Sales"]
        .lazy()
        .filter(pl.col("SaleDate").is_between(window.history_start, window.as_of))
        .select("SaleId", "CustomerId", "SaleDate")
        .join(
            clean["MV_SalesDetail"].lazy().select("SaleId", "ItemId", "Quantity", "Amount"),
            on="SaleId",
        )
        .join(customers.lazy().select("CustomerId", "AreaId"), on="CustomerId")
        .drop("SaleId")
        .sort("AreaId", "CustomerId")
        .collect()
    )
    last_visits = (
        last_visits_before(clean["MV_Visit"].lazy(), window)
        .join(customers.lazy().select("CustomerId"), on="CustomerId", how="semi")
        .collect()
    )
    visits = (
        history_visits(clean["MV_Visit"].lazy(), window)
        .join(customers.lazy().select("CustomerId"), on="CustomerId", how="semi")
        .collect()
    )
    return RegionInputs(
        customers=customers.sort("CustomerId"),
        items=items,
        lines=lines,
        last_visits=last_visits,
        visits=visits,
    )


def rep_table(clean: Mapping[str, pl.DataFrame]) -> pl.DataFrame:
    """RepId, RepName, HomeLatitude, HomeLongitude, EligibleOutlets (``REP_SCHEMA``) for the
    reps owning customers of this region (as ``stage_inputs`` computes them for all regions).
    The home is where the rep's days start and end: null when the data has none or it was
    invalid (``invalid_home``)."""
    customers = clean["MV_SetupCustomer"]
    eligible = customers.filter(pl.col("Routable")).group_by("RepId").agg(EligibleOutlets=pl.len())
    return (
        with_optional_columns(REP, clean["MV_SetupRep"])
        .select("RepId", "RepName", *HOME_COLUMNS)
        .join(customers.select("RepId").unique(), on="RepId", how="semi")
        .join(eligible, on="RepId", how="left")
        .with_columns(pl.col("EligibleOutlets").fill_null(0).cast(pl.Int64))
    )


def merge_reps(per_region: Iterable[pl.DataFrame]) -> pl.DataFrame:
    """One row per rep (``REP_SCHEMA``); a rep with outlets in several regions gets the sum of
    eligible ones (every region reads the whole rep table, so its name and home agree). A
    frame staged without the home columns has null homes."""
    frames = [
        with_optional_columns(REP, frame).select(list(REP_SCHEMA))
        for frame in per_region
        if frame.height
    ]
    if not frames:
        return pl.DataFrame(schema=REP_SCHEMA)
    return (
        pl.concat(frames, how="vertical_relaxed")
        .group_by("RepId")
        .agg(
            pl.col("RepName").first(),
            *(pl.col(column).drop_nulls().first() for column in HOME_COLUMNS),
            pl.col("EligibleOutlets").sum(),
        )
        .sort("RepId")
    )


def scored_outcome(area_id: int, inputs: RegionInputs, scores: RegionScores) -> RegionOutcome:
    """What the scoring of one region reports, whichever driver ran it: counts (`reps`: the reps
    with scored outlets, by which Azure sizes its route chunks) and the learned
    steps' summaries (`visitResponse`, `gapPersistence`: None when the step is off) and the
    push floor derived from the assortment (`pushFloor`). The drivers add where the frames
    went and how long it took."""
    return {
        "areaId": area_id,
        "status": "ok",
        "outlets": scores.outlets.height,
        "reps": scores.outlets["RepId"].drop_nulls().n_unique(),
        "lines": inputs.lines.height,
        "outletsWithOpportunity": int((scores.outlets["PushedSkus"] > 0).sum()),
        "skusToPush": scores.skus.height,
        "visitResponse": scores.response,
        "gapPersistence": scores.persistence,
        "pushFloor": scores.assortment,
    }


SALE_COPIES: Final = f"{SALES.name}.copies"
"""The key, among one reader's tables as read from SQL (a region's, `SqlSource.read_region`, or
the plan's, `SqlSource.read_unowned`), of the other headers of the reader's SaleIds: the same
SaleId dated outside the window or of a customer another reader owns. They differ from the
reader's own header, so the quarantine, seeing both, sets the SaleId aside
(`conflicting_sale_id`) as it does on the whole table; they are never the reader's rows (not
counted, and never clean)."""

VISIT_COPIES: Final = f"{VISIT.name}.copies"
"""As :data:`SALE_COPIES`, for visits: the other rows of the reader's VisitIds, dated in or
after the planned week or of a customer another reader owns, so that a VisitId whose copies
differ is set aside whole (`conflicting_visit_id`) by every reader of one of them, as on the
whole table."""

COPIED_TABLES: Final[dict[str, TableSpec]] = {SALE_COPIES: SALES, VISIT_COPIES: VISIT}
"""Each key of other readers' copies among a reader's tables, and the table they copy rows of."""

UNOWNED_TABLES: Final = (SALES.name, SALES_DETAIL.name, VISIT.name, *OPTIONAL_TABLES)
"""The tables of which the plan reads and counts the rows no region owns (`set_aside_unowned`):
the sales, lines, visits and planning rows (hours, pins, exclusions) of customers no region
reads; customers without an area never get that far (AreaId is required)."""


def region_input_rows(tables: Mapping[str, pl.DataFrame], area_id: int) -> dict[str, int]:
    """Rows read per contract table (optional ones included) by one region, its customers'
    rows of other areas and the other copies of its sale headers and visits
    (:data:`COPIED_TABLES`) left out (their owners count them), so that the readers' counts add
    up to the rows of the run."""
    own = pl.col("AreaId") == area_id
    return {
        name: frame.filter(own).height if name == CUSTOMER.name else frame.height
        for name, frame in complete(tables).items()
        if name in ALL_TABLES
    }


def quarantine_read(tables: Mapping[str, pl.DataFrame]) -> Quarantined:
    """`quarantine` of one reader's contract tables, the other copies of its sale headers and
    visits (:data:`COPIED_TABLES`, those present and not empty) among the rows they copy.

    The copies only let the quarantine see that a key's copies differ: they are then left out
    of the set-aside rows (each is the row of another reader, or outside the window). A clean
    copy is a ValueError: a copy differs from the reader's own row of that key, so the key
    conflicts and all its copies are set aside. Optional tables it lacks are empty."""
    contract = {name: frame for name, frame in complete(tables).items() if name in ALL_TABLES}
    copied = {
        spec.name: frame
        for name, spec in COPIED_TABLES.items()
        if (frame := tables.get(name)) is not None and not frame.is_empty()
    }
    for name, copies in copied.items():
        own = contract[name]
        contract[name] = pl.concat([own, copies.select(own.columns)], how="vertical_relaxed")
    checked = quarantine(contract)
    rows = dict(checked.rows)
    for name, copies in copied.items():
        columns = TABLES[name].column_names
        clean = checked.tables[name].join(copies, on=columns, how="semi", nulls_equal=True)
        if clean.height:
            raise ValueError(f"{name}: clean copies of another reader's rows: {clean}")
        rows[name] = rows[name].join(copies, on=columns, how="anti", nulls_equal=True)
    return Quarantined(tables=checked.tables, rows=rows)


def quarantine_region(tables: Mapping[str, pl.DataFrame], area_id: int) -> Quarantined:
    """The quarantine of one region's tables as read from SQL (`SqlSource.read_region`).

    The region reads every row of its customers, also their rows under other areas, so that a
    customer listed in several areas is recognised (`several_areas`), and one repeated in the
    area with differing rows (`conflicting_key`), as on a whole table, and the other copies of
    its sale headers and visits, so that a SaleId or VisitId whose copies differ is set aside
    (`conflicting_sale_id`, `conflicting_visit_id`, `quarantine_read`); the rows of other areas
    and the copies are then left out of this region's set-aside rows, which their owners
    report."""
    checked = quarantine_read(tables)
    customers = checked.rows[CUSTOMER.name]
    foreign = pl.col("AreaId").is_null() | (pl.col("AreaId") != area_id)
    rows = {**checked.rows, CUSTOMER.name: customers.filter(~foreign)}
    clean = checked.tables[CUSTOMER.name]
    if clean.filter(foreign).height:
        raise ValueError(
            f"region {area_id}: clean customers of another area: {clean.filter(foreign)}"
        )
    return Quarantined(tables=checked.tables, rows=rows)


def set_aside_unowned(tables: Mapping[str, pl.DataFrame]) -> dict[str, pl.DataFrame]:
    """The rows no region owns, as read by `SqlSource.read_unowned` (sales, their lines and
    visits of customers without an area, lines of no sale), set aside per table of
    :data:`UNOWNED_TABLES` with the reason the whole-table quarantine gives them: the same
    rules (`quarantine_read`), so that a repeated header or visit is a duplicate, a SaleId or
    VisitId with a differing copy in a region conflicting, a line of no sale `unknown_sale`.

    None of them can be clean (no customer of theirs is known); one that is would be counted
    but never scored, so it is a ValueError."""
    checked = quarantine_read(tables)
    clean = {name: checked.tables[name].height for name in UNOWNED_TABLES}
    if any(clean.values()):
        raise ValueError(f"clean rows that no region reads: {clean}")
    return {name: checked.rows[name] for name in UNOWNED_TABLES}
