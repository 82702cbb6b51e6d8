"""Scale generator for the benchmarks: the demo generator's model, block by block, to Parquet.

The demo world (visitrank.lab.demo_data) holds dense outlet x SKU matrices, fine for a country but
not for a million outlets. Here the country is built as independent *blocks* of regions (each a
demo world of `BLOCK_OUTLETS` outlets and its own areas, reps, outlets, orders and visits, from
its own seed) sharing one SKU catalogue; IDs are offset so blocks never collide, and every table
is streamed to one Parquet file per table, one row group per block, so memory is bounded by one
block whatever the size.

Density: the issue sizes its runs in lines (M: ~12M lines for 40,000 outlets over 2 years), far
sparser than the demo (42.5M lines for 40,000 outlets over 1 year). Each outlet's carried range
is thinned (every carried pair kept with probability `q`, its two best sellers and the planted
gaps always kept) before the orders are simulated; `q` is calibrated on a small pilot world and
corrected after the first block, so the line count lands near the target. Bad rows are not
planted (the demo covers quarantine); truth/opportunities.csv is written for evaluation.

Usage: .venv/bin/python -m bench.generate M data/bench/M   (sizes: S M L XL)
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow.parquet as pq

from visitrank.contract.tables import TABLES
from visitrank.lab import demo_data as dm
from visitrank.lab import demo_geography as dg

BLOCK_OUTLETS = 20_000  # outlets per block (4 regions of ~5,000), at least one region
OUTLETS_PER_REP = 100
KEEP_TOP = 2  # best sellers always kept by the thinning
CATALOGUE_TABLES = ("MV_SetupCategory", "MV_SetupSubCategory", "MV_SetupBrand", "MV_SetupItem")


@dataclass(frozen=True)
class Size:
    """A benchmark size: outlets, SKUs, weeks of history and the target number of sales lines."""

    name: str
    outlets: int
    skus: int
    weeks: int
    lines: int
    outlets_per_area: int = 5_000
    seed: int = 11


SIZES = {
    "S": Size("S", 2_000, 200, 52, 600_000, outlets_per_area=1_000),
    "M": Size("M", 40_000, 300, 104, 12_500_000),
    "L": Size("L", 200_000, 1_000, 52, 100_000_000),
    "XL": Size("XL", 1_000_000, 300, 52, 150_000_000),
    # one region of 40,000 outlets: the per-region work of the Azure activity at its largest
    "R40": Size("R40", 40_000, 300, 52, 6_500_000, outlets_per_area=40_000),
}


def _thin(
    rng: np.random.Generator, world: dm._World, plant: tuple[np.ndarray, ...], q: float
) -> dm._World:
    """The world with each carried pair kept with probability q (top sellers and planted kept)."""
    if q >= 1.0:
        return world
    rate = world.rate
    n, s = rate.shape
    top = np.argpartition(-rate, min(KEEP_TOP, s - 1), axis=1)[:, :KEEP_TOP]
    keep = rng.random(rate.shape) < q
    keep[np.arange(n)[:, None], top] = True
    keep[plant[0], plant[1]] = True
    return replace(world, rate=np.where(keep, rate, 0.0))


def _block(
    size: Size, block: int, outlets: int, cat: dg.Catalogue, q: float
) -> tuple[dict[str, pl.DataFrame], pl.DataFrame]:
    """One block's tables (local IDs) and its planted opportunities."""
    areas = max(1, round(outlets / size.outlets_per_area))
    spec = dm.DemoSpec(
        outlets=outlets,
        reps=max(areas, outlets // OUTLETS_PER_REP),
        skus=size.skus,
        weeks=size.weeks,
        areas=areas,
        seed=size.seed * 1000 + block,
    )
    rngs = [np.random.default_rng(s) for s in np.random.SeedSequence(spec.seed).spawn(9)]
    world, tables = dm._build_world(spec, rngs, cat)
    plant = dm._plant(rngs[4], spec, world)
    world = _thin(rngs[8], world, plant, q)
    sales, lines = dm._orders(rngs[5], spec, world, cat, plant)
    tables |= {
        "MV_Sales": sales,
        "MV_SalesDetail": lines,
        "MV_Visit": dm._visits(rngs[6], spec, world),
    }
    opportunities, _ = dm._truth(spec, world, cat, plant)
    return tables, opportunities


OFFSETS = {  # table -> id columns shifted by the running offset of their kind
    "MV_SetupArea": {"AreaId": "area"},
    "MV_SetupCity": {"CityId": "city", "AreaId": "area"},
    "MV_SetupRep": {"RepId": "rep", "AreaId": "area"},
    "MV_SetupCustomer": {
        "CustomerId": "customer",
        "CityId": "city",
        "AreaId": "area",
        "RepId": "rep",
    },
    "MV_Sales": {"SaleId": "sale", "CustomerId": "customer", "RepId": "rep"},
    "MV_SalesDetail": {"SaleId": "sale"},
    "MV_Visit": {"VisitId": "visit", "CustomerId": "customer", "RepId": "rep"},
}
COUNTED = {
    "area": "MV_SetupArea",
    "city": "MV_SetupCity",
    "rep": "MV_SetupRep",
    "customer": "MV_SetupCustomer",
    "sale": "MV_Sales",
    "visit": "MV_Visit",
}


def generate(size: Size, out_dir: Path, *, log: bool = True) -> dict[str, int]:
    """Writes every MV_ table of `size` as out_dir/<Table>.parquet (+ truth/opportunities.csv);
    returns the row counts."""
    started = time.perf_counter()
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "truth").mkdir(exist_ok=True)
    rngs = [np.random.default_rng(s) for s in np.random.SeedSequence(size.seed).spawn(8)]
    cat = dg.build_catalogue(rngs[3], size.skus)
    pilot_outlets = min(size.outlets, 1_000)
    per_outlet = size.lines / size.outlets
    q = 1.0
    for _ in range(3):  # lines are not linear in q (the kept best sellers): refine on a pilot
        pilot, _ = _block(replace(size, seed=size.seed + 7919), 0, pilot_outlets, cat, q)
        q = min(1.0, q * per_outlet * pilot_outlets / max(1, pilot["MV_SalesDetail"].height))

    writers: dict[str, pq.ParquetWriter] = {}
    counts = dict.fromkeys(TABLES, 0)
    offset = dict.fromkeys(COUNTED, 0)
    truth: list[pl.DataFrame] = []
    try:
        for name in CATALOGUE_TABLES:
            cat.tables[name].write_parquet(out_dir / f"{name}.parquet")
            counts[name] = cat.tables[name].height
        done, block = 0, 0
        block_outlets = max(BLOCK_OUTLETS, size.outlets_per_area)
        while done < size.outlets:
            outlets = min(block_outlets, size.outlets - done)
            if size.outlets - done - outlets < block_outlets // 4:  # no tiny last block
                outlets = size.outlets - done
            tables, opportunities = _block(size, block, outlets, cat, q)
            for name, table in tables.items():
                shifts = OFFSETS.get(name, {})
                frame = table.with_columns(
                    (pl.col(col) + offset[kind]).alias(col) for col, kind in shifts.items()
                )
                arrow = frame.to_arrow()
                if name not in writers:
                    writers[name] = pq.ParquetWriter(out_dir / f"{name}.parquet", arrow.schema)
                writers[name].write_table(arrow)
                counts[name] += frame.height
            truth.append(
                opportunities.with_columns(
                    pl.col("CustomerId") + offset["customer"],
                    pl.col("RepId") + offset["rep"],
                    pl.col("AreaId") + offset["area"],
                )
            )
            for kind, table in COUNTED.items():
                ids = tables[table][next(c for c, k in OFFSETS[table].items() if k == kind)]
                offset[kind] += int(ids.max()) - dg.ID_BASE[kind] + 1 if ids.len() else 0
            done += outlets
            block += 1
            if log:
                print(
                    f"  block {block}: {done:,}/{size.outlets:,} outlets, "
                    f"{counts['MV_SalesDetail']:,} lines, {time.perf_counter() - started:.1f} s",
                    flush=True,
                )
    finally:
        for writer in writers.values():
            writer.close()
    pl.concat(truth).write_csv(out_dir / "truth" / "opportunities.csv")
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("size", choices=sorted(SIZES))
    parser.add_argument("out_dir", type=Path)
    args = parser.parse_args()
    started = time.perf_counter()
    counts = generate(SIZES[args.size], args.out_dir)
    print(f"{args.size}: {counts} in {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
