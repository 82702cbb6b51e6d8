"""The scoring of the performance comparison's config, written in plain pandas + scikit-learn.

A reference implementation, as a data scientist would write the same method with pandas
(groupby / merge / transform, numpy where pandas has no verb) and no polars, to measure the
polars engine against and to check that the same method gives the same answer
(`bench/compare_reference.py`, `tests/bench/test_pandas_reference.py`).

The comparison config is `ScoringConfig(benchmark="segment_median")` with every other field at
its default: the recent window (`recent_weeks` = 8, with the recent seasonal factor), the
outlet's own history (`own_history`), the leave-one-out segment medians with hierarchical
fallback and shrinkage, the carry-rate credibility, the SKUs worth pushing (at most
`skus_per_visit`, each gap at least `min_sku_gap_value`, `min_sku_gap_share` of the top one and
`min_sku_outlet_share` of the outlet's weekly revenue), recency and the visit response against
untouched weeks (`visit_response`: it scales priorities only when its signal clears the bar).
`subcategory_benchmark` is off by default, so the sub-share medians are computed (as the
engine does) but do not enter the index. Left out: the learned potential (`benchmark =
"learned"`, scoring/learned.py), which the comparison config does not use.

Stages, each the port of the engine module named (read those for the method):
  load         pandas.read_parquet of the source tables, sales lines of the history window,
               each customer's last visit, split by region (the engine also validates and
               quarantines; the bench data have nothing to quarantine: only `no_gps` outlets,
               kept as non-routable, which is reproduced here)
  aggregate    window totals per outlet x SKU                    scoring/pipeline.py
  segment      SKU clusters and outlet segments, k-means         scoring/sku_clusters.py,
               exactly as the engine calls scikit-learn            scoring/peer_segments.py
  expectation  grid, own history, leave-one-out benchmarks       scoring/grid.py, benchmark.py,
                                                                   robust.py, own_history.py
  index        index and gap value                               scoring/indexation.py
  rank         SKUs to push, recency, priority, visit response   scoring/priority.py,
                                                                   recency.py, visit_response.py
  route        each rep's Top-30 by priority, and the week: the engine's numpy router
               (scoring/routing.py `plan_weeks`, called unchanged on a frame built from the
               pandas candidates: routing is not a data stage)

Same answer, bit for bit, by the same arithmetic: sums of money and units in fixed point
(1e-4, as scoring/exact.py), the same float operations in the same order, the same k-means
inputs (rows sorted, columns in the engine's order) and seeds. Two habits of polars are
followed where they reach the output, or ~5% of the pairs would differ in the last bit (and a
near-tie could flip): it divides a column by a scalar as a product with the scalar's reciprocal
(`x / 10_000` is `x * (1 / 10_000)`, hence `UNIT` and the `* (1.0 / weeks)`), and its `exp`
and `**` are the C library's, which differ from numpy's vectorised ones in the last bit for ~5%
of inputs (hence `math.exp` / `math.pow` for the recency weight and carry rate ** power).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.cluster import KMeans
from sklearn.decomposition import PCA
from threadpoolctl import threadpool_limits

from scoring.config import ScoringConfig
from scoring.peer_segments import choose_k  # numpy + scikit-learn model selection, no polars

SCALE = 10_000  # fixed point of the exact sums (scoring/exact.py)
UNIT = 1.0 / SCALE  # polars divides by a scalar as a product with its reciprocal (module doc)
MAX_SHARE = 0.95
MIN_TREND, MAX_TREND = 0.2, 5.0
MAX_OWN_SHARE = 0.95
Z_95 = 1.96
TIER_NAMES = {1: ["all"], 2: ["value", "premium"], 3: ["value", "mainstream", "premium"]}
PEER_LEVELS: tuple[tuple[str, list[str]], ...] = (
    ("region", ["AreaId"]),
    ("channel", ["AreaId", "Channel"]),
    ("behaviour", ["AreaId", "Channel", "Behaviour"]),
    ("segment", ["AreaId", "Channel", "Behaviour", "VolumeTier"]),
)
INACTIVE = -1
STAGES = ("load", "aggregate", "segment", "expectation", "index", "rank", "route")

Timings = dict[str, float]


@contextmanager
def timed(timings: Timings, stage: str) -> Iterator[None]:
    """Adds the wall seconds of the block to timings[stage]."""
    started = time.perf_counter()
    try:
        yield
    finally:
        timings[stage] = timings.get(stage, 0.0) + time.perf_counter() - started


# --- load -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Window:
    """The dates of the week (scoring/inputs.py ScoringWindow), as pandas timestamps."""

    week_start: pd.Timestamp
    as_of: pd.Timestamp
    window_start: pd.Timestamp
    history_start: pd.Timestamp


@dataclass(frozen=True)
class Region:
    """One region's frames: customers (sorted by CustomerId), its sales lines in the history
    window, last visit before the week, and the visits of the history window."""

    area_id: int
    customers: pd.DataFrame
    lines: pd.DataFrame
    last_visits: pd.DataFrame
    visits: pd.DataFrame


@dataclass(frozen=True)
class Loaded:
    window: Window
    items: pd.DataFrame
    regions: list[Region]


def load(source: Path, config: ScoringConfig) -> Loaded:
    """Reads the contract tables of `source` (Parquet) and splits them by region."""
    customers = pd.read_parquet(
        source / "MV_SetupCustomer.parquet",
        columns=["CustomerId", "AreaId", "Latitude", "Longitude", "Channel", "RepId"],
    )
    customers["Channel"] = customers["Channel"].str.strip().str.upper()
    lat, lon = customers["Latitude"], customers["Longitude"]
    customers["Routable"] = (
        np.isfinite(lat)
        & np.isfinite(lon)
        & (lat.abs() <= 90)
        & (lon.abs() <= 180)
        & ~((lat == 0) & (lon == 0))
    )
    subcategories = pd.read_parquet(
        source / "MV_SetupSubCategory.parquet", columns=["SubCategoryId", "CategoryId"]
    )
    items = pd.read_parquet(
        source / "MV_SetupItem.parquet", columns=["ItemId", "SubCategoryId", "UnitPrice"]
    ).merge(subcategories, on="SubCategoryId", how="left")
    sales = pd.read_parquet(
        source / "MV_Sales.parquet", columns=["SaleId", "CustomerId", "SaleDate"]
    )
    sales["SaleDate"] = pd.to_datetime(sales["SaleDate"])
    visits = pd.read_parquet(source / "MV_Visit.parquet", columns=["CustomerId", "VisitDate"])
    visits["VisitDate"] = pd.to_datetime(visits["VisitDate"])

    last_sale = sales["SaleDate"].max()
    week_start = last_sale + timedelta(days=7 - last_sale.weekday())  # the next Monday
    as_of = min(week_start - timedelta(days=1), last_sale)
    window = Window(
        week_start=week_start,
        as_of=as_of,
        window_start=as_of - timedelta(days=7 * config.lookback_weeks - 1),
        history_start=as_of - timedelta(days=7 * config.history_weeks - 1),
    )
    in_history = sales["SaleDate"].between(window.history_start, window.as_of)
    detail = pd.read_parquet(
        source / "MV_SalesDetail.parquet", columns=["SaleId", "ItemId", "Quantity", "Amount"]
    )
    lines = (
        sales[in_history]
        .merge(detail, on="SaleId")
        .merge(customers[["CustomerId", "AreaId"]], on="CustomerId")
        .drop(columns="SaleId")
    )
    before_week = visits[visits["VisitDate"] < window.week_start]
    last_visits = before_week.groupby("CustomerId", as_index=False).agg(
        LastVisitDate=("VisitDate", "max")
    )
    history_visits = before_week[before_week["VisitDate"] >= window.history_start]
    history_visits = history_visits.drop_duplicates().sort_values(["CustomerId", "VisitDate"])

    by_area = {area: frame.drop(columns="AreaId") for area, frame in lines.groupby("AreaId")}
    area_of = customers.set_index("CustomerId")["AreaId"]
    visit_area = history_visits["CustomerId"].map(area_of)
    last_area = last_visits["CustomerId"].map(area_of)
    regions = [
        Region(
            area_id=int(area),
            customers=group.sort_values("CustomerId").reset_index(drop=True),
            lines=by_area.get(area, lines.iloc[:0].drop(columns="AreaId")).reset_index(drop=True),
            last_visits=last_visits[last_area == area].reset_index(drop=True),
            visits=history_visits[visit_area == area].reset_index(drop=True),
        )
        for area, group in customers.groupby("AreaId")
    ]
    return Loaded(window=window, items=items, regions=regions)


# --- helpers --------------------------------------------------------------------------------


def fixed(values: pd.Series | np.ndarray) -> np.ndarray:
    """Money or units in fixed point (1e-4) as int64: sums of these are exact in any order."""
    return np.round(np.asarray(values, dtype=np.float64) * SCALE).astype(np.int64)


def libm(func: Callable[..., float], *arrays: np.ndarray) -> np.ndarray:
    """`func` (math.exp, math.pow) element-wise: the C library's result, as polars computes
    it (numpy's SIMD exp / power differ in the last bit for some inputs)."""
    return np.asarray(np.frompyfunc(func, len(arrays), 1)(*arrays), dtype=np.float64)


# --- aggregate ------------------------------------------------------------------------------


def window_totals(lines: pd.DataFrame, window: Window, recent_weeks: int) -> pd.DataFrame:
    """CustomerId, ItemId, Units, Revenue over the look-back window, RecentRevenue over its
    last `recent_weeks`."""
    recent_start = window.as_of - timedelta(days=7 * recent_weeks - 1)
    scored = lines[lines["SaleDate"].between(window.window_start, window.as_of)]
    amount = fixed(scored["Amount"])
    sums = (
        pd.DataFrame(
            {
                "CustomerId": scored["CustomerId"].to_numpy(),
                "ItemId": scored["ItemId"].to_numpy(),
                "Units": fixed(scored["Quantity"]),
                "Revenue": amount,
                "RecentRevenue": np.where(scored["SaleDate"] >= recent_start, amount, 0),
            }
        )
        .groupby(["CustomerId", "ItemId"], as_index=False, sort=False)
        .sum()
    )
    for column in ("Units", "Revenue", "RecentRevenue"):
        sums[column] = sums[column] * UNIT
    return sums


def assortment_config(totals: pd.DataFrame, config: ScoringConfig) -> ScoringConfig:
    """`min_sku_outlet_share` = min_sku_average_share / the median number of SKUs an outlet
    bought in the window (scoring/assortment_scale.py)."""
    bought = totals[totals["Revenue"] > 0].groupby("CustomerId").size()
    if config.min_sku_average_share is None or bought.empty:
        return config
    share = min(1.0, config.min_sku_average_share / float(bought.median()))
    return config.with_overrides({"min_sku_outlet_share": share})


# --- segment --------------------------------------------------------------------------------


def seasonality(
    lines: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp, config: ScoringConfig
) -> pd.DataFrame:
    """ItemId, Season ("Q1".."Q4" or "flat") from units per covered day of each quarter."""
    in_history = lines[lines["SaleDate"].between(start, end)]
    if len(in_history):
        start = max(start, in_history["SaleDate"].min())
    if (end - start) < timedelta(days=364):
        return pd.DataFrame({"ItemId": lines["ItemId"].unique(), "Season": "flat"})
    covered = (
        pd.Series(pd.date_range(start, end, freq="D").quarter)
        .value_counts()
        .rename_axis("Quarter")
        .reset_index(name="Days")
    )
    per_quarter = (
        pd.DataFrame(
            {
                "ItemId": in_history["ItemId"].to_numpy(),
                "Quarter": in_history["SaleDate"].dt.quarter.to_numpy(),
                "Units": fixed(in_history["Quantity"]),
            }
        )
        .groupby(["ItemId", "Quarter"], as_index=False)["Units"]
        .sum()
        .merge(covered, on="Quarter")
    )
    per_quarter["Rate"] = (per_quarter["Units"] * UNIT / per_quarter["Days"]).clip(lower=0)
    per_quarter["Share"] = per_quarter["Rate"] / per_quarter.groupby("ItemId")["Rate"].transform(
        "sum"
    )
    peak = (
        per_quarter.sort_values(["Share", "Quarter"], ascending=[False, True])
        .groupby("ItemId", as_index=False)
        .first()
    )
    seasonal = peak["Share"] >= config.seasonal_peak_share
    season = np.where(seasonal, "Q" + peak["Quarter"].astype(str), "flat")
    return pd.DataFrame({"ItemId": peak["ItemId"], "Season": season})


def cluster_skus(
    items: pd.DataFrame,
    lines: pd.DataFrame,
    start: pd.Timestamp,
    end: pd.Timestamp,
    config: ScoringConfig,
) -> pd.DataFrame:
    """ItemId, PriceTier, Season, SkuCluster for every item."""
    names = TIER_NAMES.get(config.price_tiers, [f"tier{i + 1}" for i in range(config.price_tiers)])
    by_category = items.groupby("CategoryId")["UnitPrice"]
    rank = by_category.rank(method="first").astype(np.int64) - 1
    tier = rank * config.price_tiers // by_category.transform("size")
    clusters = pd.DataFrame(
        {
            "ItemId": items["ItemId"],
            "CategoryId": items["CategoryId"],
            "PriceTier": np.asarray(names, dtype=object)[tier.to_numpy()],
        }
    ).merge(seasonality(lines, start, end, config), on="ItemId", how="left")
    clusters["Season"] = clusters["Season"].fillna("flat")
    clusters["SkuCluster"] = (
        "c" + clusters["CategoryId"].astype(str) + "|" + clusters["PriceTier"] + "|"
    ) + clusters["Season"]
    return clusters.drop(columns="CategoryId")


def behaviour_clusters(shares: pd.DataFrame, config: ScoringConfig) -> pd.DataFrame:
    """CustomerId, Behaviour from the outlets' long revenue shares over SKU clusters (one
    channel): Hellinger embedding, PCA, k-means; labels by cluster size (segments.py)."""
    shares = shares.sort_values(["CustomerId", "SkuCluster"])
    wide = shares.pivot(index="CustomerId", columns="SkuCluster", values="Share")
    # the engine's pivot lists the columns in order of appearance in the sorted rows
    wide = wide[pd.unique(shares["SkuCluster"])].fillna(0.0)
    features = np.sqrt(np.clip(wide.to_numpy(dtype=np.float64), 0.0, 1.0))
    dims = min(config.behaviour_dims, features.shape[0] - 1, features.shape[1])
    if dims >= 2 and features.shape[1] > config.behaviour_dims:
        features = np.asarray(PCA(dims, random_state=config.seed).fit_transform(features))
    ids = wide.index.to_numpy()
    with threadpool_limits(limits=1, user_api="openmp"):
        k = choose_k(features, config)
        if k == 1:
            return pd.DataFrame({"CustomerId": ids, "Behaviour": np.zeros(len(ids), np.int64)})
        model = KMeans(k, n_init=4, random_state=config.seed).fit(features)
    sizes = np.bincount(model.labels_, minlength=k)
    relabel = np.empty(k, dtype=np.int64)
    relabel[np.argsort(-sizes, kind="stable")] = np.arange(k)
    return pd.DataFrame({"CustomerId": ids, "Behaviour": relabel[model.labels_]})


def peer_segments(
    customers: pd.DataFrame, totals: pd.DataFrame, clusters: pd.DataFrame, config: ScoringConfig
) -> pd.DataFrame:
    """CustomerId, AreaId, Channel, Revenue, VolumeTier, Behaviour, Segment per customer."""
    revenue = (
        pd.DataFrame({"CustomerId": totals["CustomerId"], "Revenue": fixed(totals["Revenue"])})
        .groupby("CustomerId", as_index=False)["Revenue"]
        .sum()
    )
    revenue["Revenue"] = revenue["Revenue"] * UNIT
    base = customers[["CustomerId", "AreaId", "Channel"]].merge(
        revenue, on="CustomerId", how="left"
    )
    active = base[base["Revenue"] > 0].copy()
    peers = active.groupby(["AreaId", "Channel"])["Revenue"]
    rank = peers.rank(method="first").astype(np.int64) - 1
    active["VolumeTier"] = rank * config.volume_tiers // peers.transform("size") + 1

    mix = pd.DataFrame(
        {
            "CustomerId": totals["CustomerId"],
            "ItemId": totals["ItemId"],
            "Revenue": fixed(totals["Revenue"]),
        }
    ).merge(clusters[["ItemId", "SkuCluster"]], on="ItemId")
    mix = mix.groupby(["CustomerId", "SkuCluster"], as_index=False)["Revenue"].sum()
    mix = mix.merge(
        active[["CustomerId", "Channel", "Revenue"]].rename(columns={"Revenue": "Total"}),
        on="CustomerId",
    )
    mix["Share"] = (mix["Revenue"] * UNIT / mix["Total"]).clip(0.0, 1.0)
    behaviours = [
        behaviour_clusters(group[["CustomerId", "SkuCluster", "Share"]], config)
        for _, group in mix.groupby("Channel", sort=False)
    ]
    behaviour = (
        pd.concat(behaviours)
        if behaviours
        else pd.DataFrame(
            {"CustomerId": pd.Series(dtype=np.int64), "Behaviour": pd.Series(dtype=np.int64)}
        )
    )
    segments = base.merge(active[["CustomerId", "VolumeTier"]], on="CustomerId", how="left").merge(
        behaviour, on="CustomerId", how="left"
    )
    segments["Revenue"] = segments["Revenue"].fillna(0.0)
    segments["VolumeTier"] = segments["VolumeTier"].fillna(INACTIVE).astype(np.int64)
    segments["Behaviour"] = segments["Behaviour"].fillna(INACTIVE).astype(np.int64)
    segments["Segment"] = np.where(
        segments["Behaviour"] == INACTIVE,
        "inactive",
        segments["Channel"]
        + "|v"
        + segments["VolumeTier"].astype(str)
        + "|b"
        + segments["Behaviour"].astype(str),
    )
    return segments


# --- expectation ----------------------------------------------------------------------------


def outlet_sku_grid(
    segments: pd.DataFrame, totals: pd.DataFrame, items: pd.DataFrame
) -> pd.DataFrame:
    """Every active outlet x every SKU the region sold, with Share, SubTotal, SubShare,
    RecentTotal (scoring/grid.py outlet_sku_grid)."""
    active = segments.loc[
        segments["Revenue"] > 0,
        ["CustomerId", "AreaId", "Channel", "Behaviour", "VolumeTier", "Revenue"],
    ].rename(columns={"Revenue": "Total"})
    sold = totals.loc[totals["Revenue"] > 0, "ItemId"].unique()
    in_range = items.loc[items["ItemId"].isin(sold), ["ItemId", "SubCategoryId"]]
    grid = active.merge(in_range, how="cross").merge(
        totals[["CustomerId", "ItemId", "Revenue", "RecentRevenue"]],
        on=["CustomerId", "ItemId"],
        how="left",
    )
    for column in ("Revenue", "RecentRevenue"):
        grid[column] = grid[column].fillna(0.0).clip(lower=0.0)
    grid["Share"] = grid["Revenue"] / grid["Total"]
    revenue = pd.Series(fixed(grid["Revenue"]), index=grid.index)
    recent = pd.Series(fixed(grid["RecentRevenue"]), index=grid.index)
    grid["SubTotal"] = (
        revenue.groupby([grid["CustomerId"], grid["SubCategoryId"]]).transform("sum") * UNIT
    )
    grid["RecentTotal"] = recent.groupby(grid["CustomerId"]).transform("sum") * UNIT
    grid["RecentSubTotal"] = (
        recent.groupby([grid["CustomerId"], grid["SubCategoryId"]]).transform("sum") * UNIT
    )
    grid["SubShare"] = (grid["Revenue"] / grid["SubTotal"]).where(grid["SubTotal"] > 0)
    return grid


def prior_shares(lines: pd.DataFrame, window: Window) -> pd.DataFrame:
    """CustomerId, ItemId, PriorRevenue, PriorTotal over the history before the window."""
    before = lines[
        (lines["SaleDate"] >= window.history_start) & (lines["SaleDate"] < window.window_start)
    ]
    prior = (
        pd.DataFrame(
            {
                "CustomerId": before["CustomerId"].to_numpy(),
                "ItemId": before["ItemId"].to_numpy(),
                "PriorRevenue": fixed(before["Amount"]),
            }
        )
        .groupby(["CustomerId", "ItemId"], as_index=False)["PriorRevenue"]
        .sum()
    )
    prior = prior[prior["PriorRevenue"] > 0].copy()
    prior["PriorTotal"] = prior.groupby("CustomerId")["PriorRevenue"].transform("sum") * UNIT
    prior["PriorRevenue"] = prior["PriorRevenue"] * UNIT
    return prior


def own_expectation(grid: pd.DataFrame, prior: pd.DataFrame) -> pd.DataFrame:
    """The grid with OwnShare: the outlet's prior share times the SKU's peer trend in region
    x channel (scoring/own_history.py)."""
    grid = grid.merge(
        prior[["CustomerId", "ItemId", "PriorRevenue"]], on=["CustomerId", "ItemId"], how="left"
    ).merge(prior[["CustomerId", "PriorTotal"]].drop_duplicates(), on="CustomerId", how="left")
    grid["PriorRevenue"] = grid["PriorRevenue"].fillna(0.0)
    both = grid["PriorTotal"].notna()
    keys = [grid["AreaId"], grid["Channel"], grid["ItemId"]]

    def pooled(column: str) -> pd.Series:
        values = pd.Series(np.where(both, fixed(grid[column].fillna(0.0)), 0), index=grid.index)
        return values.groupby(keys).transform("sum") * UNIT

    recent_share = pooled("Revenue") / pooled("Total")
    prior_share = pooled("PriorRevenue") / pooled("PriorTotal")
    with np.errstate(divide="ignore", invalid="ignore"):
        trend = pd.Series(
            np.where(prior_share > 0, recent_share / prior_share, 1.0), index=grid.index
        )
    own = (grid["PriorRevenue"] / grid["PriorTotal"] * trend.clip(MIN_TREND, MAX_TREND)).clip(
        0.0, 0.95
    )
    grid["OwnShare"] = own.where(both)
    return grid.drop(columns=["PriorRevenue", "PriorTotal"])


def own_subcategory_expectation(
    grid: pd.DataFrame, prior: pd.DataFrame, items: pd.DataFrame
) -> pd.DataFrame:
    """The grid with OwnSubShare: the outlet's prior share of the SKU's subcategory times the
    subcategory's peer trend in region x channel (scoring/own_history.py)."""
    with_sub = prior.merge(items[["ItemId", "SubCategoryId"]], on="ItemId", how="left")
    prior_sub = (
        pd.DataFrame(
            {
                "CustomerId": with_sub["CustomerId"].to_numpy(),
                "SubCategoryId": with_sub["SubCategoryId"].to_numpy(),
                "PriorSubRevenue": fixed(with_sub["PriorRevenue"]),
            }
        )
        .groupby(["CustomerId", "SubCategoryId"], as_index=False, dropna=False)["PriorSubRevenue"]
        .sum()
    )
    prior_sub["PriorSubRevenue"] = prior_sub["PriorSubRevenue"] * UNIT
    keys = ["CustomerId", "SubCategoryId"]
    outlet_sub = (
        grid[[*keys, "AreaId", "Channel", "SubTotal", "Total"]]
        .drop_duplicates(keys)
        .merge(prior_sub, on=keys, how="left")
        .merge(prior[["CustomerId", "PriorTotal"]].drop_duplicates(), on="CustomerId", how="left")
        .reset_index(drop=True)
    )
    outlet_sub["PriorSubRevenue"] = outlet_sub["PriorSubRevenue"].fillna(0.0)
    both = outlet_sub["PriorTotal"].notna()
    group = [outlet_sub["AreaId"], outlet_sub["Channel"], outlet_sub["SubCategoryId"]]

    def pooled(column: str) -> pd.Series:
        values = pd.Series(
            np.where(both, fixed(outlet_sub[column].fillna(0.0)), 0), index=outlet_sub.index
        )
        return values.groupby(group, dropna=False).transform("sum") * UNIT

    recent_share = pooled("SubTotal") / pooled("Total")
    prior_share = pooled("PriorSubRevenue") / pooled("PriorTotal")
    with np.errstate(divide="ignore", invalid="ignore"):
        trend = pd.Series(
            np.where(prior_share > 0, recent_share / prior_share, 1.0), index=outlet_sub.index
        )
    share = (
        outlet_sub["PriorSubRevenue"] / outlet_sub["PriorTotal"] * trend.clip(MIN_TREND, MAX_TREND)
    ).clip(0.0, MAX_OWN_SHARE)
    outlet_sub["OwnSubShare"] = share.where(both)
    return grid.merge(outlet_sub[[*keys, "OwnSubShare"]], on=keys, how="left")


def subcategory_shortfall(
    share: np.ndarray, total: np.ndarray, sub_total: np.ndarray, weeks: float
) -> np.ndarray:
    """Weekly shortfall of the subcategory at the outlet's own expected share (indexation.py)."""
    expected = total * np.clip(share, 0.0, MAX_OWN_SHARE)
    # a division by a scalar is a product with its reciprocal in polars
    return np.clip((expected - sub_total) * (1.0 / weeks), 0.0, None)


def shared_cap(
    frame: pd.DataFrame, gap: np.ndarray, capped: np.ndarray, cap: np.ndarray
) -> np.ndarray:
    """The capped gaps of an outlet's subcategory scaled to take at most its shortfall
    together (indexation.py shared_cap)."""
    claimed = (
        pd.Series(np.where(capped, gap, 0.0), index=frame.index)
        .groupby([frame["CustomerId"], frame["SubCategoryId"]], dropna=False)
        .transform("sum")
        .to_numpy()
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        factor = np.where(claimed > cap, cap / claimed, 1.0)
    return np.where(capped, gap * factor, gap)


def loo_median(frame: pd.DataFrame, keys: list[str], value: str) -> tuple[np.ndarray, np.ndarray]:
    """(median of the value over the other members of the row's group, NaN without peers;
    number of peers), exactly: in a group of n sorted values s, removing the member of rank r
    leaves a sample whose median needs only s[h-1], s[h], s[h+1], h = n // 2 (robust.py)."""
    ordered = frame[[*keys, value]].sort_values([*keys, value])
    groups = ordered.groupby(keys, sort=False)
    r = groups.cumcount().to_numpy()
    n = groups[value].transform("size").to_numpy()
    h = n // 2
    v = ordered[value].to_numpy()
    first = np.arange(len(v)) - r  # position of the group's smallest value
    lo = v[first + np.maximum(h - 1, 0)]
    mid = v[first + np.minimum(h, n - 1)]
    hi = v[first + np.minimum(h + 1, n - 1)]
    even = np.where(h - 1 < r, lo, mid)
    odd = (np.where(h - 1 < r, lo, mid) + np.where(h < r, mid, hi)) / 2
    median = np.where(n <= 1, np.nan, np.where(n % 2 == 0, even, odd))
    back = pd.DataFrame({"m": median, "p": n - 1}, index=ordered.index).loc[frame.index]
    return back["m"].to_numpy(), back["p"].to_numpy()


def loo_mean(frame: pd.DataFrame, keys: list[str], value: str) -> tuple[np.ndarray, np.ndarray]:
    """(mean of the value over the other members of the row's group; number of peers)."""
    groups = frame.groupby(keys, sort=False)[value]
    total = groups.transform("sum").to_numpy()
    n = groups.transform("size").to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = np.where(n > 1, (total - frame[value].to_numpy()) / (n - 1), np.nan)
    return mean, n - 1


def hierarchical(
    frame: pd.DataFrame,
    value: str,
    statistic: Callable[[pd.DataFrame, list[str], str], tuple[np.ndarray, np.ndarray]],
    config: ScoringConfig,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(the peer statistic blended down the peer levels, peers of the level used, its name)."""
    out = peers_used = level_used = np.empty(0)
    for depth, (level, keys) in enumerate(PEER_LEVELS):
        stat, peers = statistic(frame, [*keys, "ItemId"], value)
        stat = np.where(np.isnan(stat), 0.0, stat)
        if depth == 0:
            out, peers_used = stat, peers
            level_used = np.full(len(stat), level, dtype=object)
            continue
        enough = peers >= config.min_peers
        p = peers.astype(np.float64)
        blended = (p * stat + config.shrinkage_peers * out) / (p + config.shrinkage_peers)
        out = np.where(enough, blended, out)
        peers_used = np.where(enough, peers, peers_used)
        level_used = np.where(enough, level, level_used)
    return out, peers_used, level_used


def benchmark_shares(grid: pd.DataFrame, config: ScoringConfig) -> pd.DataFrame:
    """The grid with BenchmarkShare, SubBenchmarkShare, CarryRate, Peers, PeerLevel."""
    share, peers, level = hierarchical(grid, "Share", loo_median, config)
    grid["BenchmarkShare"] = np.clip(share, 0.0, MAX_SHARE)
    grid["Peers"] = peers
    grid["PeerLevel"] = level
    keys = ["AreaId", "Channel", "Behaviour", "VolumeTier", "ItemId"]
    carried = grid[keys].assign(_carried=(grid["Revenue"] > 0).astype(np.float64))
    grid["CarryRate"] = hierarchical(carried, "_carried", loo_mean, config)[0]
    buyers = grid.loc[grid["SubShare"].notna(), [*keys, "SubShare"]]
    sub = hierarchical(buyers, "SubShare", loo_median, config)[0]
    grid["SubBenchmarkShare"] = pd.Series(np.clip(sub, 0.0, MAX_SHARE), index=buyers.index)
    return grid


# --- index ----------------------------------------------------------------------------------


def window_gap(
    frame: pd.DataFrame,
    revenue: str,
    total: str,
    weeks: float,
    config: ScoringConfig,
    scale: np.ndarray | None = None,
    noise_z: float | None = None,
    ratio: np.ndarray | None = None,
    variance_factor: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(weekly actual, weekly expected, weekly noise-discounted gap) over one window."""
    z = config.noise_z if noise_z is None else noise_z
    rev = frame[revenue].to_numpy()
    if ratio is None:
        ratio = frame["_ratio"].to_numpy()
    expected = (frame[total].to_numpy() - rev) * ratio
    if scale is not None:
        expected = expected * scale
    price = frame["UnitPrice"].to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        units = expected / price
        variance = units if variance_factor is None else units * variance_factor
        shortfall = np.clip(units - rev / price - z * np.sqrt(variance), 0.0, None)
        gap = np.where(price > 0, shortfall * price * (1.0 / weeks), 0.0)
    return rev * (1.0 / weeks), expected * (1.0 / weeks), gap


def index_scores(
    grid: pd.DataFrame, items: pd.DataFrame, weeks: float, config: ScoringConfig
) -> pd.DataFrame:
    """CustomerId, ItemId, Actual, Expected, IndexScore, GapValue, GapWindow, Basis, CarryRate,
    Peers, PeerLevel, BenchmarkShare, ExpectedShare (scoring/indexation.py, segment median)."""
    frame = grid.merge(items[["ItemId", "UnitPrice"]], on="ItemId", how="left")
    b = frame["BenchmarkShare"].to_numpy()
    peer = b / (1.0 - b)
    if config.own_history:
        own_share = frame["OwnShare"].fillna(0.0).to_numpy()
        own = own_share / (1.0 - own_share)
        frame["_ratio"] = np.maximum(peer, own)
        basis = np.where(own > peer, "own history", "peers")
    else:
        frame["_ratio"] = peer
        basis = np.full(len(frame), "peers")
    actual, expected, gap = window_gap(frame, "Revenue", "Total", weeks, config)
    cap = config.substitution_cap and "OwnSubShare" in frame.columns
    if cap:
        own_sub = frame["OwnSubShare"].to_numpy()
        with np.errstate(invalid="ignore"):
            long_cap = subcategory_shortfall(
                own_sub, frame["Total"].to_numpy(), frame["SubTotal"].to_numpy(), weeks
            )
        capped = (basis == "own history") & ~np.isnan(own_sub)
        gap = shared_cap(frame, gap, capped, long_cap)
    gap_weeks = np.full(len(frame), weeks)
    outlet_revenue = frame["Total"].to_numpy() * (1.0 / weeks)
    if config.recent_weeks:
        recent_weeks = float(config.recent_weeks)
        season, trend, sub_trend = recent_season(frame, ["AreaId", "Channel"])
        ratio = frame["_ratio"].to_numpy() * season
        variance = None
        recent_basis = basis
        if config.recent_own_baseline:
            early_total = frame["Total"].to_numpy() - frame["RecentTotal"].to_numpy()
            early_revenue = frame["Revenue"].to_numpy() - frame["RecentRevenue"].to_numpy()
            with np.errstate(divide="ignore", invalid="ignore"):
                share = np.where(early_total > 0, early_revenue / early_total * trend, 0.0)
            share = np.clip(share, 0.0, MAX_OWN_SHARE)
            early = share / (1.0 - share)
            early_wins = early > ratio
            recent_basis = np.where(early_wins, "own history", basis)
            ratio = np.maximum(ratio, early)
            early_weeks = max(weeks - recent_weeks, 1.0)
            variance = np.where(early_wins, 1.0 + recent_weeks / early_weeks, 1.0)
        short_actual, short_expected, short_gap = window_gap(
            frame,
            "RecentRevenue",
            "RecentTotal",
            recent_weeks,
            config,
            None,
            config.recent_noise_z,
            ratio,
            variance,
        )
        if cap:
            early_total = frame["Total"].to_numpy() - frame["RecentTotal"].to_numpy()
            early_sub_revenue = frame["SubTotal"].to_numpy() - frame["RecentSubTotal"].to_numpy()
            with np.errstate(divide="ignore", invalid="ignore"):
                early_sub = np.where(early_total > 0, early_sub_revenue / early_total, 0.0)
            own_sub = np.maximum(
                early_sub * sub_trend, np.nan_to_num(frame["OwnSubShare"].to_numpy(), nan=0.0)
            )
            recent_cap = subcategory_shortfall(
                own_sub,
                frame["RecentTotal"].to_numpy(),
                frame["RecentSubTotal"].to_numpy(),
                recent_weeks,
            )
            short_gap = shared_cap(frame, short_gap, recent_basis == "own history", recent_cap)
        short_wins = short_gap > gap
        basis = np.where(short_wins, recent_basis, basis)
        actual = np.where(short_wins, short_actual, actual)
        expected = np.where(short_wins, short_expected, expected)
        gap = np.where(short_wins, short_gap, gap)
        gap_weeks = np.where(short_wins, recent_weeks, gap_weeks)
        recent_revenue = frame["RecentTotal"].to_numpy() * (1.0 / recent_weeks)
        outlet_revenue = np.where(short_wins, recent_revenue, outlet_revenue)
    carry = frame["CarryRate"].fillna(0.0).to_numpy()
    credibility = np.zeros(len(frame))
    need = gap != 0  # carry ** power only matters where there is a gap (C library pow, see doc)
    credibility[need] = libm(math.pow, carry[need], np.full(need.sum(), config.carry_rate_power))
    if config.own_history:
        credibility = np.where(frame["OwnShare"].to_numpy() > 0, 1.0, credibility)
    with np.errstate(divide="ignore", invalid="ignore"):
        index = np.where(expected > 0, 100.0 * actual / expected, np.nan)
    return pd.DataFrame(
        {
            "CustomerId": frame["CustomerId"],
            "ItemId": frame["ItemId"],
            "Actual": actual,
            "Expected": expected,
            "IndexScore": index,
            "GapValue": gap * credibility,
            "OutletRevenue": outlet_revenue,
            "GapWindow": gap_weeks,
            "Basis": basis,
            "CarryRate": frame["CarryRate"],
            "Peers": frame["Peers"],
            "PeerLevel": frame["PeerLevel"],
            "BenchmarkShare": frame["BenchmarkShare"],
            "ExpectedShare": frame["BenchmarkShare"],
        }
    )


def recent_season(
    frame: pd.DataFrame, group: list[str]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(season, trend, subcategory trend): how much larger the SKU's pooled share is in the
    recent window than in the whole window, and than in the weeks before it, and the same
    recent-over-early ratio for its subcategory (trends clipped like the own-history trend),
    among the outlets of `group` (indexation.py with_recent_season)."""
    recent = pd.Series(fixed(frame["RecentRevenue"]), index=frame.index)
    whole = pd.Series(fixed(frame["Revenue"]), index=frame.index)
    by_sku = [frame[c] for c in [*group, "ItemId"]]
    by_group = [frame[c] for c in group]
    with np.errstate(divide="ignore", invalid="ignore"):
        recent_share = (recent.groupby(by_sku).transform("sum") * UNIT) / (
            recent.groupby(by_group).transform("sum") * UNIT
        )
        sku_whole = whole.groupby(by_sku).transform("sum") * UNIT
        group_whole = whole.groupby(by_group).transform("sum") * UNIT
        whole_share = sku_whole / group_whole
        season = np.where(whole_share > 0, recent_share / whole_share, 1.0)
        sku_recent = recent.groupby(by_sku).transform("sum") * UNIT
        group_recent = recent.groupby(by_group).transform("sum") * UNIT
        early_share = (sku_whole - sku_recent) / (group_whole - group_recent)
        trend = np.where(early_share > 0, recent_share / early_share, 1.0)
        by_sub = [*by_group, frame["SubCategoryId"]]
        sub_recent = recent.groupby(by_sub, dropna=False).transform("sum") * UNIT
        sub_whole = whole.groupby(by_sub, dropna=False).transform("sum") * UNIT
        sub_early_share = (sub_whole - sub_recent) / (group_whole - group_recent)
        sub_trend = np.where(
            sub_early_share > 0, (sub_recent / group_recent) / sub_early_share, 1.0
        )
    trend = np.clip(np.where(np.isnan(trend), 1.0, trend), MIN_TREND, MAX_TREND)
    sub_trend = np.clip(np.where(np.isnan(sub_trend), 1.0, sub_trend), MIN_TREND, MAX_TREND)
    return np.where(np.isnan(season), 1.0, season), trend, sub_trend


# --- rank -----------------------------------------------------------------------------------


def skus_to_push(scores: pd.DataFrame, config: ScoringConfig) -> pd.DataFrame:
    """The opportunities to push per outlet, with SkuRank 1..n (largest gap first)."""
    opportunities = scores[
        (scores["IndexScore"] <= config.opportunity_index_max)
        & (scores["GapValue"] >= config.min_sku_gap_value)
        & (scores["GapValue"] >= config.min_sku_outlet_share * scores["OutletRevenue"])
    ]
    ranked = opportunities.sort_values(
        ["CustomerId", "GapValue", "ItemId"], ascending=[True, False, True]
    )
    per_outlet = ranked.groupby("CustomerId", sort=False)
    ranked = ranked.assign(
        SkuRank=per_outlet.cumcount() + 1, TopGap=per_outlet["GapValue"].transform("max")
    )
    keep = (ranked["SkuRank"] <= config.skus_per_visit) & (
        ranked["GapValue"] >= config.min_sku_gap_share * ranked["TopGap"]
    )
    return ranked[keep].drop(columns="TopGap").reset_index(drop=True)


def recency_weights(
    customers: pd.DataFrame, last_visits: pd.DataFrame, window: Window, config: ScoringConfig
) -> pd.DataFrame:
    """CustomerId, DaysSinceLastVisit (NaN = never), RecencyWeight for every customer."""
    last = last_visits[last_visits["LastVisitDate"] < window.week_start]
    out = customers[["CustomerId"]].merge(last, on="CustomerId", how="left")
    days = (window.week_start - out["LastVisitDate"]).dt.days
    visited = days.notna().to_numpy()
    weight = np.ones(len(out))
    decay = libm(math.exp, -days.to_numpy()[visited] * (1.0 / config.recency_days))
    weight[visited] = config.recency_floor + (1.0 - config.recency_floor) * (1.0 - decay)
    return out.drop(columns="LastVisitDate").assign(DaysSinceLastVisit=days, RecencyWeight=weight)


def outlet_priorities(
    scores: pd.DataFrame, pushed: pd.DataFrame, recency: pd.DataFrame, config: ScoringConfig
) -> pd.DataFrame:
    """CustomerId, Opportunities, Saturated, OpportunityValue, PushedSkus, DaysSinceLastVisit,
    RecencyWeight, Priority: one row per customer."""
    flags = pd.DataFrame(
        {
            "CustomerId": scores["CustomerId"],
            "Opportunities": (scores["IndexScore"] <= config.opportunity_index_max)
            & (scores["GapValue"] > 0),
            "Saturated": scores["IndexScore"] >= config.saturated_index_min,
        }
    )
    counts = flags.groupby("CustomerId", as_index=False).sum()
    value = (
        pd.DataFrame(
            {"CustomerId": pushed["CustomerId"], "OpportunityValue": fixed(pushed["GapValue"])}
        )
        .groupby("CustomerId", as_index=False)
        .agg(OpportunityValue=("OpportunityValue", "sum"), PushedSkus=("OpportunityValue", "size"))
    )
    value["OpportunityValue"] = value["OpportunityValue"] * UNIT
    out = recency.merge(counts, on="CustomerId", how="left").merge(
        value, on="CustomerId", how="left"
    )
    for column in ("Opportunities", "Saturated", "PushedSkus"):
        out[column] = out[column].fillna(0).astype(np.int64)
    out["OpportunityValue"] = out["OpportunityValue"].fillna(0.0)
    out["Priority"] = out["OpportunityValue"] * out["RecencyWeight"]
    return out


def weekly_panel(
    lines: pd.DataFrame, visits: pd.DataFrame, window: Window, response_weeks: int
) -> pd.DataFrame:
    """CustomerId, Week, Visited, Untouched, Outcome over the history before the window: the
    revenue of the next `response_weeks` weeks over the outlet's mean, over the mean of the
    week's untouched outlet-weeks (scoring/visit_response.py weekly_panel)."""
    start, end = window.history_start, window.window_start - timedelta(days=1)
    before = lines[lines["SaleDate"].between(start, end)]
    if len(before):  # weeks count from the week of the first sale
        start += timedelta(weeks=(before["SaleDate"].min() - start).days // 7)
    revenue = (
        pd.DataFrame(
            {
                "CustomerId": before["CustomerId"].to_numpy(),
                "Week": ((before["SaleDate"] - start).dt.days // 7).to_numpy(),
                "Revenue": fixed(before["Amount"]),
            }
        )
        .groupby(["CustomerId", "Week"], as_index=False)["Revenue"]
        .sum()
    )
    revenue["Revenue"] = revenue["Revenue"] * UNIT
    weeks = (end - start).days // 7 + 1
    grid = pd.DataFrame({"CustomerId": revenue["CustomerId"].unique()}).merge(
        pd.DataFrame({"Week": np.arange(weeks, dtype=np.int64)}), how="cross"
    )
    seen = visits[visits["VisitDate"].between(start, end)]
    visited = pd.DataFrame(
        {
            "CustomerId": seen["CustomerId"].to_numpy(),
            "Week": ((seen["VisitDate"] - start).dt.days // 7).to_numpy(),
            "Visited": True,
        }
    ).drop_duplicates()
    panel = (
        grid.merge(revenue, on=["CustomerId", "Week"], how="left")
        .merge(visited, on=["CustomerId", "Week"], how="left")
        .sort_values(["CustomerId", "Week"], ignore_index=True)
    )
    panel["Revenue"] = panel["Revenue"].fillna(0.0)
    panel["Visited"] = panel["Visited"].notna()
    per_outlet = panel.groupby("CustomerId", sort=False)
    ahead: Any = 0
    for step in range(1, response_weeks + 1):
        ahead = ahead + per_outlet["Revenue"].shift(-step)
    visited_int = panel["Visited"].astype(np.int8).groupby(panel["CustomerId"], sort=False)
    touched = np.zeros(len(panel), dtype=bool)
    for step in range(1 - response_weeks, response_weeks + 1):  # visits whose lift reaches it
        touched |= visited_int.shift(-step).fillna(1).to_numpy() > 0  # unknown = touched
    mean = per_outlet["Revenue"].transform("mean")
    panel["Outcome"] = ahead / (response_weeks * mean)
    panel["Untouched"] = ~touched
    relative = panel[panel["Outcome"].notna() & (mean > 0)].copy()
    season = relative["Outcome"].where(relative["Untouched"]).groupby(relative["Week"])
    relative["Outcome"] = relative["Outcome"] / season.transform("mean")
    relative = relative[np.isfinite(relative["Outcome"])]
    return relative[["CustomerId", "Week", "Visited", "Untouched", "Outcome"]]


def visit_response(
    lines: pd.DataFrame, visits: pd.DataFrame, window: Window, config: ScoringConfig
) -> tuple[dict[str, Any], pd.DataFrame]:
    """(summary, CustomerId x ResponseFactor; empty without a signal) (visit_response.py)."""
    panel = weekly_panel(lines, visits, window, config.response_weeks)
    outcome = panel["Outcome"]
    per_outlet = (
        pd.DataFrame(
            {
                "CustomerId": panel["CustomerId"],
                "After": outcome.where(panel["Visited"]),
                "Without": outcome.where(panel["Untouched"]),
                "VisitedWeeks": panel["Visited"].astype(np.int64),
            }
        )
        .groupby("CustomerId")
        .agg({"After": "mean", "Without": "mean", "VisitedWeeks": "sum"})
        .dropna()
        .reset_index()
        .sort_values("CustomerId")
    )
    n = len(per_outlet)
    none = pd.DataFrame(
        {"CustomerId": pd.Series(dtype=np.int64), "ResponseFactor": pd.Series(dtype=np.float64)}
    )

    def summary(signal: bool, effect: float, low: float, high: float) -> dict[str, Any]:
        return {
            "signal": signal,
            "effect": round(effect, 4),
            "ci95": [round(low, 4), round(high, 4)],
            "outlets": n,
        }

    if n < config.response_min_outlets:
        return summary(False, 0.0, 0.0, 0.0), none
    # relative lift: the difference over the mean untouched level
    level = per_outlet["Without"].mean()
    per_outlet["Response"] = (per_outlet["After"] - per_outlet["Without"]) * (1.0 / level)
    responses = per_outlet["Response"].to_numpy()
    effect = float(np.mean(responses))
    half = Z_95 * float(np.std(responses, ddof=1)) / np.sqrt(n)
    low, high = float(effect - half), float(effect + half)
    if low <= config.response_min_effect:
        return summary(False, effect, low, high), none
    visited_weeks = per_outlet["VisitedWeeks"]
    weight = visited_weeks / (visited_weeks + config.response_shrinkage_weeks)
    shrunk = weight * per_outlet["Response"] + (1 - weight) * effect
    factor = ((1.0 + shrunk) * (1.0 / (1.0 + effect))).clip(
        config.response_factor_min, config.response_factor_max
    )
    factors = pd.DataFrame({"CustomerId": per_outlet["CustomerId"], "ResponseFactor": factor})
    return summary(True, effect, low, high), factors


# --- one region, end to end -----------------------------------------------------------------


@dataclass(frozen=True)
class RegionResult:
    outlets: pd.DataFrame  # CustomerId, RepId, Routable, Latitude, Longitude, Segment, Priority..
    skus: pd.DataFrame  # CustomerId, ItemId, SkuRank, GapValue, IndexScore, ...
    pairs: pd.DataFrame  # every scored outlet x SKU
    response: dict[str, Any] | None


def score_region(
    region: Region, items: pd.DataFrame, window: Window, config: ScoringConfig, timings: Timings
) -> RegionResult:
    """The scoring of one region (scoring/pipeline.py score_region, segment median)."""
    if config.benchmark != "segment_median":
        raise ValueError("the pandas reference scores benchmark = 'segment_median' only")
    if config.subcategory_benchmark:
        raise ValueError("the pandas reference does not port subcategory_benchmark")
    weeks = ((window.as_of - window.window_start).days + 1) / 7.0
    with timed(timings, "aggregate"):
        totals = window_totals(region.lines, window, config.recent_weeks)
        config = assortment_config(totals, config)
    with timed(timings, "segment"):
        clusters = cluster_skus(items, region.lines, window.history_start, window.as_of, config)
        segments = peer_segments(region.customers, totals, clusters, config)
    with timed(timings, "expectation"):
        grid = outlet_sku_grid(segments, totals, items)
        if config.own_history:
            prior = prior_shares(region.lines, window)
            grid = own_expectation(grid, prior)
            if config.substitution_cap:
                grid = own_subcategory_expectation(grid, prior, items)
        grid = benchmark_shares(grid, config)
    with timed(timings, "index"):
        scores = index_scores(grid, items, weeks, config)
    with timed(timings, "rank"):
        pushed = skus_to_push(scores, config)
        recency = recency_weights(region.customers, region.last_visits, window, config)
        priorities = outlet_priorities(scores, pushed, recency, config)
        response = None
        if config.visit_response:
            response, factors = visit_response(region.lines, region.visits, window, config)
            priorities = priorities.merge(factors, on="CustomerId", how="left")
            priorities["ResponseFactor"] = priorities["ResponseFactor"].fillna(1.0)
            priorities["Priority"] = priorities["Priority"] * priorities["ResponseFactor"]
        outlets = (
            region.customers[
                ["CustomerId", "AreaId", "RepId", "Channel", "Latitude", "Longitude", "Routable"]
            ]
            .merge(segments[["CustomerId", "Segment"]], on="CustomerId", how="left")
            .merge(priorities, on="CustomerId", how="left")
        )
    return RegionResult(outlets=outlets, skus=pushed, pairs=scores, response=response)


def top_by_priority(outlets: pd.DataFrame, n: int) -> pd.DataFrame:
    """Each rep's `n` routable outlets of highest priority (ties: lower CustomerId first)."""
    candidates = outlets[
        outlets["Routable"] & outlets["RepId"].notna() & outlets["Priority"].notna()
    ]
    ranked = candidates.sort_values(
        ["RepId", "Priority", "CustomerId"], ascending=[True, False, True]
    )
    return ranked.groupby("RepId", sort=False).head(n)[["RepId", "CustomerId", "Priority"]]


def route(outlets: pd.DataFrame, config: ScoringConfig) -> pd.DataFrame:
    """Each rep's week (RepId, CustomerId, Rank, Day, RouteOrder, Priority) from the engine's
    router, unchanged, on the routable candidates (polars only as the router's input type)."""
    import polars as pl

    from scoring.routing import plan_weeks
    from scoring.weekly_plan import routing_params

    candidates = outlets.loc[
        outlets["Routable"] & outlets["RepId"].notna() & outlets["Priority"].notna(),
        ["RepId", "CustomerId", "Latitude", "Longitude", "Priority"],
    ]
    visits, _ = plan_weeks(pl.from_pandas(candidates), routing_params(config))
    return visits.to_pandas()


@dataclass(frozen=True)
class RunResult:
    timings: Timings
    outlets: pd.DataFrame
    skus: pd.DataFrame
    pairs: pd.DataFrame
    top: pd.DataFrame  # each rep's Top-30 by priority
    visits: pd.DataFrame  # each rep's routed week
    responses: dict[int, dict[str, Any] | None]


def run(source: Path, config: ScoringConfig, *, keep_pairs: bool = False) -> RunResult:
    """Loads `source`, scores every region, picks each rep's Top-30 and routes its week."""
    timings: Timings = dict.fromkeys(STAGES, 0.0)
    with timed(timings, "load"):
        loaded = load(source, config)
    outlets, skus, pairs, responses = [], [], [], {}
    for region in loaded.regions:
        result = score_region(region, loaded.items, loaded.window, config, timings)
        outlets.append(result.outlets)
        skus.append(result.skus)
        if keep_pairs:
            pairs.append(result.pairs)
        responses[region.area_id] = result.response
    all_outlets = pd.concat(outlets, ignore_index=True)
    with timed(timings, "route"):
        top = top_by_priority(all_outlets, config.visits_per_week)
        visits = route(all_outlets, config)
    return RunResult(
        timings=timings,
        outlets=all_outlets,
        skus=pd.concat(skus, ignore_index=True),
        pairs=pd.concat(pairs, ignore_index=True) if pairs else pd.DataFrame(),
        top=top,
        visits=visits,
        responses=responses,
    )
