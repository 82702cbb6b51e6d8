"""The proposed orders' steps: their inputs from clean contract tables, the documents, the
feedback history's lines.

The tables are cut at the as-of date *as they are loaded* (`load_tables`: sales after it, their
lines and later visits are never handed on), the rest is quarantined, and the clean tables are
shaped into `scoring.orders.OrderInputs` (`order_inputs`, the same for a whole folder and for
one region read from SQL). Each customer's proposal becomes one document (`order_documents`,
docs/orders.md); its lines feed the next run's feedback (`history_lines`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import polars as pl

from scoring.config import ScoringConfig
from scoring.orders import OrderConfig, OrderInputs, OrderProposal, propose_orders
from scoring.orders.development import CALIBRATION_SLACK_DAYS, WeekScores
from scoring.orders.feedback import HISTORY_SCHEMA
from visitrank.contract.quarantine import quarantine
from visitrank.contract.source import SetAside, TableSource
from visitrank.contract.tables import SALES, SALES_DETAIL, TABLES, VISIT
from visitrank.pipeline.week import data_today

QUANTITY_DIGITS = 2
PROBABILITY_DIGITS = 3


def cut_at(tables: dict[str, pl.DataFrame], as_of: date) -> dict[str, pl.DataFrame]:
    """The tables without any sale, sales line or visit after `as_of`. Lines are kept only
    when one of their sale's headers is on or before `as_of` (a line of a later sale is not
    read at all, rather than quarantined as `unknown_sale`)."""
    out = dict(tables)
    sales = tables[SALES.name].filter(pl.col("SaleDate") <= as_of)
    later = tables[SALES.name].filter(pl.col("SaleDate") > as_of).select("SaleId")
    out[SALES.name] = sales
    out[SALES_DETAIL.name] = tables[SALES_DETAIL.name].join(
        later.join(sales.select("SaleId"), on="SaleId", how="anti").unique(),
        on="SaleId",
        how="anti",
    )
    out[VISIT.name] = tables[VISIT.name].filter(pl.col("VisitDate") <= as_of)
    return out


def load_tables(source: TableSource, as_of: date | None) -> tuple[dict[str, pl.DataFrame], date]:
    """Every contract table, cut at `as_of` on load (default: the last sales day)."""
    if as_of is None:
        as_of = data_today(source.last_sale_date())
    tables = {name: source.read(spec) for name, spec in TABLES.items()}
    return cut_at(tables, as_of), as_of


@dataclass(frozen=True)
class LoadedOrders:
    """Clean order inputs at `as_of` and what was set aside."""

    inputs: OrderInputs
    as_of: date
    quarantined: dict[str, dict[str, int]]


def load_order_inputs(
    source: TableSource, as_of: date | None, set_aside: SetAside | None = None
) -> LoadedOrders:
    """Read, cut at `as_of`, quarantine (the set-aside rows to `set_aside`) and shape the
    order inputs."""
    tables, as_of = load_tables(source, as_of)
    checked = quarantine(tables)
    if set_aside is not None:
        set_aside(checked.rows)
    return LoadedOrders(order_inputs(checked.tables, as_of), as_of, checked.counts())


def order_inputs(clean: dict[str, pl.DataFrame], as_of: date) -> OrderInputs:
    """The proposed orders' inputs from quarantined tables: items with their CategoryId, the
    sales lines up to `as_of`, each customer's last visit up to `as_of`."""
    items = clean["MV_SetupItem"].join(
        clean["MV_SetupSubCategory"].select("SubCategoryId", "CategoryId"),
        on="SubCategoryId",
        how="left",
    )
    lines = (
        clean[SALES.name]
        .filter(pl.col("SaleDate") <= as_of)
        .select("SaleId", "CustomerId", "SaleDate")
        .join(
            clean[SALES_DETAIL.name].select("SaleId", "ItemId", "Quantity", "Amount"), on="SaleId"
        )
        .drop("SaleId")
    )
    last_visits = (
        clean[VISIT.name]
        .filter(pl.col("VisitDate") <= as_of)
        .group_by("CustomerId")
        .agg(LastVisitDate=pl.col("VisitDate").max())
    )
    return OrderInputs(clean["MV_SetupCustomer"], items, lines, last_visits)


def order_history_start(as_of: date, orders: OrderConfig, scoring: ScoringConfig) -> date:
    """The first sales day the proposed orders of ``as_of`` can use.

    ``propose_orders`` builds its candidates at ``as_of`` and again ``calibration_weeks``
    earlier; each build looks back over the longest of the order look-back, the item
    seasonality (``season_weeks``) and the scoring's history (development part), and the
    calibration date may be ``CALIBRATION_SLACK_DAYS`` earlier (kept week scores). Reading
    from here gives the same proposal as reading all history."""
    weeks = max(orders.lookback_weeks, orders.season_weeks, scoring.history_weeks)
    # kept week scores may move the calibration date a few days earlier
    slack = CALIBRATION_SLACK_DAYS
    return as_of - timedelta(days=7 * (weeks + orders.calibration_weeks) - 1 + slack)


def order_documents(proposal: OrderProposal) -> list[dict[str, Any]]:
    """One document per customer (docs/orders.md): customerId, asOf, expectedOrderDate,
    orderIntervalDays, lines[itemId, itemName, quantity, kind, probability, reason], and
    emptyReason when lines is empty (why the customer gets no proposal)."""
    lines = (
        proposal.lines.sort("CustomerId", "Rank")
        .group_by("CustomerId", maintain_order=True)
        .agg(
            lines=pl.struct(
                itemId="ItemId",
                itemName="ItemName",
                quantity=pl.col("Quantity").round(QUANTITY_DIGITS),
                kind="Kind",
                probability=pl.col("Probability").round(PROBABILITY_DIGITS),
                reason="Reason",
            )
        )
    )
    customers = proposal.customers
    if "EmptyReason" not in customers.columns:
        customers = customers.with_columns(EmptyReason=pl.lit(None, dtype=pl.String))
    table = customers.select("CustomerId", "NextOrder", "IntervalDays", "EmptyReason").join(
        lines, on="CustomerId", how="full", coalesce=True
    )
    as_of = proposal.as_of.isoformat()
    documents = []
    for row in table.sort("CustomerId").iter_rows(named=True):
        document = {
            "id": str(row["CustomerId"]),
            "customerId": row["CustomerId"],
            "asOf": as_of,
            "expectedOrderDate": row["NextOrder"].isoformat() if row["NextOrder"] else None,
            "orderIntervalDays": row["IntervalDays"],
            "lines": row["lines"] or [],
        }
        if not document["lines"]:
            document["emptyReason"] = row["EmptyReason"] or "no line selected"
        documents.append(document)
    return documents


def history_lines(proposal: OrderProposal) -> pl.DataFrame:
    """The proposal's lines in the feedback history layout."""
    return proposal.lines.select(
        "CustomerId", pl.lit(proposal.as_of).alias("AsOf"), "ItemId", "Kind", "Probability"
    ).cast(HISTORY_SCHEMA)  # type: ignore[arg-type]


def merged_history(history: pl.DataFrame | None, proposal: OrderProposal) -> pl.DataFrame:
    """The feedback history with the proposal's lines added; a rerun of the same as-of replaces
    its lines (per customer proposed again)."""
    new = history_lines(proposal)
    if history is not None:
        kept = history.join(
            new.select("CustomerId", "AsOf").unique(), on=["CustomerId", "AsOf"], how="anti"
        )
        new = pl.concat([kept, new])
    return new.sort("AsOf", "CustomerId", "ItemId")


@dataclass(frozen=True)
class RegionOrders:
    """The arguments of one region's `propose_orders` (picklable: frames and frozen configs)."""

    inputs: OrderInputs
    as_of: date
    config: OrderConfig
    scoring: ScoringConfig | None
    history: pl.DataFrame | None
    customer_ids: list[int] | None
    week_scores: WeekScores | None
    calibration_scores: WeekScores | None


Mapper = Callable[
    [Callable[[RegionOrders], OrderProposal], list[RegionOrders]], Iterable[OrderProposal]
]
"""Maps one region's proposal over the regions (the builtin `map`, or a worker pool's)."""


def propose_region(task: RegionOrders) -> OrderProposal:
    """`propose_orders` of one region's arguments (a module-level function: a worker pool can
    run it)."""
    return propose_orders(
        task.inputs,
        task.as_of,
        task.config,
        task.scoring,
        task.history,
        task.customer_ids,
        task.week_scores,
        task.calibration_scores,
    )


def propose_by_region(
    inputs: OrderInputs,
    as_of: date,
    config: OrderConfig,
    scoring: ScoringConfig | None = None,
    history: pl.DataFrame | None = None,
    customer_ids: list[int] | None = None,
    mapper: Mapper = map,
    week_scores: Mapping[int, WeekScores] | None = None,
    calibration_scores: Mapping[int, WeekScores] | None = None,
) -> OrderProposal:
    """`propose_orders` region by region (the calibration, the item similarity and the
    seasonality fitted on each region's customers), then together: what the Azure run does,
    one activity per region, so that both drivers propose the same orders on the same data.
    `mapper` runs the regions (the local run passes its worker pool's `map`); the regions'
    proposals are joined in area order whichever runs them. `week_scores`: the weekly run's
    scoring of the regions that scored, by AreaId; `calibration_scores`: kept week scores to
    calibrate on, by AreaId (`propose_orders`); the other regions are scored here."""
    tasks: list[RegionOrders] = []
    regions = inputs.customers.partition_by("AreaId", as_dict=True, maintain_order=True)
    for (area,), region in sorted(regions.items(), key=lambda item: item[0]):
        ids = region.get_column("CustomerId")
        wanted = None if customer_ids is None else [c for c in customer_ids if c in set(ids)]
        if wanted == []:
            continue
        in_region = pl.col("CustomerId").is_in(ids.implode())
        region_inputs = OrderInputs(
            region,
            inputs.items,
            inputs.lines.filter(in_region),
            inputs.last_visits.filter(in_region),
        )
        region_history = history.filter(in_region) if history is not None else None
        tasks.append(
            RegionOrders(
                region_inputs,
                as_of,
                config,
                scoring,
                region_history,
                wanted,
                None if week_scores is None else week_scores.get(int(area)),
                None if calibration_scores is None else calibration_scores.get(int(area)),
            )
        )
    if not tasks:
        return propose_orders(inputs, as_of, config, scoring, history, customer_ids)
    proposals = list(mapper(propose_region, tasks))
    return OrderProposal(
        as_of=as_of,
        lines=pl.concat([proposal.lines for proposal in proposals], how="vertical_relaxed"),
        customers=pl.concat([proposal.customers for proposal in proposals], how="vertical_relaxed"),
    )


def week_scores_by_area(
    outlets: pl.DataFrame, skus: pl.DataFrame, as_of: date | None = None
) -> dict[int, WeekScores]:
    """The weekly run's scoring per region (`propose_by_region`'s `week_scores`) from its staged
    frames: `outlets` (CustomerId, AreaId, Segment, ...) and `skus` (the SKUs to push) of the
    regions that scored, as of `as_of`."""
    scores = WeekScores.from_scores(skus, outlets, as_of)
    by_area = outlets.select("CustomerId", "AreaId").partition_by(
        "AreaId", as_dict=True, maintain_order=True
    )
    return {
        int(area): scores.of_customers(region.get_column("CustomerId"))
        for (area,), region in by_area.items()
    }
