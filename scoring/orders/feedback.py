"""The feedback loop: past proposals against the orders that followed, and what it changes.

Each proposed line is *accepted* when its item is in the customer's first order after the
proposal's as-of date, *ignored* otherwise; lines whose customer has not ordered since are
pending and not counted. Per customer and group (`usual`, or `novelty` for development and
extension lines; must-sell lines are business decisions and not counted), the ratio

    factor = (accepted + k * p) / (expected + k * p)

compares what was accepted with what the probabilities expected (expected = the sum of the
proposed probabilities, p their mean, k = `feedback_prior` pseudo-lines), so a short history
barely moves anything. The odds of that customer's new lines of the group are multiplied by
the factor (clipped to [`feedback_min_factor`, `feedback_max_factor`]): a customer who never
takes novelties gets lower novelty probabilities, so fewer pass the novelty threshold.
"""

from __future__ import annotations

from datetime import date

import polars as pl

from scoring.orders.config import OrderConfig

HISTORY_SCHEMA = {
    "CustomerId": pl.Int64,
    "AsOf": pl.Date,
    "ItemId": pl.Int64,
    "Kind": pl.String,
    "Probability": pl.Float64,
}
"""Columns of a proposal history (one row per proposed line)."""


def group_of(kind: pl.Expr) -> pl.Expr:
    """`usual` for usual lines, `novelty` for development and extension, null for must-sell."""
    return (
        pl.when(kind == "usual")
        .then(pl.lit("usual"))
        .when(kind.is_in(["development", "extension"]))
        .then(pl.lit("novelty"))
        .otherwise(pl.lit(None, dtype=pl.String))
    )


def outcomes(history: pl.DataFrame, basket: pl.DataFrame, until: date) -> pl.DataFrame:
    """The history's lines with an `Accepted` flag, for proposals followed by an order in
    (AsOf, until]; `basket` holds CustomerId, SaleDate, ItemId."""
    proposals = history.filter(pl.col("AsOf") < until)
    orders = basket.select("CustomerId", "SaleDate").unique()
    next_order = (
        proposals.select("CustomerId", "AsOf")
        .unique()
        .join(orders, on="CustomerId")
        .filter((pl.col("SaleDate") > pl.col("AsOf")) & (pl.col("SaleDate") <= until))
        .group_by("CustomerId", "AsOf")
        .agg(NextOrder=pl.col("SaleDate").min())
    )
    bought = basket.select("CustomerId", "SaleDate", "ItemId").unique()
    return (
        proposals.join(next_order, on=["CustomerId", "AsOf"])
        .join(
            bought.rename({"SaleDate": "NextOrder"}).with_columns(Accepted=pl.lit(True)),
            on=["CustomerId", "NextOrder", "ItemId"],
            how="left",
        )
        .with_columns(pl.col("Accepted").fill_null(False))
    )


def adjustment_factors(scored: pl.DataFrame, config: OrderConfig) -> pl.DataFrame:
    """CustomerId, Group, Accepted, Expected, Lines, Factor from `outcomes`."""
    k = config.feedback_prior
    return (
        scored.with_columns(Group=group_of(pl.col("Kind")))
        .filter(pl.col("Group").is_not_null())
        .group_by("CustomerId", "Group")
        .agg(
            Accepted=pl.col("Accepted").sum().cast(pl.Float64),
            Expected=pl.col("Probability").sum(),
            Lines=pl.len(),
        )
        .with_columns(Prior=k * pl.col("Expected") / pl.col("Lines"))
        .with_columns(
            Factor=(
                (pl.col("Accepted") + pl.col("Prior"))
                / (pl.col("Expected") + pl.col("Prior")).clip(lower_bound=1e-9)
            ).clip(config.feedback_min_factor, config.feedback_max_factor)
        )
        .drop("Prior")
        .sort("CustomerId", "Group")
    )


def adjust(frame: pl.DataFrame, factors: pl.DataFrame, group: str) -> pl.DataFrame:
    """`frame` (CustomerId, Probability) with the odds of its probability scaled by the
    customer's factor for `group` (unchanged without a factor)."""
    mine = factors.filter(pl.col("Group") == group).select("CustomerId", "Factor")
    p = pl.col("Probability").clip(0.0, 0.999)
    odds = p / (1.0 - p) * pl.col("Factor").fill_null(1.0)
    return (
        frame.join(mine, on="CustomerId", how="left")
        .with_columns(Probability=odds / (1.0 + odds))
        .drop("Factor")
    )
