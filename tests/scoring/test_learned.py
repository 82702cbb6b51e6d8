"""The learned potential (scoring/learned.py): out of fold, robust to the outlet's own gap,
deterministic."""

import numpy as np
import polars as pl
import pytest

from scoring import learned
from scoring.config import ScoringConfig
from scoring.learned import learned_shares

CONFIG = ScoringConfig().with_overrides({"benchmark": "learned", "learned_rank": 3})
GAP_OUTLET, GAP_SKU = 0, 2


def natural_rates(n: int = 240, m: int = 30, seed: int = 1) -> np.ndarray:
    """Outlets of two tastes buying SKUs in proportion to taste appeal x lognormal noise."""
    rng = np.random.default_rng(seed)
    taste = np.arange(n) % 2
    appeal = rng.lognormal(0.0, 1.0, (2, m))
    volume = rng.lognormal(np.log(100.0), 0.5, n)
    pref = appeal[taste] * rng.lognormal(0.0, 0.2, (n, m))
    return volume[:, None] * pref / pref.sum(axis=1, keepdims=True)


def grid(rates: np.ndarray) -> pl.DataFrame:
    """The benchmark grid columns the learned model reads (one region, one channel)."""
    n, m = rates.shape
    total = rates.sum(axis=1)
    o, s = np.meshgrid(np.arange(n), np.arange(m), indexing="ij")
    return pl.DataFrame(
        {
            "CustomerId": 1000 + o.ravel(),
            "ItemId": 3000 + s.ravel(),
            "AreaId": 1,
            "Channel": "ON_TRADE",
            "Revenue": rates.ravel(),
            "Total": np.repeat(total, m),
            "Share": (rates / total[:, None]).ravel(),
        }
    )


def expected_revenue(frame: pl.DataFrame, outlet: int, sku: int) -> float:
    row = frame.filter((pl.col("CustomerId") == 1000 + outlet) & (pl.col("ItemId") == 3000 + sku))
    return float(row["LearnedShare"][0] * row["Total"][0])


def test_learned_share_predicts_the_natural_rate() -> None:
    rates = natural_rates()
    out = learned_shares(grid(rates), CONFIG)
    predicted = out["LearnedShare"].to_numpy() * out["Total"].to_numpy()
    ratio = np.log(predicted / rates.ravel())
    assert abs(np.median(ratio)) < 0.1
    assert np.median(np.abs(ratio)) < 0.25  # noise sigma .2: close to the best possible


def test_an_outlets_own_gap_does_not_pull_its_expectation_down() -> None:
    rates = natural_rates()
    natural = expected_revenue(learned_shares(grid(rates), CONFIG), GAP_OUTLET, GAP_SKU)
    gapped_rates = rates.copy()
    gapped_rates[GAP_OUTLET, GAP_SKU] *= 0.05  # a planted gap: 5% of the natural rate
    gapped = learned_shares(grid(gapped_rates), CONFIG)
    expected = expected_revenue(gapped, GAP_OUTLET, GAP_SKU)
    # the expectation is learned from the outlet's other purchases and other outlets' factors
    assert expected == pytest.approx(natural, rel=0.05)
    assert expected == pytest.approx(rates[GAP_OUTLET, GAP_SKU], rel=0.35)
    # so the gap stays visible: actual is far below expected
    assert gapped_rates[GAP_OUTLET, GAP_SKU] / expected < 0.1


def test_a_lost_listing_keeps_its_expectation() -> None:
    rates = natural_rates()
    natural = expected_revenue(learned_shares(grid(rates), CONFIG), GAP_OUTLET, GAP_SKU)
    lost = rates.copy()
    lost[GAP_OUTLET, GAP_SKU] = 0.0  # no sales at all
    expected = expected_revenue(learned_shares(grid(lost), CONFIG), GAP_OUTLET, GAP_SKU)
    assert expected == pytest.approx(natural, rel=0.05)


def test_peers_gaps_do_not_drag_the_fit_down() -> None:
    rates = natural_rates()
    clean = expected_revenue(learned_shares(grid(rates), CONFIG), GAP_OUTLET, GAP_SKU)
    gapped = rates.copy()
    same_taste = np.arange(2, rates.shape[0], 2)[:20]  # 20 peers of the same taste lose it
    gapped[same_taste, GAP_SKU] = 0.0
    expected = expected_revenue(learned_shares(grid(gapped), CONFIG), GAP_OUTLET, GAP_SKU)
    assert expected == pytest.approx(clean, rel=0.15)


def test_deterministic_and_independent_of_row_order() -> None:
    frame = grid(natural_rates())
    first = learned_shares(frame, CONFIG).sort("CustomerId", "ItemId")
    again = learned_shares(frame, CONFIG).sort("CustomerId", "ItemId")
    shuffled = learned_shares(frame.sample(fraction=1.0, shuffle=True, seed=5), CONFIG)
    assert first["LearnedShare"].to_list() == again["LearnedShare"].to_list()
    assert (
        first["LearnedShare"].to_list()
        == shuffled.sort("CustomerId", "ItemId")["LearnedShare"].to_list()
    )
    other_seed = learned_shares(frame, CONFIG.with_overrides({"seed": 1}))
    assert other_seed.height == first.height


@pytest.mark.parametrize("exact_max_skus", [600, 10], ids=["gram-eigh", "randomized-svd"])
def test_factors_span_the_top_singular_subspace(
    exact_max_skus: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both ways of fitting the SKU factors (exact through the Gram matrix, randomized SVD for
    wide matrices) give orthonormal rows spanning the matrix's top right singular subspace."""
    monkeypatch.setattr(learned, "EXACT_MAX_SKUS", exact_max_skus)
    rng = np.random.default_rng(4)
    signal = rng.standard_normal((300, 3)) @ (rng.standard_normal((3, 40)) * [[9.0], [6.0], [4.0]])
    matrix = signal + 0.1 * rng.standard_normal((300, 40))
    factors = learned.fit_factors(matrix, rank=3, seed=7)
    assert factors.shape == (3, 40)
    np.testing.assert_allclose(factors @ factors.T, np.eye(3), atol=1e-9)
    top = np.linalg.svd(matrix, full_matrices=False)[2][:3]
    cosines = np.linalg.svd(top @ factors.T, compute_uv=False)  # principal angles
    np.testing.assert_allclose(cosines, 1.0, atol=1e-6)


def test_the_model_fitted_on_the_bought_cells_reads_back_any_rows_as_on_the_whole_grid() -> None:
    """The scoring fits the model once on the sparse cells and reads it batch by batch: the
    same shares, bit for bit, as the whole grid's."""
    rates = natural_rates(n=60, m=12)
    unbought = np.random.default_rng(4).random(rates.shape) < 0.3
    unbought[:, 0] = False  # every outlet buys something
    rates[unbought] = 0.0
    frame = grid(rates)
    whole = learned_shares(frame, CONFIG)
    model = learned.LearnedShares.fit(
        frame.select("AreaId", "CustomerId", "Channel"),
        frame.select("AreaId", "ItemId"),
        frame.filter(pl.col("Share") > 0).select("AreaId", "CustomerId", "ItemId", "Share"),
        CONFIG,
    )
    some = frame.filter(pl.col("ItemId").is_in([3001, 3007]))
    assert model.of(some).equals(whole.filter(pl.col("ItemId").is_in([3001, 3007]))["LearnedShare"])
