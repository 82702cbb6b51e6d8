"""Behavioural segmentation of all outlets by purchase mix: segments, DNA, SKU patterns, potential.

Manufacturers want their outlets grouped by *what* they buy, across regions and channels, and to
act per segment: push the SKUs a segment loves to its outlets that do not buy them yet.

Method (pure: frames and a frozen `SegmentationConfig` in, frames out):

1. **Mix**: each active outlet's revenue shares over the chosen level (brand, category,
   subcategory or SKU) in the look-back window; negative lines (returns) are clipped to 0, so
   shares are in [0, 1] and sum to 1 — the outlet's size does not count, only its mix.
2. **Embedding**: the Hellinger embedding (square roots of the shares, as
   `scoring.peer_segments.embed`) held sparse; optionally minus its channel's average
   (`adjust_for_channel`), so segments describe taste *across* channels instead of rediscovering
   the channel; then PCA to `dims` directions fitted on a seeded sample.
3. **k**: `scoring.peer_segments.choose_k` on the sample (the largest k in 2..`k_max` whose
   clustering is stable across subsamples and separated), or `segments` when fixed. With the
   previous run's segments (`WarmStart`), k-means starts from their centres in this week's
   embedding (the mean of each previous segment's outlets) and keeps their k, unless the fit
   has drifted: its segments agree with the previous ones by less than `drift_min_agreement`
   (adjusted Rand index), are no longer separated (`min_silhouette`), or the last search is
   `research_weeks` old. Then k is searched again. Segments stay put week to week and the
   search (up to 7 k-means model selections) is spared.
4. **Sample, then assign**: k-means is fitted on at most `sample_size` outlets; every outlet is
   then assigned to its nearest centre in chunks, so a million outlets cost one matrix product.
5. Per segment: DNA (mean share per level key against the all-outlet mean), SKU patterns (share
   of the segment's purchases, lift, carry rate), size, revenue, channel and area mix.
   Per outlet: segment, distance to the centre, and **potential**: the SKUs at least
   `min_carry` of its segment buy that it does not buy or under-buys, with the weekly money.

Identity across re-runs (names, descriptions and user tags) is kept by `scoring.segment_match`.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import numpy as np
import polars as pl
from scipy import sparse
from sklearn.cluster import KMeans
from sklearn.decomposition import PCA
from sklearn.metrics import adjusted_rand_score, silhouette_score
from threadpoolctl import threadpool_limits

from scoring.exact import SHARE_SCALE, exact_sum
from scoring.peer_segments import choose_k
from scoring.segmentation_config import Level, SegmentationConfig

INACTIVE_SEGMENT = "inactive"  # SegmentId of an outlet without purchases in the window
OTHER_KEY = "other"
ASSIGN_CHUNK = 50_000


@dataclass(frozen=True)
class Clustering:
    """The raw clustering: labels 0..k-1 (0 = largest) per active outlet, and how k was set."""

    ids: pl.Series
    labels: np.ndarray
    distance: np.ndarray
    k: int
    k_chosen_by: str
    sample: int


@dataclass(frozen=True)
class WarmStart:
    """The previous run's segments to start from: each outlet's previous segment (CustomerId,
    SegmentId; inactive outlets left out). Only given when k may be kept (the last search is
    recent enough, the same level)."""

    outlets: pl.DataFrame


@dataclass(frozen=True)
class Segmentation:
    """The frames of one segmentation run (see `behaviour_segments`)."""

    outlets: pl.DataFrame  # one row per customer: SegmentId (or "inactive"), Distance, ...
    segments: pl.DataFrame  # one row per segment: size, revenue, mix, price index, tags
    dna: pl.DataFrame  # segment x level key: Share, AllShare, Index
    patterns: pl.DataFrame  # segment x SKU: Share, AllShare, Lift, Carry, TypicalShare
    potential: pl.DataFrame  # outlet x SKU: Actual, Expected, GapValue (weekly)
    mix: pl.DataFrame  # segment x (Channel | Area) value: Outlets, Share
    info: dict[str, Any] = field(default_factory=dict)


# --- inputs -------------------------------------------------------------------------------------


def catalogue(clean: dict[str, pl.DataFrame]) -> pl.DataFrame:
    """ItemId, ItemName, UnitPrice, BrandId, BrandName, SubCategoryId, SubCategoryName,
    CategoryId, CategoryName from the clean setup tables."""
    return (
        clean["MV_SetupItem"]
        .select("ItemId", "ItemName", "UnitPrice", "BrandId", "SubCategoryId")
        .join(clean["MV_SetupBrand"].select("BrandId", "BrandName"), on="BrandId", how="left")
        .join(
            clean["MV_SetupSubCategory"].select("SubCategoryId", "SubCategoryName", "CategoryId"),
            on="SubCategoryId",
            how="left",
        )
        .join(
            clean["MV_SetupCategory"].select("CategoryId", "CategoryName"),
            on="CategoryId",
            how="left",
        )
    )


def window_purchases(
    sales: pl.DataFrame, detail: pl.DataFrame, start: date, end: date
) -> pl.DataFrame:
    """CustomerId, ItemId, Revenue, Units over [start, end] from clean MV_Sales / MV_SalesDetail."""
    return (
        sales.lazy()
        .filter(pl.col("SaleDate").is_between(start, end))
        .select("SaleId", "CustomerId")
        .join(detail.lazy().select("SaleId", "ItemId", "Quantity", "Amount"), on="SaleId")
        .group_by("CustomerId", "ItemId")
        .agg(Revenue=exact_sum("Amount"), Units=exact_sum("Quantity"))
        .sort("CustomerId", "ItemId")
        .collect()
    )


def level_keys(items: pl.DataFrame, level: Level) -> pl.DataFrame:
    """ItemId, Key, KeyName: the level key of every item (Key is text, e.g. "b123")."""
    column, name, prefix = {
        "sku": ("ItemId", "ItemName", "i"),
        "brand": ("BrandId", "BrandName", "b"),
        "subcategory": ("SubCategoryId", "SubCategoryName", "s"),
        "category": ("CategoryId", "CategoryName", "c"),
    }[level]
    return items.select(
        "ItemId",
        Key=pl.format(f"{prefix}{{}}", pl.col(column)),
        KeyName=pl.col(name).fill_null(pl.format("{}", pl.col(column))),
    )


def level_shares(purchases: pl.DataFrame, keys: pl.DataFrame) -> pl.DataFrame:
    """CustomerId, Key, Share of every active outlet (positive window revenue), shares sum to 1."""
    positive = purchases.with_columns(pl.col("Revenue").clip(lower_bound=0.0))
    per_key = (
        positive.join(keys.select("ItemId", "Key"), on="ItemId")
        .group_by("CustomerId", "Key")
        .agg(Revenue=exact_sum("Revenue"))
        .filter(pl.col("Revenue") > 0)
    )
    return (
        per_key.with_columns(Share=pl.col("Revenue") / exact_sum("Revenue").over("CustomerId"))
        .select("CustomerId", "Key", "Share")
        .sort("CustomerId", "Key")
    )


# --- clustering ---------------------------------------------------------------------------------


def hellinger_matrix(
    shares: pl.DataFrame, max_features: int
) -> tuple[pl.Series, list[str], sparse.csr_matrix]:
    """(sorted CustomerIds, feature keys, sparse sqrt-share matrix). Keys beyond `max_features`
    (by total share) are pooled into one "other" column before the square root."""
    ids = shares["CustomerId"].unique().sort()
    weight = (
        shares.group_by("Key")
        .agg(W=pl.col("Share").sum())
        .sort(["W", "Key"], descending=[True, False])
    )
    kept = weight["Key"].head(max_features - 1 if weight.height > max_features else max_features)
    features = kept.to_list() + ([OTHER_KEY] if weight.height > kept.len() else [])
    index = pl.DataFrame({"Key": kept, "Col": np.arange(kept.len(), dtype=np.int64)})
    rows = pl.DataFrame({"CustomerId": ids, "Row": np.arange(ids.len(), dtype=np.int64)})
    cells = (
        shares.join(index, on="Key", how="left")
        .with_columns(pl.col("Col").fill_null(len(features) - 1))
        .group_by("CustomerId", "Col")
        .agg(pl.col("Share").sum())
        .join(rows, on="CustomerId")
    )
    matrix = sparse.csr_matrix(
        (
            np.sqrt(np.clip(cells["Share"].to_numpy(), 0.0, 1.0)),
            (cells["Row"].to_numpy(), cells["Col"].to_numpy()),
        ),
        shape=(ids.len(), len(features)),
    )
    matrix.sort_indices()
    return ids, features, matrix


def channel_means(matrix: sparse.csr_matrix, channel: np.ndarray) -> np.ndarray:
    """(channels, features) mean embedded mix of each channel code 0..c-1."""
    codes = int(channel.max()) + 1 if channel.size else 0
    onehot = sparse.csr_matrix(
        (np.ones(channel.size), (channel, np.arange(channel.size))), shape=(codes, channel.size)
    )
    counts = np.maximum(np.bincount(channel, minlength=codes), 1)[:, None]
    return (
        np.asarray((onehot @ matrix).toarray()) / counts
        if codes
        else np.zeros((0, matrix.shape[1]))
    )


def cluster_mix(
    ids: pl.Series,
    matrix: sparse.csr_matrix,
    channel: np.ndarray,
    config: SegmentationConfig,
    warm: WarmStart | None = None,
) -> Clustering:
    """Embed, choose k on a sample (or keep the previous run's, `warm`), fit k-means on a
    sample and assign every outlet (chunks)."""
    n = matrix.shape[0]
    offsets = (
        channel_means(matrix, channel)
        if config.adjust_for_channel
        else np.zeros((1, matrix.shape[1]))
    )
    code = channel if config.adjust_for_channel else np.zeros(n, dtype=np.int64)

    def dense(rows: np.ndarray) -> np.ndarray:
        return np.asarray(matrix[rows].toarray()) - offsets[code[rows]]

    rng = np.random.default_rng(config.seed)
    sample = (
        np.sort(rng.choice(n, config.sample_size, replace=False))
        if n > config.sample_size
        else np.arange(n)
    )
    fitted = dense(sample)
    dims = min(config.dims, fitted.shape[0] - 1, fitted.shape[1])
    pca = (
        PCA(dims, random_state=config.seed).fit(fitted)
        if dims >= 2 and fitted.shape[1] > config.dims
        else None
    )

    def project(values: np.ndarray) -> np.ndarray:
        return values if pca is None else np.asarray(pca.transform(values))

    with threadpool_limits(limits=1, user_api="openmp"):
        sample_features = project(fitted)
        if n == 0:
            chosen_by = "fixed" if config.segments is not None else "stability"
            return Clustering(ids, np.zeros(0, np.int64), np.zeros(0), 0, chosen_by, 0)
        kept = (
            warm_fit(sample_features, previous_labels(ids[sample], warm), config)
            if warm is not None and config.segments is None
            else None
        )
        model: KMeans | None
        if kept is not None:
            model, chosen_by = kept, "previous"
            k = int(model.n_clusters)
        else:
            k = choose_k(sample_features, config.k_config())
            chosen_by = "fixed" if config.segments is not None else "stability"
            model = (
                None
                if k == 1
                else KMeans(k, n_init=4, random_state=config.seed).fit(sample_features)
            )
        labels = np.zeros(n, dtype=np.int64)
        distance = np.zeros(n)
        centres = (
            model.cluster_centers_ if model is not None else sample_features.mean(axis=0)[None, :]
        )
        for start in range(0, n, ASSIGN_CHUNK):
            rows = np.arange(start, min(n, start + ASSIGN_CHUNK))
            features = project(dense(rows))
            gaps = ((features[:, None, :] - centres[None, :, :]) ** 2).sum(axis=2)
            labels[rows] = gaps.argmin(axis=1)
            distance[rows] = np.sqrt(gaps.min(axis=1))
    sizes = np.bincount(labels, minlength=k)
    order = np.argsort(-sizes, kind="stable")
    relabel = np.empty(k, dtype=np.int64)
    relabel[order] = np.arange(k)
    return Clustering(ids, relabel[labels], distance, k, chosen_by, int(sample.size))


def previous_labels(ids: pl.Series, warm: WarmStart) -> np.ndarray:
    """Each of `ids`' previous segment as 0..k-1 (segments in id order; -1: not segmented
    then, e.g. a new outlet)."""
    segments = warm.outlets.get_column("SegmentId").unique().sort()
    codes = warm.outlets.join(
        pl.DataFrame({"SegmentId": segments}).with_row_index("_label"), on="SegmentId"
    ).select("CustomerId", "_label")
    return (
        pl.DataFrame({"CustomerId": ids})
        .join(codes, on="CustomerId", how="left", maintain_order="left")
        .get_column("_label")
        .fill_null(-1)
        .cast(pl.Int64)
        .to_numpy()
    )


def warm_fit(
    features: np.ndarray, previous: np.ndarray, config: SegmentationConfig
) -> KMeans | None:
    """k-means on `features` (the sample's embedding) started from the centres of the previous
    segments (`previous`: each row's previous label, -1 for none), with their k; None when it
    does not hold: fewer than 2 previous segments, a previous segment without a sampled
    outlet, or a fit that drifted (agreement with the previous labels under
    `drift_min_agreement`, or a silhouette under `min_silhouette`)."""
    known = previous >= 0
    k = int(previous.max()) + 1 if known.any() else 0
    if k < 2 or features.shape[0] <= k:
        return None
    members = np.bincount(previous[known], minlength=k)
    if (members == 0).any():
        return None
    centres = np.stack([features[previous == label].mean(axis=0) for label in range(k)])
    model = KMeans(k, init=centres, n_init=1, random_state=config.seed).fit(features)
    labels = model.labels_
    if len(set(labels.tolist())) < k:
        return None
    if adjusted_rand_score(previous[known], labels[known]) < config.drift_min_agreement:
        return None
    rows = np.arange(features.shape[0])
    if rows.size > config.k_sample:  # the silhouette is quadratic: on as many as choose_k
        rows = np.sort(np.random.default_rng(config.seed).choice(rows, config.k_sample, False))
    if silhouette_score(features[rows], labels[rows]) < config.min_silhouette:
        return None
    return model


# --- per segment and per outlet -----------------------------------------------------------------


def _mix_text(frame: pl.DataFrame, column: str) -> pl.DataFrame:
    """SegmentId, <column>Mix: e.g. "ON_TRADE 55% · OFF_TRADE 45%" (largest first)."""
    return (
        frame.sort(["SegmentId", "Share", "Value"], descending=[False, True, False])
        .group_by("SegmentId", maintain_order=True)
        .agg(
            pl.format("{} {}%", "Value", (pl.col("Share") * 100).round(0).cast(pl.Int64))
            .str.join(" · ")
            .alias(f"{column}Mix")
        )
    )


def segment_mix(assigned: pl.DataFrame) -> pl.DataFrame:
    """SegmentId, Dimension ("Channel" | "Area"), Value, Outlets, Share of the segment."""
    parts = []
    for dimension, column in (("Channel", "Channel"), ("Area", "AreaName")):
        parts.append(
            assigned.group_by("SegmentId", pl.col(column).cast(pl.String).alias("Value"))
            .agg(Outlets=pl.len())
            .with_columns(
                Dimension=pl.lit(dimension),
                Share=pl.col("Outlets") / pl.col("Outlets").sum().over("SegmentId"),
            )
        )
    return (
        pl.concat(parts)
        .select("SegmentId", "Dimension", "Value", "Outlets", "Share")
        .sort("SegmentId", "Dimension", "Value")
    )


def segment_dna(shares: pl.DataFrame, assigned: pl.DataFrame, keys: pl.DataFrame) -> pl.DataFrame:
    """SegmentId, Key, KeyName, Share (mean share of the segment's outlets), AllShare (mean over
    all active outlets), Index (100 x Share / AllShare). Each profile sums to 1."""
    n_all = assigned.height
    sizes = assigned.group_by("SegmentId").agg(N=pl.len())
    # shares summed in fixed point: the Index ranks the keys that name a segment, and a float
    # sum in thread order could flip a near-tie between two runs on the same data
    overall = shares.group_by("Key").agg(AllShare=exact_sum("Share", SHARE_SCALE) / n_all)
    names = keys.select("Key", "KeyName").unique("Key").sort("Key")
    return (
        shares.join(assigned.select("CustomerId", "SegmentId"), on="CustomerId")
        .group_by("SegmentId", "Key")
        .agg(Total=exact_sum("Share", SHARE_SCALE))
        .join(sizes, on="SegmentId")
        .join(overall, on="Key")
        .join(names, on="Key", how="left")
        .with_columns(Share=pl.col("Total") / pl.col("N"))
        .with_columns(Index=100.0 * pl.col("Share") / pl.col("AllShare"))
        .select("SegmentId", "Key", "KeyName", "Share", "AllShare", "Index")
        .sort(["SegmentId", "Share", "Key"], descending=[False, True, False])
    )


def sku_patterns(
    purchases: pl.DataFrame, assigned: pl.DataFrame, items: pl.DataFrame, weeks: float
) -> pl.DataFrame:
    """SegmentId x ItemId: WeeklyRevenue, Share (of the segment's purchases), AllShare, Lift,
    Carry (share of the segment's outlets buying it), AllCarry, TypicalShare (the share at
    least half the segment's outlets reach, 0 when fewer than half buy it)."""
    bought = (
        purchases.filter(pl.col("Revenue") > 0)
        .join(assigned.select("CustomerId", "SegmentId", Total="Revenue"), on="CustomerId")
        .with_columns(OutletShare=pl.col("Revenue") / pl.col("Total"))
    )
    sizes = assigned.group_by("SegmentId").agg(N=pl.len(), SegmentRevenue=pl.col("Revenue").sum())
    all_revenue = float(assigned["Revenue"].sum())
    overall = bought.group_by("ItemId").agg(
        AllShare=exact_sum("Revenue") / all_revenue, AllCarry=pl.len() / assigned.height
    )
    half = (
        bought.join(sizes.select("SegmentId", "N"), on="SegmentId")
        .with_columns(
            Rank=pl.col("OutletShare").rank("ordinal", descending=True).over("SegmentId", "ItemId")
        )
        .filter(pl.col("Rank") == (pl.col("N") + 1) // 2)
        .select("SegmentId", "ItemId", TypicalShare="OutletShare")
    )
    return (
        bought.group_by("SegmentId", "ItemId")
        .agg(Revenue=exact_sum("Revenue"), Buyers=pl.len())
        .join(sizes, on="SegmentId")
        .join(overall, on="ItemId")
        .join(half, on=["SegmentId", "ItemId"], how="left")
        .join(items.select("ItemId", "ItemName"), on="ItemId", how="left")
        .with_columns(
            WeeklyRevenue=pl.col("Revenue") / weeks,
            Share=pl.col("Revenue") / pl.col("SegmentRevenue"),
            Carry=pl.col("Buyers") / pl.col("N"),
            TypicalShare=pl.col("TypicalShare").fill_null(0.0),
        )
        .with_columns(Lift=pl.col("Share") / pl.col("AllShare"))
        .select(
            "SegmentId",
            "ItemId",
            "ItemName",
            "WeeklyRevenue",
            "Share",
            "AllShare",
            "Lift",
            "Carry",
            "AllCarry",
            "TypicalShare",
        )
        .sort(["SegmentId", "Share", "ItemId"], descending=[False, True, False])
    )


def outlet_potential(
    purchases: pl.DataFrame,
    assigned: pl.DataFrame,
    patterns: pl.DataFrame,
    weeks: float,
    config: SegmentationConfig,
) -> pl.DataFrame:
    """CustomerId, SegmentId, ItemId, ItemName, Actual, Expected, GapValue (weekly money),
    SegmentCarry, SegmentLift, PotentialRank: the SKUs of the segment's range (carried by at
    least `min_carry` of its outlets) that the outlet does not buy or buys under
    `under_buy_ratio` x expected. Expected = the outlet's *other* purchases x b / (1 - b), b the
    segment's typical share (as the benchmark does), so a gap does not shrink its own
    expectation. At most `max_potential_skus` per outlet, largest gap first."""
    in_range = patterns.filter(
        (pl.col("Carry") >= config.min_carry) & (pl.col("TypicalShare") > 0)
    ).select(
        "SegmentId",
        "ItemId",
        "ItemName",
        "TypicalShare",
        SegmentCarry="Carry",
        SegmentLift="Lift",
    )
    actual = purchases.select("CustomerId", "ItemId", Bought=pl.col("Revenue").clip(lower_bound=0))
    b = pl.col("TypicalShare").clip(upper_bound=0.95)
    grid = (
        assigned.select("CustomerId", "SegmentId", Total="Revenue")
        .join(in_range, on="SegmentId")
        .join(actual, on=["CustomerId", "ItemId"], how="left")
        .with_columns(pl.col("Bought").fill_null(0.0))
        .with_columns(Expected=(pl.col("Total") - pl.col("Bought")) * b / (1 - b) / weeks)
        .with_columns(Actual=pl.col("Bought") / weeks)
        .with_columns(GapValue=pl.col("Expected") - pl.col("Actual"))
        .filter(
            (pl.col("Actual") < config.under_buy_ratio * pl.col("Expected"))
            & (pl.col("GapValue") >= config.min_potential_value)
        )
    )
    return (
        grid.sort(["CustomerId", "GapValue", "ItemId"], descending=[False, True, False])
        .with_columns(PotentialRank=pl.int_range(1, pl.len() + 1).over("CustomerId"))
        .filter(pl.col("PotentialRank") <= config.max_potential_skus)
        .select(
            "CustomerId",
            "SegmentId",
            "ItemId",
            "ItemName",
            "Actual",
            "Expected",
            "GapValue",
            "SegmentCarry",
            "SegmentLift",
            "PotentialRank",
        )
    )


def price_index(purchases: pl.DataFrame, items: pl.DataFrame) -> pl.DataFrame:
    """CustomerId, PriceRevenue: revenue x (item price / median price of its category), summed;
    divided by revenue it is how premium an outlet's basket is (1 = the category medians)."""
    relative = items.select(
        "ItemId",
        Relative=pl.col("UnitPrice") / pl.col("UnitPrice").median().over("CategoryId"),
    )
    return (
        purchases.filter(pl.col("Revenue") > 0)
        .join(relative, on="ItemId")
        .group_by("CustomerId")
        .agg(PriceRevenue=(pl.col("Revenue") * pl.col("Relative")).sum())
    )


def slug(text: str) -> str:
    """`#tag` form of a name: lower case, letters and digits only."""
    return "#" + re.sub(r"[^0-9a-z]+", "", text.lower())


def auto_tags(row: dict[str, Any], config: SegmentationConfig) -> list[str]:
    """Suggested tags from the segment's figures (users replace them in the tags file)."""
    tags = []
    if row["PriceIndex"] >= config.premium_index:
        tags.append("#premium")
    elif row["PriceIndex"] <= config.value_index:
        tags.append("#pricesensitive")
    else:
        tags.append("#mainstream")
    if row["SizeIndex"] >= 1.5:
        tags.append("#bigaccounts")
    elif row["SizeIndex"] <= 0.67:
        tags.append("#smallaccounts")
    for channel, share in row["Channels"].items():
        if share >= 0.75:
            tags.append(slug(channel))
    if row["TopKeyName"] and config.level != "sku":  # SKU names make unreadable tags
        tags.append(slug(row["TopKeyName"]))
    return tags


def auto_name(row: dict[str, Any], config: SegmentationConfig) -> str:
    """A readable default name: the price position and the most over-indexed key."""
    position = (
        "Premium"
        if row["PriceIndex"] >= config.premium_index
        else "Value"
        if row["PriceIndex"] <= config.value_index
        else "Mainstream"
    )
    return f"{position} · {row['TopKeyName']}" if row["TopKeyName"] else position


def behaviour_segments(
    customers: pl.DataFrame,
    purchases: pl.DataFrame,
    items: pl.DataFrame,
    weeks: float,
    config: SegmentationConfig,
    areas: pl.DataFrame | None = None,
    warm: WarmStart | None = None,
) -> Segmentation:
    """Segments every customer by purchase mix (see the module docstring).

    customers: CustomerId, AreaId, Channel (+ CustomerName, RepId when present); purchases:
    CustomerId, ItemId, Revenue over the window (`window_purchases`); items: `catalogue`;
    weeks: the window length in weeks (money is reported per week); areas: AreaId, AreaName;
    warm: the previous run's segments to start from (`WarmStart`).

    SegmentIds are provisional ("k1".."kK", by size) until `scoring.segment_match.identify`
    gives them their persistent ids and names.
    """
    keys = level_keys(items, config.level)
    shares = level_shares(purchases, keys)
    active = (
        customers.select("CustomerId", "Channel")
        .join(shares.select("CustomerId").unique(), on="CustomerId", how="semi")
        .sort("CustomerId")
    )
    ids, features, matrix = hellinger_matrix(
        shares.join(active, on="CustomerId", how="semi"), config.max_features
    )
    channel_codes = (
        pl.DataFrame({"CustomerId": ids})
        .join(active, on="CustomerId", how="left")
        .with_columns(Code=pl.col("Channel").rank("dense") - 1)["Code"]
        .to_numpy()
        .astype(np.int64)
    )
    clustering = cluster_mix(ids, matrix, channel_codes, config, warm)

    revenue = purchases.group_by("CustomerId").agg(
        Revenue=exact_sum(pl.col("Revenue").clip(lower_bound=0))
    )
    labels = pl.DataFrame(
        {
            "CustomerId": ids,
            "SegmentId": [f"k{label + 1}" for label in clustering.labels.tolist()],
            # rounded: threaded BLAS may differ in the last bits between runs
            "Distance": np.round(clustering.distance, 9),
        }
    )
    area_names = (
        areas.select("AreaId", "AreaName")
        if areas is not None
        else customers.select("AreaId").unique().with_columns(AreaName=pl.format("{}", "AreaId"))
    )
    base = (
        customers.join(revenue, on="CustomerId", how="left")
        .join(labels, on="CustomerId", how="left")
        .join(area_names, on="AreaId", how="left")
        .with_columns(pl.col("Revenue").fill_null(0.0))
    )
    assigned = base.filter(pl.col("SegmentId").is_not_null())
    dna = segment_dna(shares, assigned, keys)
    patterns = sku_patterns(purchases, assigned, items, weeks)
    potential = outlet_potential(purchases, assigned, patterns, weeks, config)
    mix = segment_mix(assigned)
    segments = segment_table(assigned, dna, purchases, items, potential, mix, weeks, config)

    outlet_potential_sum = potential.group_by("CustomerId").agg(
        PotentialValue=exact_sum("GapValue"),
        PotentialSkus=pl.len(),
        TopPotentialSkus=pl.col("ItemName").head(3).str.join(" | "),
    )
    extra = [c for c in ("CustomerName", "RepId") if c in base.columns]
    outlets = (
        base.with_columns(
            DistancePercentile=(
                pl.col("Distance").rank("average").over("SegmentId") / pl.len().over("SegmentId")
            ),
            WeeklyRevenue=pl.col("Revenue") / weeks,
            SegmentId=pl.col("SegmentId").fill_null(INACTIVE_SEGMENT),
        )
        .join(outlet_potential_sum, on="CustomerId", how="left")
        .with_columns(
            pl.col("PotentialValue").fill_null(0.0),
            pl.col("PotentialSkus").fill_null(0).cast(pl.Int64),
            pl.col("TopPotentialSkus").fill_null(""),
        )
        .select(
            "CustomerId",
            *extra,
            "AreaId",
            "AreaName",
            "Channel",
            "SegmentId",
            "Distance",
            "DistancePercentile",
            "WeeklyRevenue",
            "PotentialValue",
            "PotentialSkus",
            "TopPotentialSkus",
        )
        .sort("CustomerId")
    )
    info = {
        "level": config.level,
        "k": clustering.k,
        "kChosenBy": clustering.k_chosen_by,
        "features": len(features),
        "activeOutlets": int(ids.len()),
        "inactiveOutlets": int(customers.height - ids.len()),
        "fittedOn": clustering.sample,
        "weeks": weeks,
    }
    return Segmentation(outlets, segments, dna, patterns, potential, mix, info)


def segment_table(
    assigned: pl.DataFrame,
    dna: pl.DataFrame,
    purchases: pl.DataFrame,
    items: pl.DataFrame,
    potential: pl.DataFrame,
    mix: pl.DataFrame,
    weeks: float,
    config: SegmentationConfig,
) -> pl.DataFrame:
    """One row per segment: Outlets, OutletShare, WeeklyRevenue, RevenueShare,
    RevenuePerOutlet, SizeIndex, PriceIndex, ChannelMix, AreaMix, TopKeys, PotentialValue,
    AutoName, AutoTags."""
    prices = price_index(purchases, items)
    with_price = assigned.join(prices, on="CustomerId", how="left").with_columns(
        pl.col("PriceRevenue").fill_null(0.0)
    )
    all_price = float(with_price["PriceRevenue"].sum()) / max(
        float(with_price["Revenue"].sum()), 1e-12
    )
    per_outlet = float(assigned["Revenue"].sum()) / max(assigned.height, 1)
    top = (
        dna.filter(pl.col("Share") >= 0.5 / max(dna["Key"].n_unique(), 1))
        .sort(["SegmentId", "Index", "Key"], descending=[False, True, False])
        .group_by("SegmentId", maintain_order=True)
        .agg(
            TopKeyName=pl.col("KeyName").first(),
            TopKeys=pl.format("{} ({})", "KeyName", pl.col("Index").round(0).cast(pl.Int64))
            .head(3)
            .str.join(", "),
        )
    )
    money = potential.group_by("SegmentId").agg(PotentialValue=exact_sum("GapValue"))
    channels = mix.filter(pl.col("Dimension") == "Channel")
    table = (
        with_price.group_by("SegmentId")
        .agg(
            Outlets=pl.len(),
            Revenue=exact_sum("Revenue"),
            PriceRevenue=pl.col("PriceRevenue").sum(),
            MeanDistance=pl.col("Distance").mean(),
        )
        .with_columns(
            OutletShare=pl.col("Outlets") / assigned.height,
            WeeklyRevenue=pl.col("Revenue") / weeks,
            RevenueShare=pl.col("Revenue") / pl.col("Revenue").sum(),
            RevenuePerOutlet=pl.col("Revenue") / pl.col("Outlets") / weeks,
            SizeIndex=pl.col("Revenue") / pl.col("Outlets") / max(per_outlet, 1e-12),
            PriceIndex=pl.col("PriceRevenue") / pl.col("Revenue") / max(all_price, 1e-12),
        )
        .join(_mix_text(channels, "Channel"), on="SegmentId", how="left")
        .join(
            _mix_text(mix.filter(pl.col("Dimension") == "Area"), "Area"), on="SegmentId", how="left"
        )
        .join(top, on="SegmentId", how="left")
        .join(money, on="SegmentId", how="left")
        .with_columns(pl.col("PotentialValue").fill_null(0.0), pl.col("TopKeyName").fill_null(""))
        .sort("SegmentId")
    )
    channel_shares = {
        segment: dict(zip(group["Value"].to_list(), group["Share"].to_list(), strict=True))
        for (segment,), group in channels.group_by("SegmentId")
    }
    names, tags = [], []
    for row in table.iter_rows(named=True):
        row["Channels"] = channel_shares.get(row["SegmentId"], {})
        names.append(auto_name(row, config))
        tags.append(" ".join(auto_tags(row, config)))
    return table.with_columns(
        AutoName=pl.Series(names, dtype=pl.String), AutoTags=pl.Series(tags, dtype=pl.String)
    ).select(
        "SegmentId",
        "AutoName",
        "AutoTags",
        "Outlets",
        "OutletShare",
        "WeeklyRevenue",
        "RevenueShare",
        "RevenuePerOutlet",
        "SizeIndex",
        "PriceIndex",
        "ChannelMix",
        "AreaMix",
        "TopKeys",
        "MeanDistance",
        "PotentialValue",
    )


def window_weeks(start: date, end: date) -> float:
    """Length of [start, end] in weeks."""
    return ((end - start).days + 1) / 7.0


def bhattacharyya(a: dict[str, float], b: dict[str, float]) -> float:
    """Similarity of two share profiles in [0, 1] (1 = identical): sum of sqrt(p q)."""
    return float(sum(math.sqrt(max(p, 0.0) * max(b.get(key, 0.0), 0.0)) for key, p in a.items()))
