"""Learned potential: what share of its purchases an outlet should give a SKU, learned from the
whole outlet x SKU matrix of its region (collaborative filtering).

A segment median mixes outlets with different tastes; outlets that *buy alike* predict each other
better. Per region the log revenue shares of the outlet x SKU cells the outlets buy are modelled
as outlet level + channel x SKU mean + a low-rank taste term whose SKU factors are the top
right singular vectors of the centred matrix (exact, from the SKU x SKU Gram matrix, up to
`EXACT_MAX_SKUS` SKUs; scikit-learn's randomized `TruncatedSVD`, seeded, beyond); unbought
cells are imputed by their prediction for a few rounds (`learned_impute_rounds`), then the
factors are fitted again:

* **Out of fold.** Outlets are split into `learned_folds` folds; the SKU factors used for a fold's
  outlets are fitted on the other folds only, so an outlet's sales never shape the factors that
  define its own expectation.
* **Folded in robustly.** A held-out outlet's taste (its factor loadings) is a weighted ridge fit
  to its own row (`numpy.linalg.solve`, batched over outlets), iteratively reweighted: a cell far
  *below* its prediction (more than `learned_gap_z` robust standard deviations of the SKU's
  residuals) is a suspected gap and gets (almost) no weight, so a gap neither pulls the outlet's
  loadings down nor defines its own expectation. Only low cells are down-weighted: a SKU sold
  well above expectation is evidence of taste, not of a gap.
* **Leave one cell out.** The prediction of cell (o, s) is the exact leave-one-out prediction of
  that weighted ridge fit (prediction - h e / (1 - h), h the cell's leverage): the outlet's own
  sales of s never enter the expectation of s.
* **Robust factors.** Before the SKU factors are used, the training outlets are folded in the same
  way and their suspected gaps replaced by their prediction; the factors are fitted again on that
  cleaned matrix, so planted or real gaps among the training outlets do not drag the factors down.

The output is `LearnedShare` per grid row: the SKU's expected revenue over the outlet's window
revenue (it can exceed 1 when the outlet lost a big SKU). With
`benchmark = "learned"` the indexation uses it instead of the segment median; the segment peers
(Peers, PeerLevel, CarryRate) are still computed and shown in the explanations.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl
from scipy.linalg import eigh
from sklearn.decomposition import TruncatedSVD
from threadpoolctl import threadpool_limits

from scoring.config import ScoringConfig

MAX_RATIO = 10.0  # expected revenue of one SKU at most this many times the outlet's total
MIN_WEIGHT = 1e-6  # weight of a suspected gap (not 0: keeps every system well posed)
ROBUST_ITERATIONS = 3


def fold_in(
    targets: np.ndarray,
    factors: np.ndarray,
    ridge: float,
    gap_z: float,
    observed: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Robust weighted-ridge loadings of each row of `targets` (n x m) on `factors` (k x m).

    Returns (leave-one-cell-out predictions n x m, weights n x m). Cells far below their
    prediction (residual < -gap_z x the SKU's robust residual scale) are down-weighted."""
    n, m = targets.shape
    k = factors.shape[0]
    base = np.ones((n, m)) if observed is None else observed.astype(np.float64)
    weights = base.copy()
    eye = ridge * np.eye(k)
    pred = np.zeros_like(targets)
    inverse = np.zeros((n, k, k))
    for iteration in range(ROBUST_ITERATIONS + 1):
        gram = np.einsum("nm,km,jm->nkj", weights, factors, factors, optimize=True) + eye
        rhs = (weights * targets) @ factors.T
        inverse = np.linalg.inv(gram)
        loadings = np.einsum("nkj,nj->nk", inverse, rhs)
        pred = loadings @ factors
        if iteration == ROBUST_ITERATIONS:
            break
        resid = targets - pred
        scale = 1.4826 * masked_median(np.abs(resid), base > 0) + 1e-9
        weights = base * np.where(resid < -gap_z * scale[None, :], MIN_WEIGHT, 1.0)
    leverage = weights * np.einsum("km,nkj,jm->nm", factors, inverse, factors, optimize=True)
    leverage = np.clip(leverage, 0.0, 0.99)
    loo = targets - (targets - pred) / (1.0 - leverage)
    return loo, weights


def masked_median(values: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Per-column median of the masked cells (the overall masked median for empty columns).

    Vectorised (one row-wise sort of the transposed cells, the masked-out ones pushed to the end
    as +inf): the same values as `np.nanmedian` per column, several times faster."""
    n, m = values.shape
    counts = mask.sum(axis=0)
    if not mask.any():
        return np.zeros(m)
    ordered = np.where(mask.T, values.T, np.inf)
    ordered.sort(axis=1)
    columns = np.arange(m)
    lo = ordered[columns, np.maximum((counts - 1) // 2, 0)]
    hi = ordered[columns, np.minimum(counts // 2, n - 1)]
    median = np.where(counts % 2 == 1, lo, (lo + hi) / 2)
    if counts.all():
        return median
    return np.where(counts > 0, median, float(np.median(values[mask])))


EXACT_MAX_SKUS = 600  # up to this many SKUs the factors come from the SKU x SKU Gram matrix


def fit_factors(matrix: np.ndarray, rank: int, seed: int) -> np.ndarray:
    """The top `rank` right singular vectors (k x m) of `matrix`.

    Up to `EXACT_MAX_SKUS` columns they are the top eigenvectors of the m x m Gram matrix
    (LAPACK's symmetric eigensolver through `scipy.linalg.eigh`): exact, and faster than
    scikit-learn's randomized `TruncatedSVD` (7 power iterations), whose subspace agrees with it
    to 1e-8 (one thread: 10 vs 29 ms at 3,600 x 300, 26 vs 35 ms at 3,400 x 500; even at
    3,400 x 700, slower beyond). Wider matrices use `TruncatedSVD`, seeded."""
    k = max(1, min(rank, matrix.shape[0] - 1, matrix.shape[1] - 1))
    if matrix.shape[0] < 2 or matrix.shape[1] < 2:
        return np.zeros((1, matrix.shape[1]))
    m = matrix.shape[1]
    if m <= EXACT_MAX_SKUS:
        _, vectors = eigh(matrix.T @ matrix, subset_by_index=[m - k, m - 1])
        return np.ascontiguousarray(vectors[:, ::-1].T)
    svd = TruncatedSVD(n_components=k, algorithm="randomized", n_iter=7, random_state=seed)
    svd.fit(matrix)
    return np.asarray(svd.components_)


def channel_means(matrix: np.ndarray, channel: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Per-channel SKU means (c x m) over the given rows (overall mean for an empty channel)."""
    overall = matrix[rows].mean(axis=0) if rows.any() else np.zeros(matrix.shape[1])
    means = np.tile(overall, (int(channel.max()) + 1, 1))
    for c in range(means.shape[0]):
        member = rows & (channel == c)
        if member.any():
            means[c] = matrix[member].mean(axis=0)
    return means


def predict_log(share: np.ndarray, channel: np.ndarray, config: ScoringConfig) -> np.ndarray:
    """Out-of-fold, robust, leave-one-cell-out log-share predictions for every cell, learned on
    the cells the outlets buy (log share = outlet level + channel x SKU mean + low-rank taste)."""
    n, m = share.shape
    observed = share > 0
    logs = np.log(np.where(observed, share, 1.0))
    folds = max(2, min(config.learned_folds, n))
    fold = np.random.default_rng(config.seed).permutation(n) % folds
    out = np.zeros_like(share)
    level = np.ones((1, m)) / np.sqrt(m)
    for f in range(folds):
        test = fold == f
        train = ~test
        if not train.any():
            continue
        obs_tr = observed[train]
        logs_tr = logs[train]
        channel_tr = channel[train]
        everyone = np.ones(len(channel_tr), dtype=bool)
        # start: unbought cells at their outlet's level plus the SKU's mean bought level
        row_mean = (logs_tr * obs_tr).sum(1) / np.maximum(obs_tr.sum(1), 1)
        relative = np.where(obs_tr, logs_tr - row_mean[:, None], 0.0)
        col_mean = relative.sum(0) / np.maximum(obs_tr.sum(0), 1)
        filled = np.where(obs_tr, logs_tr, row_mean[:, None] + col_mean[None, :])
        for _ in range(config.learned_impute_rounds):
            row_means = channel_means(filled, channel_tr, everyone)[channel_tr]
            centred = filled - row_means
            centred = centred - centred.mean(axis=1, keepdims=True)
            factors = np.vstack([level, fit_factors(centred, config.learned_rank, config.seed)])
            fitted, weights = fold_in(
                filled - row_means,
                factors,
                config.learned_ridge,
                config.learned_gap_z,
                obs_tr,
            )
            fitted = fitted + row_means
            # impute unobserved cells and suspected gaps by their prediction
            filled = np.where(weights < 1.0, np.maximum(fitted, logs_tr), logs_tr)
            filled = np.where(obs_tr, filled, fitted)
        means = channel_means(filled, channel_tr, everyone)
        loo, _ = fold_in(
            logs[test] - means[channel[test]],
            factors,
            config.learned_ridge,
            config.learned_gap_z,
            observed[test],
        )
        out[test] = loo + means[channel[test]]
    return out


@dataclass(frozen=True)
class LearnedShares:
    """The learned share of every outlet x SKU of a region's grid, fitted once on the whole
    outlet x SKU matrix of each area and read back for any rows (`of`), e.g. batch by batch.

    outlets: AreaId, CustomerId, _offset (where the outlet's row starts in `values`); items:
    AreaId, ItemId, _s (the SKU's column); values: every area's predicted matrix, flattened."""

    outlets: pl.DataFrame
    items: pl.DataFrame
    values: np.ndarray

    @classmethod
    def fit(
        cls,
        outlets: pl.DataFrame,
        items: pl.DataFrame,
        cells: pl.DataFrame,
        config: ScoringConfig,
    ) -> LearnedShares:
        """The model of the matrices of `outlets` (AreaId, CustomerId, Channel) x `items`
        (AreaId, ItemId: each area's SKUs) whose `cells` (AreaId, CustomerId, ItemId, Share)
        are given, every other cell 0."""
        outlet_maps, item_maps, values = [], [], []
        offset = 0
        areas = outlets.select("AreaId").unique().sort("AreaId", nulls_last=False)
        for (area,) in areas.iter_rows():
            in_area = pl.col("AreaId").eq_missing(area)
            area_outlets = outlets.filter(in_area).unique("CustomerId").sort("CustomerId")
            area_items = items.filter(in_area).select("ItemId").unique().sort("ItemId")
            if area_outlets.is_empty() or area_items.is_empty():
                continue
            predicted = _area_predictions(area_outlets, area_items, cells.filter(in_area), config)
            n, m = predicted.shape
            outlet_maps.append(
                area_outlets.select(
                    "AreaId",
                    "CustomerId",
                    _offset=pl.int_range(n, dtype=pl.Int64) * m + offset,
                )
            )
            item_maps.append(
                area_items.select(
                    pl.lit(area, dtype=outlets.schema["AreaId"]).alias("AreaId"),
                    "ItemId",
                    _s=pl.int_range(m, dtype=pl.Int64),
                )
            )
            values.append(predicted.ravel())
            offset += n * m
        no_outlets = outlets.head(0).select(
            "AreaId", "CustomerId", _offset=pl.lit(0, dtype=pl.Int64)
        )
        no_items = items.head(0).select("AreaId", "ItemId", _s=pl.lit(0, dtype=pl.Int64))
        return cls(
            pl.concat(outlet_maps) if outlet_maps else no_outlets,
            pl.concat(item_maps) if item_maps else no_items,
            np.concatenate(values) if values else np.zeros(0),
        )

    def of(self, rows: pl.DataFrame) -> pl.Series:
        """LearnedShare of each of `rows` (AreaId, CustomerId, ItemId), in their order."""
        at = (
            rows.select("AreaId", "CustomerId", "ItemId")
            .join(
                self.outlets,
                on=["AreaId", "CustomerId"],
                how="left",
                nulls_equal=True,
                maintain_order="left",
            )
            .join(
                self.items,
                on=["AreaId", "ItemId"],
                how="left",
                nulls_equal=True,
                maintain_order="left",
            )
            .select(pl.col("_offset") + pl.col("_s"))
            .to_series()
        )
        return pl.Series("LearnedShare", self.values[at.to_numpy()]).clip(0.0, MAX_RATIO)


def _area_predictions(
    outlets: pl.DataFrame, items: pl.DataFrame, cells: pl.DataFrame, config: ScoringConfig
) -> np.ndarray:
    """The predicted share matrix of one area: rows `outlets` (sorted by CustomerId, with
    Channel), columns `items` (sorted ItemId), from the bought `cells`."""
    n, m = outlets.height, items.height
    placed = (
        cells.select("CustomerId", "ItemId", "Share")
        .join(outlets.select("CustomerId").with_row_index("_o"), on="CustomerId", how="inner")
        .join(items.with_row_index("_s"), on="ItemId", how="inner")
        .select(
            pl.col("_o").cast(pl.Int64),
            pl.col("_s").cast(pl.Int64),
            _x=pl.col("Share").fill_null(0.0).clip(0.0, 1.0).sqrt(),
        )
    )
    matrix = np.zeros((n, m))
    matrix[placed["_o"].to_numpy(), placed["_s"].to_numpy()] = placed["_x"].to_numpy() ** 2
    channel = (outlets.get_column("Channel").rank("dense").cast(pl.Int64) - 1).to_numpy()
    if n < 3:
        return np.tile(matrix.mean(axis=0), (n, 1))
    with threadpool_limits(limits=1):
        return np.exp(predict_log(matrix, channel, config))


def learned_shares(grid: pl.DataFrame, config: ScoringConfig) -> pl.DataFrame:
    """The grid (CustomerId, ItemId, AreaId, Channel, Share, ...) with LearnedShare: the
    outlet's expected share of the SKU from the matrix of its area, out of fold."""
    if grid.is_empty():
        return grid.with_columns(LearnedShare=pl.lit(None, dtype=pl.Float64))
    model = LearnedShares.fit(
        grid.select("AreaId", "CustomerId", "Channel"),
        grid.select("AreaId", "ItemId"),
        grid.select("AreaId", "CustomerId", "ItemId", "Share"),
        config,
    )
    return grid.with_columns(model.of(grid))
