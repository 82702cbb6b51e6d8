"""Thresholds that follow the region's assortment instead of assuming one.

A pushed SKU must be worth the visit time: its weekly gap must be a material share of the
outlet's weekly revenue. What is material depends on how many SKUs an outlet buys. On a drinks
distributor's 120-SKU range an outlet buys ~24 SKUs and 1% of its revenue is a quarter of its
average SKU; in a grocery store buying ~250 of 300 SKUs the same 1% is 2.5 average SKUs, and a
real lost listing is typically worth under 1% (measured in docs/real-data.md). So the floor is
set relative to the *average SKU* of the region's outlets: `min_sku_average_share` x the
outlet's weekly revenue / the median number of SKUs an active outlet of the region bought in the
look-back window. With `min_sku_average_share = None` the fixed `min_sku_outlet_share` applies.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from scoring.config import ScoringConfig


@dataclass(frozen=True)
class AssortmentScale:
    """What the region's push floor was derived from, for the run summary."""

    skus_per_outlet: float
    min_sku_outlet_share: float
    derived: bool

    def summary(self) -> dict[str, object]:
        return {
            "skusPerOutlet": self.skus_per_outlet,
            "minSkuOutletShare": round(self.min_sku_outlet_share, 6),
            "derived": self.derived,
        }


def skus_per_outlet(totals: pl.DataFrame) -> float:
    """The median number of SKUs an outlet bought (revenue > 0) in the window; 0 without sales.

    `totals`: CustomerId, ItemId, Revenue (the window's totals per pair)."""
    counts = (
        totals.filter(pl.col("Revenue") > 0)
        .group_by("CustomerId")
        .agg(pl.len().alias("n"))
        .get_column("n")
    )
    median = counts.median()
    return float(median) if isinstance(median, int | float) else 0.0


def scaled_config(
    config: ScoringConfig, totals: pl.DataFrame
) -> tuple[ScoringConfig, AssortmentScale]:
    """The config with `min_sku_outlet_share` derived from the region's assortment (see the
    module docstring), and what it was derived from. Unchanged when `min_sku_average_share` is
    None or the region sold nothing in the window."""
    n = skus_per_outlet(totals)
    if config.min_sku_average_share is None or n <= 0:
        return config, AssortmentScale(n, config.min_sku_outlet_share, derived=False)
    share = min(1.0, config.min_sku_average_share / n)
    scale = AssortmentScale(n, share, derived=True)
    return config.with_overrides({"min_sku_outlet_share": share}), scale
