"""Real store sales as outlets, with lost sales planted by removing real lines.

The Complete Journey's stores become outlets and their week of panel sales one delivery: per
store and week one MV_Sales row (dated on the store's delivery weekday) whose lines are the
week's units and value per product, for the ``n_skus`` products sold in the most store-weeks.
Only stores with at least ``min_store_lines`` panel lines and sales in at least
``min_active_weeks`` weeks are kept (about 100 of the 457). Geography, reps and visits are
generated (``bench.real_data.completejourney``).

**Planting** (``plant_gaps``): a *steady* pair is a store x product sold in at least
``steady_share`` of the weeks. A share of the stores get 1-``max_gaps_per_store`` planted pairs
each, drawn among their steady pairs. A planted pair keeps only a fraction ``keep`` (uniform in
``keep_range``) of its real panel lines from its start on, the others are removed before the
weekly aggregation, so what is left is real sales, only fewer of them. Half the gaps run over
the whole history (the pair looks like a store that always under-sold it, visible only against
its peers), half start ``recent_weeks_range`` weeks before the end (visible against the pair's
own past). The truth's ``GapValuePerWeek`` is the value actually removed per week over the gap's
weeks within the last 26: what the store would sell again if the gap closed.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import polars as pl

from bench.real_data import completejourney as cj

LOOKBACK_WEEKS = 26
TRUTH_SCHEMA = {
    "store_id": pl.Int64,
    "product_id": pl.Int64,
    "StartDate": pl.Date,
    "Factor": pl.Float64,
    "PotentialUnitsPerWeek": pl.Float64,
    "GapValuePerWeek": pl.Float64,
}


@dataclass(frozen=True)
class StoreSpec:
    """How the real store data are cut and what is planted (seeded)."""

    n_skus: int = 300
    min_store_lines: int = 5_000
    min_active_weeks: int = 45
    n_areas: int = 1
    outlets_per_rep: int = 25
    steady_share: float = 0.6
    planted_store_share: float = 0.6
    max_gaps_per_store: int = 4
    keep_range: tuple[float, float] = (0.0, 0.5)
    recent_share: float = 0.5
    recent_weeks_range: tuple[int, int] = (6, 16)
    seed: int = 1


def store_lines(lines: pl.DataFrame, spec: StoreSpec) -> pl.DataFrame:
    """The panel lines of the kept stores and products, with ``week`` (the Monday)."""
    lines = lines.with_columns(week=pl.col("day").dt.truncate("1w"))
    last_week = lines["week"].max()
    if (lines["day"].max() - last_week).days < 6:  # type: ignore[operator]
        lines = lines.filter(pl.col("week") < last_week)  # a partial last week is dropped
    stores = (
        lines.group_by("store_id")
        .agg(n=pl.len(), weeks=pl.col("week").n_unique())
        .filter((pl.col("n") >= spec.min_store_lines) & (pl.col("weeks") >= spec.min_active_weeks))
        .select("store_id")
    )
    lines = lines.join(stores, on="store_id", how="semi")
    products = (
        lines.group_by("product_id")
        .agg(store_weeks=pl.struct("store_id", "week").n_unique())
        .sort(["store_weeks", "product_id"], descending=[True, False])
        .head(spec.n_skus)
        .select("product_id")
    )
    return lines.join(products, on="product_id", how="semi")


def plant_gaps(lines: pl.DataFrame, spec: StoreSpec) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(lines with the planted gaps' lines removed, truth per planted pair: store_id,
    product_id, StartDate, Factor, PotentialUnitsPerWeek, GapValuePerWeek)."""
    rng = np.random.default_rng(spec.seed)
    weeks = lines["week"].unique().sort()
    n_weeks = weeks.len()
    end = lines["day"].max()
    assert isinstance(end, date)
    steady = (
        lines.group_by("store_id", "product_id")
        .agg(weeks=pl.col("week").n_unique())
        .filter(pl.col("weeks") >= spec.steady_share * n_weeks)
        .sort("store_id", "product_id")
    )
    stores = steady["store_id"].unique().sort().to_numpy()
    chosen = stores[rng.random(len(stores)) < spec.planted_store_share]
    picks: list[tuple[int, int]] = []
    for store in chosen:  # a loop over ~60 stores
        own = steady.filter(pl.col("store_id") == store)["product_id"].to_numpy()
        n = min(len(own), int(rng.integers(1, spec.max_gaps_per_store + 1)))
        picks.extend((int(store), int(p)) for p in rng.choice(own, size=n, replace=False))
    n = len(picks)
    recent = rng.random(n) < spec.recent_share
    lo, hi = spec.recent_weeks_range
    back = rng.integers(lo, hi + 1, size=n)
    first_day = lines["day"].min()
    assert isinstance(first_day, date)
    start = [
        end - timedelta(weeks=int(b)) + timedelta(days=1) if r else first_day
        for r, b in zip(recent, back, strict=True)
    ]
    plan = pl.DataFrame(
        {
            "store_id": [p[0] for p in picks],
            "product_id": [p[1] for p in picks],
            "StartDate": start,
            "Factor": np.round(rng.uniform(*spec.keep_range, size=n), 4),
        },
        schema={
            "store_id": pl.Int64,
            "product_id": pl.Int64,
            "StartDate": pl.Date,
            "Factor": pl.Float64,
        },
    )
    marked = (
        lines.with_columns(u=pl.Series(rng.random(lines.height)))
        .join(plan, on=["store_id", "product_id"], how="left")
        .with_columns(
            removed=pl.col("StartDate").is_not_null()
            & (pl.col("day") >= pl.col("StartDate"))
            & (pl.col("u") >= pl.col("Factor"))
        )
    )
    window_start = end - timedelta(weeks=LOOKBACK_WEEKS) + timedelta(days=1)
    in_window = marked.filter(pl.col("StartDate").is_not_null() & (pl.col("day") >= window_start))
    gap_weeks = pl.max_horizontal(pl.col("StartDate"), pl.lit(window_start))
    truth = (
        in_window.group_by("store_id", "product_id", "StartDate", "Factor")
        .agg(
            Units=pl.col("quantity").filter(pl.col("day") >= pl.col("StartDate")).sum(),
            Removed=pl.col("sales_value").filter(pl.col("removed")).sum(),
        )
        .with_columns(Weeks=((pl.lit(end) - gap_weeks).dt.total_days() + 1) / 7.0)
        .with_columns(
            PotentialUnitsPerWeek=(pl.col("Units") / pl.col("Weeks")).round(4),
            GapValuePerWeek=(pl.col("Removed") / pl.col("Weeks")).round(4),
        )
        .filter(pl.col("GapValuePerWeek") > 0)
        .select(list(TRUTH_SCHEMA))
        .sort("store_id", "product_id")
    )
    kept = marked.filter(~pl.col("removed")).select(lines.columns)
    return kept, truth


def weekly_sales(lines: pl.DataFrame, delivery_day: pl.DataFrame) -> dict[str, pl.DataFrame]:
    """MV_Sales / MV_SalesDetail: one sale per store and week (on the store's delivery
    weekday), one line per product sold that week (units and value summed)."""
    detail = (
        lines.group_by("store_id", "week", "product_id")
        .agg(Quantity=pl.col("quantity").sum(), Amount=pl.col("sales_value").sum().round(2))
        .sort("store_id", "week", "product_id")
    )
    sales = (
        detail.select("store_id", "week")
        .unique()
        .sort("store_id", "week")
        .join(delivery_day, on="store_id")
        .with_row_index("SaleId", offset=1_000_001)
        .with_columns(
            pl.col("SaleId").cast(pl.Int64),
            (pl.col("week") + pl.duration(days=pl.col("Offset"))).alias("SaleDate"),
        )
    )
    return {
        "MV_Sales": sales.select(
            "SaleId", pl.col("store_id").alias("CustomerId"), "SaleDate", "RepId"
        ),
        "MV_SalesDetail": detail.join(
            sales.select("store_id", "week", "SaleId"), on=["store_id", "week"]
        ).select("SaleId", pl.col("product_id").alias("ItemId"), "Quantity", "Amount"),
    }


def build(
    spec: StoreSpec, plant: bool = True, lines: pl.DataFrame | None = None
) -> tuple[dict[str, pl.DataFrame], pl.DataFrame]:
    """(MV_ tables, truth/opportunities in the demo's format) for the spec; ``plant=False``
    gives the same world without planted gaps (same geography, reps, visits)."""
    products = cj.load_products()
    source = cj.load_lines() if lines is None else lines
    stores = store_lines(cj.merchandise(source, products), spec)
    raw = stores
    if plant:
        raw, truth = plant_gaps(stores, spec)
    else:
        truth = pl.DataFrame(schema=TRUTH_SCHEMA)
    store_ids = stores["store_id"].unique().sort().to_numpy()
    # the world (geography, reps, visits, delivery days) depends on the data, never on the plant
    world_seed = 1_000 + len(store_ids)
    tables = cj.territory(store_ids, spec.n_areas, spec.outlets_per_rep, world_seed)
    customers = tables["MV_SetupCustomer"]
    rng = np.random.default_rng(world_seed)
    delivery = customers.select(
        pl.col("CustomerId").alias("store_id"),
        "RepId",
        pl.Series("Offset", rng.integers(0, 5, size=customers.height)),
    )
    tables |= weekly_sales(raw, delivery)
    tables |= cj.catalogue(products, stores)
    first, last = stores["day"].min(), stores["day"].max()
    assert isinstance(first, date) and isinstance(last, date)
    tables["MV_Visit"] = cj.visits(customers, first, last, world_seed)
    truth = (
        truth.rename({"store_id": "CustomerId", "product_id": "ItemId"})
        .join(customers.select("CustomerId", "RepId", "AreaId"), on="CustomerId")
        .select(
            "CustomerId",
            "ItemId",
            "RepId",
            "AreaId",
            "StartDate",
            "Factor",
            "PotentialUnitsPerWeek",
            "GapValuePerWeek",
        )
    )
    return tables, truth


def write(spec: StoreSpec, out_dir: Path, plant: bool = True) -> pl.DataFrame:
    """Writes the tables to ``out_dir`` and the truth to ``out_dir/truth/opportunities.csv``."""
    tables, truth = build(spec, plant)
    cj.write_tables(tables, out_dir)
    (out_dir / "truth").mkdir(parents=True, exist_ok=True)
    truth.write_csv(out_dir / "truth" / "opportunities.csv")
    return truth


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--skus", type=int, default=StoreSpec.n_skus)
    parser.add_argument("--no-plant", action="store_true", help="the real data as they are")
    args = parser.parse_args(argv)
    truth = write(StoreSpec(n_skus=args.skus, seed=args.seed), args.out, not args.no_plant)
    print(f"{args.out}: {truth.height} planted pairs")


if __name__ == "__main__":
    main()
