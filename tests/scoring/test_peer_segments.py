import numpy as np
import polars as pl
import pytest
from sklearn.cluster import KMeans
from sklearn.metrics import silhouette_score

from scoring.config import ScoringConfig
from scoring.peer_segments import INACTIVE, behaviour_clusters, choose_k, peer_segments, stability


def two_taste_shares(n: int = 20) -> pl.DataFrame:
    """Half the outlets buy 90% premium / 10% value, the other half the reverse (+ jitter)."""
    rng = np.random.default_rng(0)
    rows = []
    for customer in range(1, n + 1):
        premium = (0.9 if customer <= n // 2 else 0.1) + rng.uniform(-0.03, 0.03)
        rows += [(customer, "premium", premium), (customer, "value", 1 - premium)]
    return pl.DataFrame(rows, schema=["CustomerId", "SkuCluster", "Share"], orient="row")


def test_behaviour_recovers_obvious_clusters() -> None:
    out = behaviour_clusters(two_taste_shares(), ScoringConfig()).sort("CustomerId")
    labels = out["Behaviour"].to_list()
    assert len(set(labels[:10])) == 1
    assert len(set(labels[10:])) == 1
    assert labels[0] != labels[10]


def test_fixed_k_and_single_cluster_when_no_structure() -> None:
    shares = pl.DataFrame(
        [(c, s, 0.5) for c in range(1, 13) for s in ("a", "b")],
        schema=["CustomerId", "SkuCluster", "Share"],
        orient="row",
    )
    auto = behaviour_clusters(shares, ScoringConfig())
    assert auto["Behaviour"].unique().to_list() == [0]
    fixed = behaviour_clusters(two_taste_shares(), ScoringConfig(behaviour_segments=3))
    assert fixed["Behaviour"].n_unique() == 3


def test_segments_tiers_and_inactive() -> None:
    customers = pl.DataFrame(
        {
            "CustomerId": [1, 2, 3, 4],
            "AreaId": [1, 1, 1, 1],
            "Channel": ["ON_TRADE", "ON_TRADE", "ON_TRADE", "OFF_TRADE"],
        }
    )
    outlet_sku = pl.DataFrame(
        {"CustomerId": [1, 2, 4], "ItemId": [1, 1, 1], "Revenue": [10.0, 50.0, 5.0]}
    )
    clusters = pl.DataFrame({"ItemId": [1], "SkuCluster": ["c1|value|flat"]})
    out = peer_segments(customers, outlet_sku, clusters, ScoringConfig(volume_tiers=2))
    rows = {r["CustomerId"]: r for r in out.iter_rows(named=True)}
    assert rows[1]["VolumeTier"] == 1  # smaller of the two active on-trade outlets
    assert rows[2]["VolumeTier"] == 2
    assert rows[3]["Segment"] == "inactive"
    assert rows[3]["VolumeTier"] == INACTIVE
    assert rows[4]["Segment"] == "OFF_TRADE|v1|b0"


def three_taste_shares(n_per: int = 15) -> pl.DataFrame:
    rng = np.random.default_rng(1)
    mixes = [(0.8, 0.15, 0.05), (0.1, 0.8, 0.1), (0.05, 0.15, 0.8)]
    rows = []
    customer = 0
    for mix in mixes:
        for _ in range(n_per):
            customer += 1
            noisy = np.clip(np.array(mix) + rng.uniform(-0.03, 0.03, 3), 0.001, None)
            noisy = noisy / noisy.sum()
            rows += [(customer, name, float(s)) for name, s in zip("abc", noisy, strict=True)]
    return pl.DataFrame(rows, schema=["CustomerId", "SkuCluster", "Share"], orient="row")


def test_k_is_the_largest_stable_clustering() -> None:
    out = behaviour_clusters(three_taste_shares(), ScoringConfig())
    assert out["Behaviour"].n_unique() == 3
    labels = out.sort("CustomerId")["Behaviour"].to_list()
    assert [len(set(labels[i : i + 15])) for i in (0, 15, 30)] == [1, 1, 1]


def test_behaviour_does_not_depend_on_row_order() -> None:
    shares = three_taste_shares()
    a = behaviour_clusters(shares, ScoringConfig()).sort("CustomerId")
    b = behaviour_clusters(shares.sample(fraction=1.0, shuffle=True, seed=5), ScoringConfig())
    assert a.equals(b.sort("CustomerId"))


@pytest.mark.parametrize("clusters", [1, 2, 4])
def test_choose_k_is_the_largest_qualifying_k(clusters: int) -> None:
    """The top-down search returns what checking every k and keeping the largest that is both
    separated (silhouette) and stable returns."""
    rng = np.random.default_rng(clusters)
    centres = rng.uniform(0.0, 1.0, (clusters, 4))
    features = centres[np.arange(240) % clusters] + rng.normal(0.0, 0.05, (240, 4))
    config = ScoringConfig()
    qualifying = [
        k
        for k in range(2, config.behaviour_k_max + 1)
        if silhouette_score(
            features, labels := KMeans(k, n_init=4, random_state=config.seed).fit_predict(features)
        )
        >= config.behaviour_min_silhouette
        and len(set(labels.tolist())) > 1
        and stability(features, k, config.seed) >= config.behaviour_min_stability
    ]
    assert choose_k(features, config) == max(qualifying, default=1)
    if clusters > 1:
        assert choose_k(features, config) == clusters  # and it finds the planted structure
