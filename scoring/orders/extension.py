"""Range extension: items a customer never bought that similar customers buy.

Vectorised with numpy / scipy sparse (40k customers x 300 SKUs is a 40k x 300 sparse matrix):

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
CHUNK = 5000


def _item_similarity(matrix: sparse.csr_matrix, neighbours: int) -> np.ndarray:
    """Dense items x items cosine similarity, diagonal 0, top `neighbours` per column kept."""
    counts = np.asarray(matrix.sum(axis=0)).ravel()
    norm = np.sqrt(np.maximum(counts, 1.0))
    co = (matrix.T @ matrix).toarray().astype(np.float64)
    sim = co / norm[:, None] / norm[None, :]
    np.fill_diagonal(sim, 0.0)
    if neighbours < sim.shape[0] - 1:
        cut = np.partition(sim, -neighbours, axis=0)[-neighbours, :]
        sim = np.where(sim >= cut[None, :], sim, 0.0)
    return sim


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
    item_ids = items["ItemId"].sort().to_numpy()
    cust_ids = customers["CustomerId"].sort().to_numpy()
    if window.height == 0 or len(item_ids) == 0 or len(cust_ids) == 0:
        return _empty()
    pairs = window.select("CustomerId", "ItemId").unique()
    pairs = pairs.filter(
        pl.col("ItemId").is_in(item_ids.tolist()) & pl.col("CustomerId").is_in(cust_ids.tolist())
    )
    rows = np.searchsorted(cust_ids, pairs["CustomerId"].to_numpy())
    cols = np.searchsorted(item_ids, pairs["ItemId"].to_numpy())
    shape = (len(cust_ids), len(item_ids))
    bought = sparse.csr_matrix((np.ones(len(rows), np.float32), (rows, cols)), shape=shape)
    ever = (
        basket.select("CustomerId", "ItemId")
        .unique()
        .filter(
            pl.col("ItemId").is_in(item_ids.tolist())
            & pl.col("CustomerId").is_in(cust_ids.tolist())
        )
    )
    ever_m = sparse.csr_matrix(
        (
            np.ones(ever.height, np.float32),
            (
                np.searchsorted(cust_ids, ever["CustomerId"].to_numpy()),
                np.searchsorted(item_ids, ever["ItemId"].to_numpy()),
            ),
        ),
        shape=shape,
    )
    sim = _item_similarity(bought, config.neighbours).astype(np.float32)
    basket_size = np.maximum(np.asarray(bought.sum(axis=1)).ravel(), 1.0)

    # Segment popularity: customers x items through a segment x items share table.
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

    weight = config.segment_weight
    out_rows, out_cols, out_aff, out_pop, out_anchor = [], [], [], [], []
    k = min(CANDIDATES_PER_CUSTOMER, len(item_ids))
    for lo in range(0, len(cust_ids), CHUNK):
        hi = min(lo + CHUNK, len(cust_ids))
        affinity = np.asarray(bought[lo:hi] @ sim) / basket_size[lo:hi, None]
        popularity = seg_share[seg_of[lo:hi]]
        score = (1.0 - weight) * affinity + weight * popularity
        score[ever_m[lo:hi].toarray() > 0] = -np.inf
        top = np.argpartition(-score, k - 1, axis=1)[:, :k]
        r = np.repeat(np.arange(lo, hi), k)
        c = top.ravel()
        ok = np.isfinite(score[r - lo, c]) & (score[r - lo, c] > 0)
        out_rows.append(r[ok])
        out_cols.append(c[ok])
        out_aff.append(affinity[r[ok] - lo, c[ok]])
        out_pop.append(popularity[r[ok] - lo, c[ok]])
        # The bought item closest to each candidate, for the reason.
        owned = bought[lo:hi].toarray()[r[ok] - lo] > 0  # candidates x items
        out_anchor.append(np.where(owned, sim[:, c[ok]].T, -1.0).argmax(axis=1))
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
