"""The GPS outlier rule on real coordinates: 3,376 US airports grouped by state (vega-datasets'
airports.csv) stand for outlets grouped by area. States are far wider and more ragged than a
rep's territory (Alaska, the Aleutians, Hawaii's islands), so a rule that flags none of them is
conservative; swapping the coordinates of a random sample measures what it catches.

    PYTHONPATH=. .venv/bin/python -m bench.real_data.gps_outliers [--swaps 30] [--seeds 5]
"""

from __future__ import annotations

import argparse
import importlib.resources
import random
from typing import Any

import polars as pl

from visitrank.contract.quarantine import quarantine
from visitrank.contract.tables import TABLES


def airport_outlets() -> pl.DataFrame:
    """CustomerId, AreaId (one per state), Latitude, Longitude of every located US airport."""
    path = importlib.resources.files("vega_datasets") / "_data" / "airports.csv"
    with importlib.resources.as_file(path) as csv:
        airports = pl.read_csv(csv).drop_nulls(["state", "latitude", "longitude"])
    states = {state: i + 1 for i, state in enumerate(sorted(airports["state"].unique()))}
    return airports.select(
        pl.int_range(1, pl.len() + 1).alias("CustomerId"),
        pl.col("state").replace_strict(states, return_dtype=pl.Int64).alias("AreaId"),
        pl.col("latitude").alias("Latitude"),
        pl.col("longitude").alias("Longitude"),
    )


def swapped(outlets: pl.DataFrame, ids: list[int]) -> pl.DataFrame:
    """``outlets`` with latitude and longitude swapped for the CustomerIds ``ids``."""
    hit = pl.col("CustomerId").is_in(ids)
    return outlets.with_columns(
        pl.when(hit).then(pl.col("Longitude")).otherwise(pl.col("Latitude")).alias("Latitude"),
        pl.when(hit).then(pl.col("Latitude")).otherwise(pl.col("Longitude")).alias("Longitude"),
    )


def flagged(outlets: pl.DataFrame, reasons: tuple[str, ...] = ("gps_outlier",)) -> set[int]:
    """The CustomerIds the quarantine sets aside (kept, not routed) for one of ``reasons``
    (a swap that puts a longitude beyond 90 in the latitude is ``no_gps``: out of range)."""
    tables = {name: pl.DataFrame(schema=spec.columns) for name, spec in TABLES.items()}
    areas = outlets["AreaId"].unique().sort()
    tables["MV_SetupArea"] = pl.DataFrame(
        {"AreaId": areas, "AreaName": areas.cast(pl.String)}, schema=TABLES["MV_SetupArea"].columns
    )
    tables["MV_SetupRep"] = pl.DataFrame(
        {"RepId": [1], "RepName": ["rep"], "AreaId": [1]}, schema=TABLES["MV_SetupRep"].columns
    )
    tables["MV_SetupCustomer"] = outlets.select(
        "CustomerId",
        pl.lit("outlet").alias("CustomerName"),
        pl.lit(None, pl.Int64).alias("CityId"),
        "AreaId",
        "Latitude",
        "Longitude",
        pl.lit("ON_TRADE").alias("Channel"),
        pl.lit(1, pl.Int64).alias("RepId"),
    )
    rows = quarantine(tables).rows["MV_SetupCustomer"]
    return set(rows.filter(pl.col("Reason").is_in(reasons))["CustomerId"].to_list())


def measure(swaps: int, seeds: int) -> dict[str, Any]:
    """False positives on the real coordinates, and swapped outlets caught over ``seeds``."""
    outlets = airport_outlets()
    caught, outliers, false = 0, 0, 0
    for seed in range(seeds):
        ids = set(random.Random(seed).sample(outlets["CustomerId"].to_list(), swaps))
        moved = swapped(outlets, sorted(ids))
        found = flagged(moved, ("gps_outlier", "no_gps"))
        caught += len(found & ids)
        outliers += len(flagged(moved) & ids)
        false += len(found - ids)
    return {
        "outlets": outlets.height,
        "areas": outlets["AreaId"].n_unique(),
        "flaggedAsIs": len(flagged(outlets, ("gps_outlier", "no_gps"))),
        "swapped": swaps * seeds,
        "notRouted": caught,
        "asGpsOutlier": outliers,
        "falseWithSwaps": false,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--swaps", type=int, default=30)
    parser.add_argument("--seeds", type=int, default=5)
    args = parser.parse_args()
    print(measure(args.swaps, args.seeds))


if __name__ == "__main__":
    main()
