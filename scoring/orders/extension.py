"""Range extension: items a customer never bought that similar customers buy.

Vectorised with numpy / scipy sparse (40k customers x 300 SKUs is a 40k x 300 sparse matrix):

Only items bought by at least `extension_min_buyer_share` of the customers in the window take
part (as candidates and as similarity anchors).

* **item-item collaborative filtering**: cosine similarity between items' buyer vectors over
  the look-back window, each item keeping its `neighbours` most similar items; a customer's
  affinity for an item is the mean similarity to the items it buys;
* **segment popularity**: the share of customers of its segment (the scoring's segment, or
  the channel when unscored) that bought the item in the window;
* **season** (the item's season at the expected next order) and **trend** (buyers per week
  over the last `trend_weeks` against the whole window).

The top candidates per customer by (1 - segment_weight) x affinity + segment_weight x
popularity go to the calibration, which turns the four signals into a probability.
"""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import polars as pl
from scipy import sparse

from scoring.orders.config import OrderConfig
from scoring.orders.rhythm import season_at

FEATURES = ("Affinity", "Popularity", "LogSeason", "LogTrend")
CANDIDATES_PER_CUSTOMER = 10
CHUNK_CELLS = 40_000_000
"""Customers per chunk x candidate items x items stay under this (bounded memory)."""


def _item_similarity(matrix: sparse.csr_matrix, neighbours: int) -> np.ndarray:
    """Dense items x items cosine similarity (float32), diagonal 0, top `neighbours` per
    column kept (ties at the cut kept)."""
    counts = np.asarray(matrix.sum(axis=0)).ravel()
    inv = (1.0 / np.sqrt(np.maximum(counts, 1.0))).astype(np.float32)
    binary = sparse.csr_matrix(matrix, dtype=np.float32)
    # sparse x dense: nnz x items operations (a sparse x sparse product is far slower here).
    sim = np.asarray(binary.T @ binary.toarray(), dtype=np.float32)
    sim *= inv[:, None]
    sim *= inv[None, :]
    np.fill_diagonal(sim, 0.0)
    if neighbours < sim.shape[0] - 1:
        cut = np.partition(sim, -neighbours, axis=0)[-neighbours, :]
        sim[sim < cut[None, :]] = 0.0
    return sim


def top_k_cells(score: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(row, column) of each row's ``k`` highest scores, ties at the cut going to the lower
    columns: the same cells on every machine (``np.argpartition`` leaves ties to its selection
    algorithm, which numpy picks by CPU: AVX-512 machines chose other tied cells)."""
    kth = -np.partition(-score, k - 1, axis=1)[:, k - 1 : k]
    above = score > kth
    tied = score == kth
    wanted = k - above.sum(axis=1, keepdims=True)
    rows, columns = np.nonzero(above | (tied & (np.cumsum(tied, axis=1) <= wanted)))
    return rows, columns


def _pair_matrix(
    pairs: pl.DataFrame, cust_ids: np.ndarray, item_ids: np.ndarray
) -> sparse.csr_matrix:
    """Customers x items, 1 where `pairs` (CustomerId, ItemId, unique) has the pair."""
    return sparse.csr_matrix(
        (
            np.ones(pairs.height, np.float32),
            (
                np.searchsorted(cust_ids, pairs["CustomerId"].to_numpy()),
                np.searchsorted(item_ids, pairs["ItemId"].to_numpy()),
            ),
        ),
        shape=(len(cust_ids), len(item_ids)),
    )


def _segment_shares(
    customers: pl.DataFrame, bought: sparse.csr_matrix
) -> tuple[np.ndarray, np.ndarray]:
    """Each customer's segment index (customers sorted by id) and the segments x items share
    of customers who bought the item (segment popularity)."""
    segments = customers.sort("CustomerId")["Segment"].fill_null("unknown").to_numpy()
    seg_names, seg_of = np.unique(segments, return_inverse=True)
    seg_onehot = sparse.csr_matrix(
        (np.ones(len(seg_of), np.float32), (seg_of, np.arange(len(seg_of)))),
        shape=(len(seg_names), len(seg_of)),
    )
    seg_share = (
        np.asarray((seg_onehot @ bought).todense())
        / np.maximum(np.bincount(seg_of, minlength=len(seg_names)), 1)[:, None]
    )
    return seg_of, seg_share


def _anchors(owned: sparse.csr_matrix, similar: sparse.csr_matrix) -> np.ndarray:
    """For each candidate row, the bought item closest to it (`owned`: the customer's bought
    items; `similar`: the items similar to the candidate), for the reason; the first item it
    buys when none is similar."""
    closest = owned.multiply(similar).tocsr()
    closest.eliminate_zeros()
    anchor = np.asarray(closest.argmax(axis=1)).ravel()
    owned.sort_indices()
    at = np.minimum(owned.indptr[:-1], max(owned.nnz - 1, 0))
    first = np.where(owned.getnnz(axis=1) > 0, owned.indices[at] if owned.nnz else 0, 0)
    return np.where(closest.getnnz(axis=1) > 0, anchor, first)


def extension_candidates(
    basket: pl.DataFrame,
    customers: pl.DataFrame,
    items: pl.DataFrame,
    rhythm: pl.DataFrame,
    season: pl.DataFrame,
    as_of: date,
    config: OrderConfig,
) -> pl.DataFrame:
    """CustomerId, ItemId, the model FEATURES, Score, Reason for items the customer never
    bought (in `basket`, data up to as_of). `customers` needs CustomerId and Segment."""
    start = as_of - timedelta(days=7 * config.lookback_weeks - 1)
    recent_start = as_of - timedelta(days=7 * config.trend_weeks - 1)
    window = basket.filter(pl.col("SaleDate").is_between(start, as_of))
    cust_ids = customers["CustomerId"].sort().to_numpy()
    # Only items enough customers bought in the window are candidates and similarity anchors:
    # an item a handful of households bought is no range to extend into, and a dense
    # item-item matrix over a whole grocery catalogue (60k+ items) does not fit in memory.
    min_buyers = max(1.0, config.extension_min_buyer_share * len(cust_ids))
    item_ids = (
        window.join(items.select("ItemId"), on="ItemId", how="semi")
        .group_by("ItemId")
        .agg(Buyers=pl.col("CustomerId").n_unique())
        .filter(pl.col("Buyers") >= min_buyers)["ItemId"]
        .sort()
        .to_numpy()
    )
    if window.height == 0 or len(item_ids) == 0 or len(cust_ids) == 0:
        return _empty()
    pairs = window.select("CustomerId", "ItemId").unique()
    pairs = pairs.filter(
        pl.col("ItemId").is_in(item_ids.tolist()) & pl.col("CustomerId").is_in(cust_ids.tolist())
    )
    if pairs.height == 0:
        return _empty()
    bought = _pair_matrix(pairs, cust_ids, item_ids)
    ever = (
        basket.select("CustomerId", "ItemId")
        .unique()
        .filter(
            pl.col("ItemId").is_in(item_ids.tolist())
            & pl.col("CustomerId").is_in(cust_ids.tolist())
        )
    )
    ever_m = _pair_matrix(ever, cust_ids, item_ids)
    sim = sparse.csr_matrix(_item_similarity(bought, config.neighbours))
    sim_t = sim.T.tocsr()  # row c: the items similar to candidate c
    basket_size = np.maximum(np.asarray(bought.sum(axis=1)).ravel(), 1.0)
    seg_of, seg_share = _segment_shares(customers, bought)

    weight = config.segment_weight
    out_rows, out_cols, out_aff, out_pop, out_anchor = [], [], [], [], []
    k = min(CANDIDATES_PER_CUSTOMER, len(item_ids))
    chunk = max(1, min(5000, CHUNK_CELLS // (k * len(item_ids))))
    for lo in range(0, len(cust_ids), chunk):
        hi = min(lo + chunk, len(cust_ids))
        affinity = (bought[lo:hi] @ sim).toarray() / basket_size[lo:hi, None]
        popularity = seg_share[seg_of[lo:hi]]
        score = (1.0 - weight) * affinity + weight * popularity
        score[ever_m[lo:hi].toarray() > 0] = -np.inf
        rows, c = top_k_cells(score, k)
        r = rows + lo
        ok = np.isfinite(score[r - lo, c]) & (score[r - lo, c] > 0)
        out_rows.append(r[ok])
        out_cols.append(c[ok])
        out_aff.append(affinity[r[ok] - lo, c[ok]])
        out_pop.append(popularity[r[ok] - lo, c[ok]])
        out_anchor.append(_anchors(bought[r[ok]], sim_t[c[ok]]))
    r_all, c_all = np.concatenate(out_rows), np.concatenate(out_cols)
    anchor = np.concatenate(out_anchor)
    frame = pl.DataFrame(
        {
            "CustomerId": cust_ids[r_all],
            "ItemId": item_ids[c_all],
            "Affinity": np.concatenate(out_aff).astype(np.float64),
            "Popularity": np.concatenate(out_pop).astype(np.float64),
            "AnchorId": item_ids[anchor],
        }
    )
    trend = (
        window.group_by("ItemId")
        .agg(
            Recent=pl.col("CustomerId").filter(pl.col("SaleDate") >= recent_start).n_unique(),
            All=pl.col("CustomerId").n_unique(),
        )
        .with_columns(
            Trend=((pl.col("Recent") + 1.0) / config.trend_weeks)
            / ((pl.col("All") + 1.0) / config.lookback_weeks)
        )
        .select("ItemId", "Trend")
    )
    names = items.select("ItemId", "ItemName")
    frame = (
        frame.join(rhythm.select("CustomerId", "NextOrder"), on="CustomerId", how="left")
        .with_columns(pl.col("NextOrder").fill_null(as_of + timedelta(days=1)))
        .join(trend, on="ItemId", how="left")
        .join(names.rename({"ItemId": "AnchorId", "ItemName": "AnchorName"}), on="AnchorId")
    )
    frame = season_at(frame, season, "NextOrder").with_columns(
        pl.col("Trend").fill_null(1.0),
        Score=(1.0 - weight) * pl.col("Affinity") + weight * pl.col("Popularity"),
    )
    notes = pl.concat_str(
        [
            pl.when(pl.col("Trend") >= 1.2).then(pl.lit("; trending")).otherwise(pl.lit("")),
            pl.when(pl.col("Season") >= 1.2).then(pl.lit("; in season")).otherwise(pl.lit("")),
        ]
    )
    return frame.with_columns(
        LogSeason=pl.col("Season").log(),
        LogTrend=pl.col("Trend").log(),
        Reason=pl.concat_str(
            [
                pl.format(
                    "new: bought by {}% of similar outlets; goes with {} it buys",
                    (100 * pl.col("Popularity")).round(0).cast(pl.Int64),
                    pl.col("AnchorName"),
                ),
                notes,
            ]
        ),
    ).select("CustomerId", "ItemId", *FEATURES, "Score", "Reason")


def _empty() -> pl.DataFrame:
    return pl.DataFrame(
        schema={
            "CustomerId": pl.Int64,
            "ItemId": pl.Int64,
            **{name: pl.Float64 for name in FEATURES},
            "Score": pl.Float64,
            "Reason": pl.String,
        }
    )
