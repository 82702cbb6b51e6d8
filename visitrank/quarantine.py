"""Set aside rows that break referential or business rules, and count them.

Coercion (``visitrank.validation``) guarantees types; this module guarantees that what is left
hangs together: every item has a brand and subcategory, every sale a known customer, every
sales line a clean header, and so on. Rows that fail a rule are *quarantined*: removed from the
clean tables, kept with a ``Reason`` so they can be counted, reported and fixed at source.
Nothing is silently dropped: for every table, rows in = clean rows + removed rows.

Rules are applied table by table in dependency order, each against the *clean* parents, so
problems cascade (a subcategory with an unknown category makes its items
``unknown_subcategory``; a conflicting sale header makes its lines ``header_quarantined``).
Within a table a row gets exactly one reason: the first rule that applies, in the order listed
in ``RULE_ORDER`` (and in ``docs/data-contract.md``).

Two kinds of rows are *reported but kept* (see ``KEPT_REASONS``):

* ``MV_SetupCustomer`` / ``no_gps``: outlets without usable coordinates (null, non-finite,
  out of range, or exactly (0, 0)). They cannot be routed, so they get ``Routable = False``
  and never appear in visit lists, but their sales are genuine peer data and still feed the
  benchmarks. Dropping them would bias every peer comparison.
* ``MV_SetupRep`` and ``MV_SetupCity`` / ``unknown_area``: the area is descriptive only (a
  customer carries its own AreaId). A rep with an unknown area is still the rep who owns those
  outlets, so removing it would wrongly orphan their customers and visits.

Pure and vectorised: every rule is a polars expression (``is_in`` against the clean parent
keys, window functions for duplicates); no Python loop over rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import polars as pl

from visitrank.contract import (
    AREA,
    BRAND,
    CATEGORY,
    CHANNELS,
    CITY,
    CUSTOMER,
    ITEM,
    REP,
    SALES,
    SALES_DETAIL,
    SUBCATEGORY,
    TABLES,
    VISIT,
    TableSpec,
)
from visitrank.errors import ContractError

REASON: Final = "Reason"
ROUTABLE: Final = "Routable"

KEPT_REASONS: Final[dict[str, frozenset[str]]] = {
    CUSTOMER.name: frozenset({"no_gps"}),
    REP.name: frozenset({"unknown_area"}),
    CITY.name: frozenset({"unknown_area"}),
}
"""Reasons that are reported in ``Quarantined.rows`` but whose rows stay in the clean table."""

RULE_ORDER: Final[dict[str, tuple[str, ...]]] = {
    AREA.name: ("duplicate_key",),
    CATEGORY.name: ("duplicate_key",),
    BRAND.name: ("duplicate_key",),
    SUBCATEGORY.name: ("duplicate_key", "unknown_category"),
    ITEM.name: ("duplicate_key", "unknown_brand", "unknown_subcategory"),
    CITY.name: ("duplicate_key", "unknown_area"),
    REP.name: ("duplicate_key", "unknown_area"),
    CUSTOMER.name: ("duplicate_key", "unknown_area", "unknown_rep", "unknown_channel", "no_gps"),
    SALES.name: ("conflicting_sale_id", "duplicate_sale_id", "unknown_customer"),
    SALES_DETAIL.name: (
        "header_quarantined",
        "unknown_sale",
        "unknown_item",
        "missing_quantity",
        "missing_amount",
        "non_finite_value",
    ),
    VISIT.name: ("duplicate_visit_id", "unknown_customer", "unknown_rep"),
}
"""Per table, the reasons in the order they are tested; a row gets the first that applies."""

Rules = list[tuple[str, pl.Expr]]


@dataclass(frozen=True)
class Quarantined:
    """Result of :func:`quarantine`.

    Attributes:
        tables: the clean tables, same keys as the input. ``MV_SetupCustomer`` gains a boolean
            ``Routable`` column and its ``Channel`` is trimmed and upper-cased.
        rows: per contract table, the set-aside rows: the contract columns as they came in
            plus a ``Reason`` string. Includes reported-but-kept rows (``KEPT_REASONS``).
    """

    tables: dict[str, pl.DataFrame]
    rows: dict[str, pl.DataFrame]

    def counts(self) -> dict[str, dict[str, int]]:
        """Table → reason → number of rows, for every contract table (empty dict if clean)."""
        result: dict[str, dict[str, int]] = {}
        for table, rows in self.rows.items():
            grouped = rows.group_by(REASON).len().sort(REASON)
            reasons = grouped.get_column(REASON).to_list()
            result[table] = dict(zip(reasons, grouped.get_column("len").to_list(), strict=True))
        return result

    def removed(self, table: str) -> int:
        """Rows of ``table`` taken out of the clean table (excludes reported-but-kept rows)."""
        kept = KEPT_REASONS.get(table, frozenset())
        return self.rows[table].filter(~pl.col(REASON).is_in(list(kept))).height


def quarantine(tables: dict[str, pl.DataFrame]) -> Quarantined:
    """Split coerced contract tables into clean tables and quarantined rows.

    ``tables`` must hold every contract table (as returned by ``coerce_table``); any extra
    tables are passed through unchanged. Raises ContractError if a contract table or one of
    its columns is missing.
    """
    _check_inputs(tables)
    split = _Splitter(tables)
    for spec in (AREA, CATEGORY, BRAND):
        split.run(spec, [("duplicate_key", _duplicate(spec))])
    split.run(
        SUBCATEGORY,
        [
            ("duplicate_key", _duplicate(SUBCATEGORY)),
            ("unknown_category", split.unknown("CategoryId", CATEGORY)),
        ],
    )
    split.run(
        ITEM,
        [
            ("duplicate_key", _duplicate(ITEM)),
            ("unknown_brand", split.unknown("BrandId", BRAND)),
            ("unknown_subcategory", split.unknown("SubCategoryId", SUBCATEGORY)),
        ],
    )
    for spec in (CITY, REP):
        split.run(
            spec,
            [("duplicate_key", _duplicate(spec)), ("unknown_area", split.unknown("AreaId", AREA))],
        )
    _customers(split)
    _sales(split)
    split.run(
        VISIT,
        [
            ("duplicate_visit_id", _duplicate(VISIT)),
            ("unknown_customer", split.unknown("CustomerId", CUSTOMER)),
            ("unknown_rep", split.unknown("RepId", REP)),
        ],
    )
    return Quarantined(tables=split.clean, rows=split.rows)


class _Splitter:
    """Accumulates clean tables and quarantined rows while the rules run in order."""

    def __init__(self, tables: dict[str, pl.DataFrame]) -> None:
        self.source = tables
        self.clean: dict[str, pl.DataFrame] = dict(tables)
        self.rows: dict[str, pl.DataFrame] = {}

    def unknown(self, column: str, parent: TableSpec) -> pl.Expr:
        """True where ``column`` is not a key of the already-cleaned ``parent`` table."""
        (key,) = parent.key
        return ~pl.col(column).is_in(self.clean[parent.name].get_column(key).implode())

    def run(self, spec: TableSpec, rules: Rules) -> pl.DataFrame:
        """Tag rows with their first failing rule; store rows and clean table.

        Returns the surviving rows *with* the ``Reason`` column (null, or a kept reason) so
        callers can derive flags such as ``Routable``.
        """
        tagged = self.source[spec.name].with_columns(_first_reason(rules).alias(REASON))
        self.rows[spec.name] = tagged.filter(pl.col(REASON).is_not_null()).select(
            [*spec.column_names, REASON]
        )
        kept = sorted(KEPT_REASONS.get(spec.name, frozenset()))
        survivors = tagged.filter(pl.col(REASON).is_null() | pl.col(REASON).is_in(kept))
        self.clean[spec.name] = survivors.drop(REASON)
        return survivors


def _customers(split: _Splitter) -> None:
    channel = pl.col("Channel").str.strip_chars().str.to_uppercase()
    lat, lon = pl.col("Latitude"), pl.col("Longitude")
    no_gps = (
        lat.is_null()
        | lon.is_null()
        | ~lat.is_finite()
        | ~lon.is_finite()
        | (lat.abs() > 90)
        | (lon.abs() > 180)
        | ((lat == 0) & (lon == 0))
    )
    survivors = split.run(
        CUSTOMER,
        [
            ("duplicate_key", _duplicate(CUSTOMER)),
            ("unknown_area", split.unknown("AreaId", AREA)),
            ("unknown_rep", split.unknown("RepId", REP)),
            ("unknown_channel", ~channel.is_in(list(CHANNELS))),
            ("no_gps", no_gps),
        ],
    )
    split.clean[CUSTOMER.name] = survivors.with_columns(
        channel.alias("Channel"), pl.col(REASON).is_null().alias(ROUTABLE)
    ).drop(REASON)


def _sales(split: _Splitter) -> None:
    conflicting = pl.struct(SALES.column_names).n_unique().over("SaleId") > 1
    split.run(
        SALES,
        [
            ("conflicting_sale_id", conflicting),
            ("duplicate_sale_id", _duplicate(SALES)),
            ("unknown_customer", split.unknown("CustomerId", CUSTOMER)),
        ],
    )
    # SaleIds with no clean copy left: their lines follow the header into quarantine. An
    # identical duplicate keeps one clean copy, so its lines stay.
    clean_ids = split.clean[SALES.name].get_column("SaleId")
    lost_ids = split.rows[SALES.name].get_column("SaleId").unique()
    lost_ids = lost_ids.filter(~lost_ids.is_in(clean_ids.implode()))
    quantity, amount = pl.col("Quantity"), pl.col("Amount")
    split.run(
        SALES_DETAIL,
        [
            ("header_quarantined", pl.col("SaleId").is_in(lost_ids.implode())),
            ("unknown_sale", split.unknown("SaleId", SALES)),
            ("unknown_item", split.unknown("ItemId", ITEM)),
            ("missing_quantity", quantity.is_null()),
            ("missing_amount", amount.is_null()),
            ("non_finite_value", ~quantity.is_finite() | ~amount.is_finite()),
        ],
    )


def _duplicate(spec: TableSpec) -> pl.Expr:
    """True for every occurrence of a key after its first (source order)."""
    (key,) = spec.key
    return ~pl.col(key).is_first_distinct()


def _first_reason(rules: Rules) -> pl.Expr:
    """The reason of the first rule whose condition is true (null condition = false), else null."""
    reason_expr: pl.Expr = pl.lit(None, dtype=pl.String)
    for reason, condition in reversed(rules):
        reason_expr = pl.when(condition).then(pl.lit(reason)).otherwise(reason_expr)
    return reason_expr


def _check_inputs(tables: dict[str, pl.DataFrame]) -> None:
    for name, spec in TABLES.items():
        if name not in tables:
            raise ContractError.at(name, "table missing: quarantine needs every contract table")
        missing = [c for c in spec.columns if c not in tables[name].columns]
        if missing:
            raise ContractError.at(
                name,
                f"missing column(s) {', '.join(missing)}; run coerce_table before quarantine",
            )
