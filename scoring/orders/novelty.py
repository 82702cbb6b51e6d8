"""The novelty budget and the business must-sell items.

Development and range-extension lines compete for at most `max_new_items` places per order,
most probable first, and only at or above `novelty_min_probability`: when the chance of
acceptance is low the order holds no novelty at all. Must-sell items (config, per segment key)
are added outside the budget with kind `must-sell`, unless the order already holds them.
"""

from __future__ import annotations

import polars as pl

from scoring.orders.config import OrderConfig


def within_budget(novelties: pl.DataFrame, config: OrderConfig) -> pl.DataFrame:
    """The novelty lines (CustomerId, ItemId, Probability, ...) that make the cut: above the
    threshold, the `max_new_items` most probable per customer (ties: lower ItemId)."""
    return (
        novelties.filter(pl.col("Probability") >= config.novelty_min_probability)
        .sort(["CustomerId", "Probability", "ItemId"], descending=[False, True, False])
        .filter(pl.int_range(pl.len()).over("CustomerId") < config.max_new_items)
    )


def must_sell_lines(customers: pl.DataFrame, config: OrderConfig) -> pl.DataFrame:
    """CustomerId, ItemId, SegmentKey for every must-sell item that applies to a customer
    (`customers`: CustomerId, Channel, Segment), at most `max_must_sell` per customer in the
    order of the config."""
    schema = {"CustomerId": pl.Int64, "ItemId": pl.Int64, "SegmentKey": pl.String}
    pairs = [(key, item) for key, item_ids in config.must_sell.items() for item in item_ids]
    rules = [{"SegmentKey": k, "ItemId": item, "Order": i} for i, (k, item) in enumerate(pairs)]
    if not rules or customers.height == 0 or config.max_must_sell == 0:
        return pl.DataFrame(schema=schema)
    table = pl.DataFrame(
        rules, schema={"SegmentKey": pl.String, "ItemId": pl.Int64, "Order": pl.Int64}
    )
    keys = customers.select(
        "CustomerId",
        pl.concat_list(
            pl.lit("*"), pl.col("Channel").fill_null(""), pl.col("Segment").fill_null("")
        ).alias("SegmentKey"),
    ).explode("SegmentKey")
    return (
        keys.join(table, on="SegmentKey")
        .sort("CustomerId", "Order")
        .unique(["CustomerId", "ItemId"], keep="first", maintain_order=True)
        .filter(pl.int_range(pl.len()).over("CustomerId") < config.max_must_sell)
        .select("CustomerId", "ItemId", "SegmentKey")
    )
