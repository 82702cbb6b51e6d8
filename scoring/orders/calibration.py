"""Probabilities calibrated on history: a small logistic model per line kind.

The proposal this module calibrates is made again `calibration_weeks` before the cut-off, with
data up to that earlier date only, and compared with each customer's first order after it
(still before the cut-off): that is the label. A logistic regression on standardised features
maps scores to the observed acceptance rate. With too few labelled lines (under
`MIN_CLASS` of either outcome) the caller's fallback probability is used instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

import numpy as np
import polars as pl
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

MIN_CLASS = 20


@dataclass(frozen=True)
class Calibrator:
    """A fitted model over `features` (None: not enough history, use the fallback)."""

    features: tuple[str, ...]
    model: Pipeline | None
    base_rate: float

    def predict(self, frame: pl.DataFrame, fallback: pl.Expr) -> pl.Series:
        """Probability per row of `frame`; `fallback` where there is no model."""
        if frame.height == 0:
            return pl.Series("Probability", [], dtype=pl.Float64)
        if self.model is None:
            probability = fallback.clip(0.0, 1.0).alias("Probability")
            return frame.with_columns(probability)["Probability"].cast(pl.Float64)
        x = frame.select(self.features).to_numpy().astype(np.float64)
        return pl.Series("Probability", self.model.predict_proba(x)[:, 1])


def fit(train: pl.DataFrame, features: Sequence[str], label: str = "Label") -> Calibrator:
    """A logistic calibration of `label` (bool) on `features`."""
    feats = tuple(features)
    y = train[label].cast(pl.Int8).to_numpy() if train.height else np.zeros(0, np.int8)
    base = float(y.mean()) if len(y) else 0.0
    if len(y) == 0 or min(int(y.sum()), int(len(y) - y.sum())) < MIN_CLASS:
        return Calibrator(feats, None, base)
    x = train.select(feats).to_numpy().astype(np.float64)
    model = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=1000))
    model.fit(x, y)
    return Calibrator(feats, model, base)


def next_orders(basket: pl.DataFrame, after: date, until: date) -> pl.DataFrame:
    """CustomerId, ItemId of every customer's first order in (after, until]."""
    window = basket.filter(pl.col("SaleDate").is_between(after, until, closed="right"))
    first = window.group_by("CustomerId").agg(FirstAfter=pl.col("SaleDate").min())
    return (
        window.join(first, on="CustomerId")
        .filter(pl.col("SaleDate") == pl.col("FirstAfter"))
        .select("CustomerId", "ItemId")
        .unique()
    )


def label(candidates: pl.DataFrame, actual: pl.DataFrame) -> pl.DataFrame:
    """Candidates of customers with a next order, with Label = the item was in it, sorted by
    customer and item: the logistic fit sums over the rows, so one row order (not the one a
    multi-threaded join happens to give) makes the same data give the same probabilities."""
    ordered = actual.select("CustomerId").unique()
    return (
        candidates.join(ordered, on="CustomerId", how="semi")
        .join(actual.with_columns(Label=pl.lit(True)), on=["CustomerId", "ItemId"], how="left")
        .with_columns(pl.col("Label").fill_null(False))
        .sort("CustomerId", "ItemId")
    )
