"""Peer segments (the benchmark's comparable outlets): channel x volume tier x purchase behaviour.

Two outlets of the same channel and size can buy very differently (a premium cocktail bar and a
value pub); benchmarking one against the other flags false gaps. The behaviour cluster groups
outlets by *what* they buy: k-means on the square roots of their revenue shares over SKU clusters
(the Hellinger embedding, so size does not dominate), per channel, with k chosen by silhouette.
"""

from __future__ import annotations

import numpy as np
import polars as pl
from sklearn.cluster import KMeans
from sklearn.decomposition import PCA
from sklearn.metrics import adjusted_rand_score, silhouette_score
from threadpoolctl import threadpool_limits

from scoring.config import ScoringConfig
from scoring.exact import exact_sum

INACTIVE = -1  # behaviour / volume tier of an outlet without sales in the window


def volume_tiers(tiers: int) -> pl.Expr:
    """Tier 1..tiers of an outlet's window revenue within its region and channel."""
    rank = pl.col("Revenue").rank("ordinal").over("AreaId", "Channel") - 1
    size = pl.len().over("AreaId", "Channel")
    return (rank * tiers // size + 1).cast(pl.Int64)


def stability(features: np.ndarray, k: int, seed: int, pairs: int = 4) -> float:
    """How reproducible a k-clustering is: the mean adjusted Rand index between the labels two
    k-means fitted on different 70% subsamples give to all points. A real structure is found
    again whatever the sample; an arbitrary split of one group is not."""
    rng = np.random.default_rng(seed)
    n = features.shape[0]
    size = max(k + 1, int(0.7 * n))
    scores = []
    for pair in range(pairs):
        models = [
            KMeans(k, n_init=2, random_state=seed + 2 * pair + side).fit(
                features[rng.choice(n, size, replace=False)]
            )
            for side in (0, 1)
        ]
        scores.append(adjusted_rand_score(models[0].predict(features), models[1].predict(features)))
    return float(np.mean(scores))


def choose_k(features: np.ndarray, config: ScoringConfig) -> int:
    """The number of behaviour clusters: fixed by config, else the largest k in 2..k_max whose
    clustering is stable across subsamples (mixing two behaviours biases every benchmark of
    both, an extra stable cluster only costs peers), provided the clusters are separated at all
    (silhouette); 1 when no k qualifies."""
    n = features.shape[0]
    distinct = np.unique(features, axis=0).shape[0]
    if config.behaviour_segments is not None:
        return max(1, min(config.behaviour_segments, distinct))
    if n < 6:
        return 1
    sample = features
    if n > config.behaviour_sample:
        rng = np.random.default_rng(config.seed)
        sample = features[rng.choice(n, config.behaviour_sample, replace=False)]
    # the largest qualifying k wins: try from the top and stop at the first; the cheap
    # stability test goes first, the quadratic silhouette only for a stable k
    for k in range(min(config.behaviour_k_max, sample.shape[0] - 1, distinct), 1, -1):
        labels = KMeans(k, n_init=4, random_state=config.seed).fit_predict(sample)
        if len(set(labels.tolist())) < 2:
            continue
        if (
            stability(sample, k, config.seed) >= config.behaviour_min_stability
            and silhouette_score(sample, labels) >= config.behaviour_min_silhouette
        ):
            return k
    return 1


def embed(shares: np.ndarray, config: ScoringConfig) -> np.ndarray:
    """The Hellinger embedding of purchase shares (square roots), reduced by PCA to its main
    directions so the idiosyncratic noise of single SKU clusters does not drive the clusters."""
    features = np.sqrt(np.clip(shares, 0.0, 1.0))
    dims = min(config.behaviour_dims, features.shape[0] - 1, features.shape[1])
    if dims < 2 or features.shape[1] <= config.behaviour_dims:
        return features
    return np.asarray(PCA(dims, random_state=config.seed).fit_transform(features))


def behaviour_clusters(shares: pl.DataFrame, config: ScoringConfig) -> pl.DataFrame:
    """CustomerId, Behaviour (0..k-1) from long shares (CustomerId, SkuCluster, Share) of the
    outlets of one channel. Labels are ordered by cluster size (0 = largest) for stability."""
    # sorted so the feature matrix (and so k-means) never depends on hash order
    wide = shares.sort("CustomerId", "SkuCluster").pivot(
        on="SkuCluster", index="CustomerId", values="Share"
    )
    ids = wide["CustomerId"]
    shares_matrix = wide.drop("CustomerId").fill_null(0.0).to_numpy().astype(np.float64)
    # PCA and k-means on a few thousand points are fastest single-threaded (OpenMP and BLAS):
    # threads oversubscribe the cores that the region workers already share (measured: 10 s ->
    # 0.25 s per region for OpenMP; 2.2 -> 1.2 CPU s for BLAS, same labels)
    with threadpool_limits(limits=1):
        return cluster_features(ids, embed(shares_matrix, config), config)


def cluster_features(ids: pl.Series, features: np.ndarray, config: ScoringConfig) -> pl.DataFrame:
    """CustomerId, Behaviour from the embedded features (see behaviour_clusters)."""
    k = choose_k(features, config)
    if k == 1:
        return pl.DataFrame({"CustomerId": ids, "Behaviour": np.zeros(len(ids), dtype=np.int64)})
    model = KMeans(k, n_init=4, random_state=config.seed).fit(features)
    sizes = np.bincount(model.labels_, minlength=k)
    order = np.argsort(-sizes, kind="stable")
    relabel = np.empty(k, dtype=np.int64)
    relabel[order] = np.arange(k)
    return pl.DataFrame({"CustomerId": ids, "Behaviour": relabel[model.labels_]})


def peer_segments(
    customers: pl.DataFrame,
    outlet_sku: pl.DataFrame,
    sku_clusters: pl.DataFrame,
    config: ScoringConfig,
) -> pl.DataFrame:
    """CustomerId, AreaId, Channel, Revenue, VolumeTier, Behaviour, Segment for every customer.

    `outlet_sku` holds window revenue per CustomerId x ItemId. Outlets without window sales get
    tier and behaviour -1 and the segment "inactive": with no purchases there is no mix to
    compare (they are scored as having no measurable opportunity).
    """
    revenue = outlet_sku.group_by("CustomerId").agg(Revenue=exact_sum("Revenue"))
    base = customers.select("CustomerId", "AreaId", "Channel").join(
        revenue, on="CustomerId", how="left"
    )
    active = base.filter(pl.col("Revenue") > 0)
    active = active.with_columns(VolumeTier=volume_tiers(config.volume_tiers))
    mix = (
        outlet_sku.join(sku_clusters.select("ItemId", "SkuCluster"), on="ItemId")
        .group_by("CustomerId", "SkuCluster")
        .agg(Revenue=exact_sum("Revenue"))
        .join(active.select("CustomerId", "Channel", Total="Revenue"), on="CustomerId")
        .with_columns(Share=(pl.col("Revenue") / pl.col("Total")).clip(0.0, 1.0))
    )
    behaviours = [
        behaviour_clusters(group.drop("Channel"), config)
        for _, group in mix.select("CustomerId", "Channel", "SkuCluster", "Share").group_by(
            "Channel", maintain_order=True
        )
    ]
    behaviour = (
        pl.concat(behaviours)
        if behaviours
        else pl.DataFrame(schema={"CustomerId": pl.Int64, "Behaviour": pl.Int64})
    )
    return (
        base.join(active.select("CustomerId", "VolumeTier"), on="CustomerId", how="left")
        .join(behaviour, on="CustomerId", how="left")
        .with_columns(
            pl.col("Revenue").fill_null(0.0),
            pl.col("VolumeTier").fill_null(INACTIVE),
            pl.col("Behaviour").fill_null(INACTIVE),
        )
        .with_columns(
            Segment=pl.when(pl.col("Behaviour") == INACTIVE)
            .then(pl.lit("inactive"))
            .otherwise(pl.format("{}|v{}|b{}", "Channel", "VolumeTier", "Behaviour"))
        )
    )
