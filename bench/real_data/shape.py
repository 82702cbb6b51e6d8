"""The shape of a sales history: the statistics on which real data and the demo differ.

Computed from the MV_ tables of any folder (the demo, the real-data converters, a user's own
export) over the last 26 weeks (the scoring's look-back) and the 26 before: assortment breadth,
long tail, order rhythm and its regularity, week-to-week noise, churn of listings.

Usage: .venv/bin/python -m bench.real_data.shape DIR [DIR ...]
"""

from __future__ import annotations

import argparse
from datetime import date, timedelta
from pathlib import Path

import polars as pl

from visitrank.adapters.file_source import FileSource

WINDOW_WEEKS = 26


def history_shape(sales: pl.DataFrame, detail: pl.DataFrame) -> dict[str, float]:
    """The statistics of one history (MV_Sales, MV_SalesDetail), see the module docstring."""
    lines = detail.join(sales, on="SaleId").filter(pl.col("Amount") > 0)
    end = lines["SaleDate"].max()
    assert isinstance(end, date)
    start = end - timedelta(weeks=WINDOW_WEEKS)
    prior_start = start - timedelta(weeks=WINDOW_WEEKS)
    window = lines.filter(pl.col("SaleDate") > start)
    prior = lines.filter(pl.col("SaleDate").is_between(prior_start, start, closed="right"))
    pairs = window.group_by("CustomerId", "ItemId").agg(Revenue=pl.col("Amount").sum())
    per_outlet = pairs.group_by("CustomerId").agg(
        Skus=pl.len(),
        Effective=1.0 / ((pl.col("Revenue") / pl.col("Revenue").sum()) ** 2).sum(),
        Top=pl.col("Revenue").max() / pl.col("Revenue").sum(),
    )
    by_sku = (
        window.group_by("ItemId")
        .agg(Revenue=pl.col("Amount").sum())
        .sort("Revenue", descending=True)
    )
    top_fifth = max(1, by_sku.height // 5)
    orders = window.select("CustomerId", "SaleDate").unique().sort("CustomerId", "SaleDate")
    gaps = orders.with_columns(
        Gap=pl.col("SaleDate").diff().over("CustomerId").dt.total_days()
    ).drop_nulls("Gap")
    rhythm = gaps.group_by("CustomerId").agg(
        Interval=pl.col("Gap").mean(), Cv=pl.col("Gap").std() / pl.col("Gap").mean()
    )
    order_sizes = window.group_by("CustomerId", "SaleDate").agg(Lines=pl.col("ItemId").n_unique())
    weekly = (
        window.with_columns(Week=pl.col("SaleDate").dt.truncate("1w"))
        .group_by("CustomerId", "ItemId", "Week")
        .agg(Units=pl.col("Quantity").sum())
    )
    n_weeks = WINDOW_WEEKS
    dispersion = (
        weekly.group_by("CustomerId", "ItemId")
        .agg(S1=pl.col("Units").sum(), S2=(pl.col("Units") ** 2).sum())
        .with_columns(Mean=pl.col("S1") / n_weeks)
        .filter(pl.col("Mean") >= 1)
        .select(Phi=(pl.col("S2") / n_weeks - pl.col("Mean") ** 2) / pl.col("Mean"))
    )
    before = prior.select("CustomerId", "ItemId").unique()
    after = pairs.select("CustomerId", "ItemId")
    active = (
        prior.select("CustomerId")
        .unique()
        .join(window.select("CustomerId").unique(), on="CustomerId")
    )
    before = before.join(active, on="CustomerId", how="semi")
    dropped = before.join(after, on=["CustomerId", "ItemId"], how="anti").height

    def median(frame: pl.DataFrame, column: str) -> float:
        value = frame[column].median() if frame.height else None
        return round(float(value), 3) if isinstance(value, int | float) else float("nan")

    return {
        "outlets": float(per_outlet.height),
        "skus sold": float(by_sku.height),
        "lines per week": round(window.height / WINDOW_WEEKS, 1),
        "SKUs bought per outlet (median)": median(per_outlet, "Skus"),
        "effective SKUs per outlet (median, 1/sum share^2)": median(per_outlet, "Effective"),
        "share of the top SKU in an outlet (median)": median(per_outlet, "Top"),
        "revenue share of the top 20% SKUs": round(
            float(by_sku.head(top_fifth)["Revenue"].sum() / by_sku["Revenue"].sum()), 3
        ),
        "days between orders (median outlet)": median(rhythm, "Interval"),
        "CV of the days between orders (median outlet)": median(rhythm, "Cv"),
        "lines per order (median)": median(order_sizes, "Lines"),
        "weekly units variance / mean (median pair, >= 1 unit a week)": median(dispersion, "Phi"),
        "listings of the prior 26 weeks not bought in the last 26": round(
            dropped / max(1, before.height), 3
        ),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("dirs", type=Path, nargs="+")
    args = parser.parse_args(argv)
    shapes = {}
    for folder in args.dirs:
        source = FileSource(folder)
        tables = source.read_all()
        shapes[folder.name] = history_shape(tables["MV_Sales"], tables["MV_SalesDetail"])
    names = list(shapes)
    print("| statistic | " + " | ".join(names) + " |")
    print("|---" * (len(names) + 1) + "|")
    for key in next(iter(shapes.values())):
        print(f"| {key} | " + " | ".join(str(shapes[n][key]) for n in names) + " |")


if __name__ == "__main__":
    main()
