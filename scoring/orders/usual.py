"""Usual references: which items a customer is likely to reorder next time, and how much.

For every item a customer bought in the look-back window:

* **frequency**: the share of its orders holding the item, recent orders weighing more
  (half-life `recency_half_life_orders`);
* **hazard** (the interval logic): among the item's past gaps (in orders), how often the item
  came back exactly after as many orders as have now passed since it was last bought, over how
  often the gap was at least that long; blended with the frequency (`hazard_prior_orders`
  pseudo-observations). An item bought every 4th order just after it was bought has a hazard
  near 0, when it is due near 1: a monthly item of a weekly customer is not proposed weekly;
* **timing**: days from the item's last purchase to the expected next order, over its median
  purchase interval in days;
* **expected units** (per-order model): the item's de-seasonalised units per day over the
  customer's look-back orders (orders without it count as zero) times the expected length of
  the interval the next order closes (`ExpectedGapDays`, longer than a typical interval when
  the customer is already some days into it) times the item's season at the next order. The
  quantity proposed is the median of that Poisson *given at least one unit* (the line is in
  the order);
* **stock-up items** (bought in fewer than `stock_up_presence` x the orders the per-order rate
  implies, e.g. 40 units every 4th weekly order; also every item of a customer with a single
  look-back order): a robust rate (units per day over the last `recent_lines` purchases,
  capped at `quantity_cap` x their median, de-seasonalised) times the days the next order
  covers for the item (last purchase -> expected next order) times the season; quantity = the
  Poisson median (at least 1).

The probability of being in the next order comes from `calibration.py`.

**Expected basket** (`expected_basket`): how many distinct items the customer's next order
will hold, from its own look-back orders (recency-weighted mean, half-life
`recency_half_life_orders`). The usual part of the order is filled up to it with the most
probable items: a broad, irregular basket (a household buying 15 of 400 items it knows) has
low probabilities on every item, yet its next order is not empty.
"""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import polars as pl
from scipy import special

from scoring.orders.config import OrderConfig
from scoring.orders.rhythm import lag_within, season_at

FEATURES = (
    "LogitHazard",
    "LogitFrequency",
    "LogUnits",
    "LogTiming",
    "LogOrders",
    "LogBasketShare",
    "LogitItemRepeat",
    "LogBought",
)
ITEM_REPEAT_PRIOR = 5.0
"""Pseudo-buyers at the overall mean blended into an item's repeat rate."""


def _logit(column: str) -> pl.Expr:
    p = pl.col(column).clip(0.01, 0.99)
    return (p / (1.0 - p)).log()


def poisson_median(units: pl.Expr) -> pl.Expr:
    """The median of Poisson(units), at least 1 (approximation floor(mu + 1/3 - 0.02/mu))."""
    mu = units.clip(lower_bound=1e-6)
    return (mu + 1.0 / 3.0 - 0.02 / mu).floor().clip(lower_bound=1.0)


def truncated_poisson_median(units: pl.Expr) -> pl.Expr:
    """The median of Poisson(units) given at least one unit (the quantity of a line that is
    in the order): the smallest k >= 1 with P(X <= k) >= (1 + P(X = 0)) / 2."""

    def median(series: pl.Series) -> pl.Series:
        mu = np.clip(series.cast(pl.Float64).fill_null(0.0).to_numpy(), 1e-6, None)
        target = 0.5 * (1.0 + np.exp(-mu))
        # Walk up from just under the plain median (about mu - 1/3): a few vectorised steps
        # of the Poisson CDF instead of a per-value quantile search.
        k = np.maximum(np.floor(mu - 2.0), 1.0)
        short = special.pdtr(k, mu) < target
        while short.any():
            k = np.where(short, k + 1.0, k)
            short = special.pdtr(k, mu) < target
        return pl.Series(series.name, k, dtype=pl.Float64)

    return units.map_batches(median, return_dtype=pl.Float64)


def _order_rates(in_window: pl.DataFrame, season: pl.DataFrame) -> pl.DataFrame:
    """CustomerId, ItemId, OrderRate: the item's de-seasonalised units in the customer's
    look-back orders after the first one, per day from its first to its last look-back order
    (null with a single order). Orders without the item count as zero units."""
    span = in_window.group_by("CustomerId").agg(
        Days=(pl.col("SaleDate").max() - pl.col("SaleDate").min()).dt.total_days()
    )
    units = (
        season_at(in_window.filter(pl.col("K") > 0), season, "SaleDate")
        .group_by("CustomerId", "ItemId")
        .agg(Units=(pl.col("Quantity") / pl.col("Season")).sum())
    )
    pairs = in_window.select("CustomerId", "ItemId").unique()
    return (
        pairs.join(span, on="CustomerId")
        .join(units, on=["CustomerId", "ItemId"], how="left")
        .with_columns(
            OrderRate=pl.when(pl.col("Days") > 0).then(
                pl.col("Units").fill_null(0.0) / pl.col("Days").cast(pl.Float64)
            )
        )
        .select("CustomerId", "ItemId", "OrderRate")
    )


def item_features(
    basket: pl.DataFrame,
    rhythm: pl.DataFrame,
    season: pl.DataFrame,
    as_of: date,
    config: OrderConfig,
) -> pl.DataFrame:
    """One row per customer x item bought in the look-back window: Frequency, Hazard,
    OrdersSince, LastBought, ItemIntervalDays, CoverDays, Rate, Units, Quantity, BasketLines
    (`expected_basket`) and the model FEATURES. `basket` from `rhythm.baskets` (data up to
    as_of only), `rhythm` from `customer_rhythm`."""
    start = as_of - timedelta(days=7 * config.lookback_weeks - 1)
    decay = 0.5 ** (1.0 / config.recency_half_life_orders)
    # Orders in the look-back window, renumbered: k = 0 .. n-1 (n-1 = the last order).
    window_orders = (
        basket.filter(pl.col("SaleDate").is_between(start, as_of))
        .select("CustomerId", "SaleDate")
        .unique()
        .sort("CustomerId", "SaleDate")
        .with_columns(K=pl.int_range(pl.len()).over("CustomerId"), N=pl.len().over("CustomerId"))
    )
    in_window = basket.join(window_orders, on=["CustomerId", "SaleDate"]).sort(
        "CustomerId", "ItemId", "K"
    )
    per_item = (
        in_window.with_columns(
            Weight=pl.lit(decay).pow(pl.col("N") - 1 - pl.col("K")),
            Gap=pl.col("K") - lag_within("K", ["CustomerId", "ItemId"]),
        )
        .group_by("CustomerId", "ItemId")
        .agg(
            N=pl.col("N").first(),
            Bought=pl.len(),
            WeightBought=pl.col("Weight").sum(),
            LastK=pl.col("K").max(),
            Gaps=pl.col("Gap").drop_nulls(),
        )
        .with_columns(
            Frequency=pl.col("WeightBought")
            * (1.0 - decay)
            / (1.0 - pl.lit(decay).pow(pl.col("N"))),
            OrdersSince=pl.col("N") - 1 - pl.col("LastK"),
        )
    )
    hazard = (
        per_item.select("CustomerId", "ItemId", "OrdersSince", "Gaps")
        .explode("Gaps")
        .group_by("CustomerId", "ItemId")
        .agg(
            Hits=(pl.col("Gaps") == pl.col("OrdersSince") + 1).sum(),
            AtRisk=(pl.col("Gaps") >= pl.col("OrdersSince") + 1).sum(),
        )
    )
    # How much an item is re-bought by the customers who buy it at all (milk vs a one-off),
    # shrunk towards the mean over all customer-items: it ranks two equally frequent items.
    overall = per_item["Frequency"].mean()
    mean_freq = float(overall) if isinstance(overall, int | float) else 0.0
    item_repeat = per_item.group_by("ItemId").agg(
        ItemRepeat=(pl.col("Frequency").sum() + ITEM_REPEAT_PRIOR * mean_freq)
        / (pl.len() + ITEM_REPEAT_PRIOR)
    )
    prior = config.hazard_prior_orders
    features = (
        per_item.drop("Gaps")
        .join(hazard, on=["CustomerId", "ItemId"], how="left")
        .join(item_repeat, on="ItemId", how="left")
        .with_columns(pl.col("Hits", "AtRisk").fill_null(0))
        .with_columns(
            Hazard=(pl.col("Hits") + prior * pl.col("Frequency")) / (pl.col("AtRisk") + prior)
        )
    )
    # only the items bought in the look-back window are proposed: their whole history counts
    window_pairs = per_item.select("CustomerId", "ItemId")
    quantities = _rates(
        basket.join(window_pairs, on=["CustomerId", "ItemId"], how="semi", maintain_order="left"),
        season,
        as_of,
        config,
    )
    tomorrow = as_of + timedelta(days=1)
    # A customer whose orders hold 20 of the 100 items it knows gives every item a higher
    # chance than one whose orders hold 3 of 300: the calibration needs that level.
    sizes = expected_basket(basket, as_of, config).select("CustomerId", "BasketLines")
    out = (
        features.join(quantities, on=["CustomerId", "ItemId"], how="left")
        .join(sizes, on="CustomerId", how="left")
        .with_columns(
            LogBasketShare=(pl.col("BasketLines") / pl.len().over("CustomerId"))
            .clip(1e-3, 1.0)
            .log()
        )
        .join(_order_rates(in_window, season), on=["CustomerId", "ItemId"], how="left")
        .join(
            rhythm.select("CustomerId", "NextOrder", "GapDays", "IntervalDays", "ExpectedGapDays"),
            on=["CustomerId"],
            how="left",
        )
        .with_columns(pl.col("NextOrder").fill_null(tomorrow))
        .with_columns(
            CoverDays=(pl.col("NextOrder") - pl.col("LastBought")).dt.total_days().cast(pl.Float64),
            DaysSince=(pl.lit(as_of) - pl.col("LastBought")).dt.total_days(),
        )
    )
    # Per-order model: the units of an order accrue since the customer's previous order, the
    # line is there when at least one unit did. A stock-up item (bought far less often than
    # that would allow, e.g. 40 units every 4th weekly order) covers the days since it was
    # last bought instead.
    presence = 1.0 - (-pl.col("OrderRate") * pl.col("IntervalDays")).exp()
    stock_up = pl.col("OrderRate").is_null() | (
        pl.col("Bought") < config.stock_up_presence * presence * pl.col("N")
    )
    out = season_at(out, season, "NextOrder").with_columns(
        StockUp=stock_up,
        Units=pl.when(stock_up)
        .then(pl.col("Rate") * pl.col("CoverDays"))
        .otherwise(pl.col("OrderRate") * pl.col("ExpectedGapDays"))
        * pl.col("Season"),
        OrderUnits=pl.col("Rate") * pl.col("GapDays").cast(pl.Float64) * pl.col("Season"),
    )
    return out.with_columns(
        Quantity=pl.when(pl.col("StockUp"))
        .then(poisson_median(pl.col("Units")))
        .otherwise(truncated_poisson_median(pl.col("Units"))),
        LogitHazard=_logit("Hazard"),
        LogitFrequency=_logit("Frequency"),
        LogitItemRepeat=_logit("ItemRepeat"),
        LogBought=pl.col("Bought").cast(pl.Float64).log1p(),
        LogUnits=pl.col("OrderUnits").clip(lower_bound=1e-3).log(),
        LogTiming=(pl.col("CoverDays") / pl.col("ItemIntervalDays").clip(lower_bound=1.0))
        .clip(0.05, 20.0)
        .log(),
        LogOrders=pl.col("N").cast(pl.Float64).log1p(),
    ).sort("CustomerId", "ItemId")


def expected_basket(basket: pl.DataFrame, as_of: date, config: OrderConfig) -> pl.DataFrame:
    """CustomerId, BasketLines (recency-weighted mean of the distinct items per look-back
    order, the last order weighing most), LookbackOrders, for every customer with an order in
    the look-back window (`basket` from `rhythm.baskets`)."""
    start = as_of - timedelta(days=7 * config.lookback_weeks - 1)
    decay = 0.5 ** (1.0 / config.recency_half_life_orders)
    sizes = (
        basket.filter(pl.col("SaleDate").is_between(start, as_of))
        .group_by("CustomerId", "SaleDate")
        .agg(Items=pl.col("ItemId").n_unique().cast(pl.Float64))
        .sort("CustomerId", "SaleDate")
        .with_columns(
            Weight=pl.lit(decay).pow(
                pl.int_range(pl.len(), 0, -1).over("CustomerId").cast(pl.Float64) - 1.0
            )
        )
    )
    return (
        sizes.group_by("CustomerId")
        .agg(
            BasketLines=(pl.col("Items") * pl.col("Weight")).sum() / pl.col("Weight").sum(),
            LookbackOrders=pl.len().cast(pl.Int64),
        )
        .sort("CustomerId")
    )


def _rates(
    basket: pl.DataFrame, season: pl.DataFrame, as_of: date, config: OrderConfig
) -> pl.DataFrame:
    """CustomerId, ItemId, LastBought, ItemIntervalDays (median days between purchases),
    Rate (robust de-seasonalised units per day over the last `recent_lines` purchases).
    `basket` as `rhythm.baskets` returns it: sorted by CustomerId, ItemId, SaleDate."""
    purchases = season_at(basket, season, "SaleDate").with_columns(
        Days=(pl.col("SaleDate") - lag_within("SaleDate", ["CustomerId", "ItemId"]))
        .dt.total_days()
        .cast(pl.Float64)
    )
    recent = purchases.filter(pl.col("Days").is_not_null()).with_columns(
        Recent=pl.int_range(pl.len(), 0, -1).over("CustomerId", "ItemId")
    )
    recent = recent.filter(pl.col("Recent") <= config.recent_lines).with_columns(
        Capped=pl.min_horizontal(
            pl.col("Quantity"),
            config.quantity_cap * pl.col("Quantity").median().over("CustomerId", "ItemId"),
        )
        / pl.col("Season")
    )
    rates = recent.group_by("CustomerId", "ItemId").agg(
        Rate=pl.col("Capped").sum() / pl.col("Days").sum(),
        ItemIntervalDays=pl.col("Days").median(),
    )
    last = purchases.group_by("CustomerId", "ItemId").agg(
        LastBought=pl.col("SaleDate").max(),
        OnlyQuantity=pl.col("Quantity").median(),
        FirstBought=pl.col("SaleDate").min(),
    )
    # An item bought once has no interval: its rate is its quantity over the time since.
    since_first = ((pl.lit(as_of) - pl.col("FirstBought")).dt.total_days() + 1).cast(pl.Float64)
    return (
        last.join(rates, on=["CustomerId", "ItemId"], how="left")
        .with_columns(
            ItemIntervalDays=pl.col("ItemIntervalDays").cast(pl.Float64).fill_null(since_first),
            Rate=pl.col("Rate").fill_null(pl.col("OnlyQuantity") / since_first),
        )
        .select("CustomerId", "ItemId", "LastBought", "ItemIntervalDays", "Rate")
    )
