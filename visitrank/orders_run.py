"""`visitrank order`: the proposed order per customer, on local files.

Reads the contract tables through `FileSource`, cuts every dated table at the as-of date *as it
is loaded* (`load_tables`: sales after it, their lines and later visits are never handed on),
quarantines the rest (set-aside rows to `OUT/quarantine/`), proposes the orders
(`scoring.orders`) and writes `OUT/orders.jsonl`, one document per customer.

Feedback: every run appends its lines to `OUT/order_history.parquet`; the next run (a later
as-of) compares them with the orders that followed and adjusts its probabilities.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import polars as pl

from adapters.file_source import FileSource
from scoring.config import ScoringConfig
from scoring.orders import OrderConfig, OrderInputs, OrderProposal, propose_orders
from scoring.orders.feedback import HISTORY_SCHEMA
from visitrank.contract import SALES, SALES_DETAIL, TABLES, VISIT
from visitrank.quarantine import quarantine
from visitrank.staging import write_quarantine

ORDERS = "orders.jsonl"
HISTORY = "order_history.parquet"
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


def load_tables(source: FileSource, as_of: date | None) -> tuple[dict[str, pl.DataFrame], date]:
    """Every contract table, cut at `as_of` on load (default: the last sales day)."""
    if as_of is None:
        as_of = source.last_sale_date() or date.today()
    tables = {name: source.read(spec) for name, spec in TABLES.items()}
    return cut_at(tables, as_of), as_of


@dataclass(frozen=True)
class LoadedOrders:
    """Clean order inputs at `as_of` and what was set aside."""

    inputs: OrderInputs
    as_of: date
    quarantined: dict[str, dict[str, int]]


def load_order_inputs(
    source_dir: Path, as_of: date | None, quarantine_dir: Path | None = None
) -> LoadedOrders:
    """Read, cut at `as_of`, quarantine and shape the order inputs."""
    tables, as_of = load_tables(FileSource(source_dir), as_of)
    checked = quarantine(tables)
    if quarantine_dir is not None:
        write_quarantine(checked.rows, quarantine_dir)
    clean = checked.tables
    items = clean["MV_SetupItem"].join(
        clean["MV_SetupSubCategory"].select("SubCategoryId", "CategoryId"),
        on="SubCategoryId",
        how="left",
    )
    lines = (
        clean[SALES.name]
        .select("SaleId", "CustomerId", "SaleDate")
        .join(
            clean[SALES_DETAIL.name].select("SaleId", "ItemId", "Quantity", "Amount"), on="SaleId"
        )
        .drop("SaleId")
    )
    last_visits = (
        clean[VISIT.name].group_by("CustomerId").agg(LastVisitDate=pl.col("VisitDate").max())
    )
    inputs = OrderInputs(clean["MV_SetupCustomer"], items, lines, last_visits)
    return LoadedOrders(inputs, as_of, checked.counts())


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


def run_orders(
    source_dir: Path,
    out_dir: Path,
    config: OrderConfig,
    scoring: ScoringConfig | None,
    *,
    as_of: date | None = None,
    customer_id: int | None = None,
    history_path: Path | None = None,
) -> tuple[Path, int, date]:
    """Proposes the orders and writes OUT/orders.jsonl; returns (path, documents, as_of)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    loaded = load_order_inputs(source_dir, as_of, out_dir / "quarantine")
    history_path = history_path or out_dir / HISTORY
    history = pl.read_parquet(history_path) if history_path.is_file() else None
    usable = history.filter(pl.col("AsOf") < loaded.as_of) if history is not None else None
    proposal = propose_orders(
        loaded.inputs,
        loaded.as_of,
        config,
        scoring,
        history=usable,
        customer_ids=[customer_id] if customer_id is not None else None,
    )
    documents = order_documents(proposal)
    path = out_dir / ORDERS
    with path.open("w", encoding="utf-8") as handle:
        for document in documents:
            handle.write(json.dumps(document, ensure_ascii=False) + "\n")
    new = history_lines(proposal)
    if history is not None:
        # A rerun of the same as-of replaces its lines (per customer proposed again).
        kept = history.join(
            new.select("CustomerId", "AsOf").unique(), on=["CustomerId", "AsOf"], how="anti"
        )
        new = pl.concat([kept, new])
    new.sort("AsOf", "CustomerId", "ItemId").write_parquet(history_path)
    return path, len(documents), loaded.as_of
