"""Households of *The Complete Journey* as customers: MV_ contract tables for the orders.

Each household is a customer (CustomerId = household_id) and each of its baskets one sale:
MV_Sales holds one row per basket (SaleId = basket_id, SaleDate = the basket's day, RepId =
the customer's generated rep) and MV_SalesDetail its lines (ItemId = product_id, Quantity,
Amount = sales_value). Several baskets of a household can fall on one day: the order model
treats a customer's purchases of one day as one order, so they are one order there.

Catalogue, geography, reps and visits come from the shared module
``bench.real_data.completejourney`` (real catalogue, generated territory and visits).

    python -m bench.real_data.baskets OUT_DIR [--households N] [--seed S]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import polars as pl

from bench.real_data import completejourney as cj

CUSTOMERS_PER_REP = 60
MAX_AREAS = 8
CUSTOMERS_PER_AREA = 50
DEFAULT_SEED = 7


def first_households(lines: pl.DataFrame, n: int) -> pl.DataFrame:
    """The lines of the `n` households with the lowest household_id (a small, reproducible
    slice for tests). Raises ValueError for n < 1."""
    if n < 1:
        raise ValueError(f"households must be at least 1, got {n}")
    keep = lines.select("household_id").unique().sort("household_id").head(n)
    return lines.join(keep, on="household_id", how="semi")


def build_tables(lines: pl.DataFrame, products: pl.DataFrame, seed: int) -> dict[str, pl.DataFrame]:
    """Every MV_ contract table for the households of `lines` (``cj.load_lines`` layout)."""
    if lines.height == 0:
        raise ValueError("no sales line to convert")
    households = lines["household_id"].unique().sort().to_numpy()
    n_areas = max(1, min(MAX_AREAS, len(households) // CUSTOMERS_PER_AREA))
    tables = cj.territory(households, n_areas, CUSTOMERS_PER_REP, seed)
    tables |= cj.catalogue(products, lines)
    customers = tables["MV_SetupCustomer"]
    lines = lines.join(
        tables["MV_SetupItem"].select(pl.col("ItemId").alias("product_id")),
        on="product_id",
        how="semi",
    )
    sales = (
        lines.group_by("basket_id")
        .agg(pl.col("household_id").first(), pl.col("day").min())
        .join(
            customers.select(pl.col("CustomerId").alias("household_id"), "RepId"),
            on="household_id",
        )
        .select(
            pl.col("basket_id").alias("SaleId"),
            pl.col("household_id").alias("CustomerId"),
            pl.col("day").alias("SaleDate"),
            "RepId",
        )
        .sort("SaleDate", "SaleId")
    )
    detail = lines.select(
        pl.col("basket_id").alias("SaleId"),
        pl.col("product_id").alias("ItemId"),
        pl.col("quantity").alias("Quantity"),
        pl.col("sales_value").alias("Amount"),
    ).sort("SaleId", "ItemId")
    first, last = lines["day"].min(), lines["day"].max()
    assert first is not None and last is not None  # lines is not empty
    tables["MV_Sales"] = sales
    tables["MV_SalesDetail"] = detail
    tables["MV_Visit"] = cj.visits(customers, first, last, seed)  # type: ignore[arg-type]
    return tables


def convert(out_dir: Path, households: int | None = None, seed: int = DEFAULT_SEED) -> Path:
    """Writes the contract tables of all households (or the first `households`) to
    `out_dir` as Parquet; returns `out_dir`."""
    lines = cj.load_lines()
    if households is not None:
        lines = first_households(lines, households)
    cj.write_tables(build_tables(lines, cj.load_products(), seed), out_dir)
    return out_dir


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--households", type=int, help="only the first N households")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    args = parser.parse_args(argv)
    out = convert(args.out_dir, args.households, args.seed)
    print(f"contract tables written to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
