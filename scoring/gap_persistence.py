"""Gap persistence: which flagged gaps are real, learned from what this region's past gaps did.

A gap flagged today is either real (the outlet does not sell the SKU as its peers do, and will
not without a push) or a dip that would come back by itself (lumpy orders, a delivery missed).
Only a real gap is worth a visit. The region's own history says which kinds of gap last, the
way `visitrank backtest` measures it, without looking past the week:

* **Examples.** At `persistence_cutoffs` past cut-off dates T (every `persistence_horizon_weeks`
  back from the day after the last sales day, as far as a whole look-back before T is in the
  data and the visit log has begun), every outlet x SKU is indexed on its sales before T only,
  with the same noise discount and thresholds as the scoring, and the pairs it would have
  flagged are the examples. The expectation is the peers' (PeerRatio, from today's scoring):
  no sale of the pair after T enters it (the segment median is leave-one-out; the learned share
  keeps a small trace of the pair's own level through its outlet loading, see docs/method.md),
  but the peers' shares and carry rates, and the grid itself (today's active outlets and SKUs),
  come from today's window, which for the nearer cut-offs overlaps the weeks after T. The
  outlet's own prior share, the recent season factor and a "bought before the window"
  credibility are left out, as they could carry the pair's own sales after T. Outcome:
  Recovery, the pair's weekly revenue over the horizon after T over its expectation (at most 1).
  Only outlets not visited in that horizon are learned from: a visit can close a gap, and what
  is learned here is whether it closes *without* one.
* **Model.** A gradient-boosting classifier (scikit-learn `HistGradientBoostingClassifier`,
  seeded, single-threaded) of "persisted" (Recovery under `persistence_recovery_max`) on the
  gap's features (`FEATURES`). Each of today's opportunities gets PersistProbability, and its
  expected gain is gap x that probability: the SKUs to push are ranked by it and the visit's
  priority sums it.
* **Signal or not.** The model's skill is measured out of fold (outlets split in
  `persistence_folds`, each predicted by a model that never saw it): the log-loss it saves per
  example against the training folds' base rate, with a 95% interval over outlets. Only an
  interval above 0 is a signal; without one no gap is weighted (the expected gain is the gap)
  and the result says why. Fewer than `persistence_min_examples` examples (a quarter of them
  of each kind), or examples from fewer than `MIN_OUTLETS` outlets, is no signal either.
  Today's probabilities are the mean of the fold models' (together they have seen every
  example; no final fit is needed). An opportunity that the peer expectation alone does not flag
  today (the scoring flagged it on the outlet's own history or the season) gets the probability
  of the nearest examples the models learned from, mostly lower: measured, that beats giving
  it the base rate (docs/method.md).

Why not the probability that a *visit* converts the gap (the uplift of visiting)? It was tried
(bench/conversion_study.py): with visits and sales only, visits close the gaps they meet, so the
gaps still open at often-visited outlets are mostly not the convertible ones, and who is visited
depends on the outlet. On generated data with planted conversions the effect is found in 2 of
10 regions at best, and which pairs convert not at all. It needs to know which SKUs were
pitched at a visit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import polars as pl
from sklearn.ensemble import HistGradientBoostingClassifier
from threadpoolctl import threadpool_limits

from scoring.config import ScoringConfig
from scoring.exact import SCALE
from scoring.indexation import window_gap
from scoring.visit_cadence import cadence_words

Z_95 = 1.96
MIN_OUTLETS = 20  # outlets behind the examples: the skill's interval is over outlets
EPOCH = date(1970, 1, 1)
FEATURES = (
    "GapShare",
    "IndexLong",
    "IndexRecent",
    "CarryRate",
    "NeverBought",
    "LogPrice",
    "LogOutletRevenue",
    "ChannelCode",
)
PAIR_COLUMNS = ("CustomerId", "ItemId", "PeerRatio", "CarryRate", "UnitPrice")
NO_PROBABILITY_SCHEMA = {
    "CustomerId": pl.Int64,
    "ItemId": pl.Int64,
    "PersistProbability": pl.Float64,
}


@dataclass(frozen=True)
class Persistence:
    """The model's out-of-fold skill and each opportunity's PersistProbability.

    probabilities: CustomerId, ItemId, PersistProbability (empty without a signal).
    skill: log-loss saved per example against the base rate (out of fold), with its 95%
    interval over outlets; examples: unvisited flagged gaps learned from; persisted: how many
    of them did not recover."""

    signal: bool
    skill: float
    ci_low: float
    ci_high: float
    examples: int
    persisted: int
    reason: str
    probabilities: pl.DataFrame

    def summary(self) -> dict[str, object]:
        """A small JSON-able description for the run summary."""
        return {
            "signal": self.signal,
            "skill": round(self.skill, 4),
            "ci95": [round(self.ci_low, 4), round(self.ci_high, 4)],
            "examples": self.examples,
            "persisted": self.persisted,
            "reason": self.reason,
        }


class PairSales:
    """The region's sales lines indexed by grid pair, so that the revenue of a pair over any
    date range is one weighted count (no join per cut-off). Amounts are held in fixed point
    (1e-4, whole numbers in float64), so every sum is exact and independent of the lines' order.

    Only the pairs that can ever be flagged are kept (`pairs`, in grid order, with `_pair`, the
    row in `pairs`): a gap is at most the expectation of its window, (total - revenue) x
    PeerRatio, times its credibility, so a pair whose PeerRatio x (1 if it was ever bought, else
    its carry credibility) is under `min_sku_outlet_share` never reaches that share of its
    outlet's revenue. `keep` (CustomerId, ItemId) are kept whatever their bound. The outlet
    totals still count every pair of the grid.

    `grid`: every pair of the region's grid (`PAIR_COLUMNS`), one row each; lines of a pair
    outside it are not counted."""

    def __init__(
        self,
        grid: pl.DataFrame,
        lines: pl.DataFrame,
        config: ScoringConfig,
        keep: pl.DataFrame | None = None,
    ) -> None:
        grid = grid.select(PAIR_COLUMNS).with_row_index("_pair")
        self._index = _PairIndex(grid)
        line_pair = self._index.rows(lines)
        found = line_pair >= 0
        # the lines in day order, so that a date range is a slice
        day = lines["SaleDate"].cast(pl.Int32).to_numpy()[found]
        by_day = np.argsort(day, kind="stable")
        self._day = day[by_day]
        pair = line_pair[found][by_day]
        self._amount = np.round(lines["Amount"].fill_null(0.0).to_numpy()[found][by_day] * SCALE)
        self.first_sale: date | None = (
            EPOCH + timedelta(days=int(self._day[0])) if self._day.size else None
        )
        outlet = self._index.outlet
        self._outlets = int(outlet.max()) + 1 if outlet.size else 0
        self._line_outlet = outlet[pair]
        # a net return can make a pair's window negative: then the totals are of clipped pairs
        self._grid_pair = pair if (self._amount < 0).any() else None

        ratio = grid["PeerRatio"].fill_null(np.nan).to_numpy()
        carry = grid["CarryRate"].fill_null(0.0).to_numpy() ** config.carry_rate_power
        bought = np.bincount(pair, minlength=grid.height) > 0
        bound = np.where(bought, 1.0, carry)
        bound *= ratio
        kept = (bound >= config.min_sku_outlet_share) & np.isfinite(bound)
        if keep is not None:
            wanted = self._index.rows(keep)
            kept[wanted[wanted >= 0]] = True
        self._kept = np.flatnonzero(kept)
        self.pairs = grid[self._kept].drop("_pair").with_row_index("_pair")
        self.ratio, self.carry_credibility = ratio[self._kept], carry[self._kept]
        self._outlet = outlet[self._kept]
        position = np.full(grid.height, -1, dtype=np.int64)
        position[self._kept] = np.arange(len(self._kept))
        sub = position[pair]
        self._sub_lines = np.flatnonzero(sub >= 0)  # day-ordered lines of kept pairs
        self._sub_pair, self._sub_day = sub[self._sub_lines], self._day[self._sub_lines]
        self._sub_amount = self._amount[self._sub_lines]
        self._position = position

    def revenue(self, start: date, end: date) -> tuple[np.ndarray, np.ndarray]:
        """Per kept pair (in `pairs` order): the revenue over [start, end), at least 0 (returns
        never make a negative sale, as in the scoring grid), and its outlet's total of them."""
        days = [(start - EPOCH).days, (end - EPOCH).days]
        first, last = np.searchsorted(self._sub_day, days)
        inside = slice(int(first), int(last))
        pair = np.bincount(
            self._sub_pair[inside], self._sub_amount[inside], minlength=len(self._kept)
        )
        first, last = np.searchsorted(self._day, days)
        every = slice(int(first), int(last))
        if self._grid_pair is not None:  # clip every pair of the grid, then total them
            grid_pair = np.maximum(
                np.bincount(
                    self._grid_pair[every], self._amount[every], minlength=len(self._position)
                ),
                0.0,
            )
            outlet = np.bincount(self._index.outlet, grid_pair, minlength=self._outlets)
            pair = np.maximum(pair, 0.0)
        else:
            outlet = np.bincount(
                self._line_outlet[every], self._amount[every], minlength=self._outlets
            )
        return pair / SCALE, outlet[self._outlet] / SCALE

    def rows(self, keys: pl.DataFrame) -> np.ndarray:
        """The rows in `pairs` of `keys` (CustomerId, ItemId), in their order; keys not kept
        are left out."""
        grid_rows = self._index.rows(keys)
        rows = self._position[grid_rows[grid_rows >= 0]]
        return rows[rows >= 0]


class _IdRanks:
    """The rank of an id among a set of integer ids: a lookup table over the ids' range when it
    is compact (a gather per id), else a binary search; -1 for an id not in the set."""

    def __init__(self, ids: pl.Series) -> None:
        self._sorted = ids.unique().sort().to_numpy().astype(np.int64)
        self._table: np.ndarray | None = None
        if len(self._sorted):
            self._low = int(self._sorted[0])
            span = int(self._sorted[-1]) - self._low + 1
            if span <= 4 * len(self._sorted) + 1_000_000:
                self._table = np.full(span, -1, dtype=np.int64)
                self._table[self._sorted - self._low] = np.arange(len(self._sorted))

    def __len__(self) -> int:
        return len(self._sorted)

    def ranks(self, ids: np.ndarray) -> np.ndarray:
        """The rank of each id, -1 where it is not in the set."""
        out = np.full(len(ids), -1, dtype=np.int64)
        if not len(self._sorted):
            return out
        if self._table is not None:
            offset = ids.astype(np.int64, copy=False) - self._low
            inside = (offset >= 0) & (offset < len(self._table))
            if inside.all():  # the usual case, without the copies of a masked gather
                return self._table[offset]
            out[inside] = self._table[offset[inside]]
            return out
        at = np.minimum(np.searchsorted(self._sorted, ids), len(self._sorted) - 1)
        return np.where(self._sorted[at] == ids, at, -1)


class _PairIndex:
    """The grid row of a (CustomerId, ItemId): the ids' ranks among the grid's, then a dense
    table of outlets x items when that is not much bigger than the grid (the usual dense grid),
    else a binary search of the packed ranks. Exact for any ids, never overflows."""

    def __init__(self, grid: pl.DataFrame) -> None:
        self.customers = _IdRanks(grid["CustomerId"])
        self.items = _IdRanks(grid["ItemId"])
        self.outlet = self.customers.ranks(grid["CustomerId"].to_numpy())
        keys = self._keys(grid, self.outlet)
        size = len(self.customers) * len(self.items)
        self._table: np.ndarray | None = None
        if size <= 2 * grid.height + 1_000_000:
            self._table = np.full(size, -1, dtype=np.int64)
            self._table[keys] = np.arange(grid.height)
        else:
            self._order = np.argsort(keys, kind="stable")
            self._sorted = keys[self._order]

    def _keys(self, frame: pl.DataFrame, outlets: np.ndarray | None = None) -> np.ndarray:
        """Packed ranks, -1 where an id is not in the grid (`outlets`: the customers' ranks,
        when known). In place: a grid's keys are the size of the grid."""
        c = self.customers.ranks(frame["CustomerId"].to_numpy()) if outlets is None else outlets
        i = self.items.ranks(frame["ItemId"].to_numpy())
        unknown = (c < 0) | (i < 0)
        keys = c * len(self.items)
        keys += i
        keys[unknown] = -1
        return keys

    def rows(self, frame: pl.DataFrame) -> np.ndarray:
        """The grid row of each row of `frame`, -1 where the pair is not in the grid."""
        keys = self._keys(frame)
        rows = np.full(len(keys), -1, dtype=np.int64)
        known = keys >= 0
        if self._table is not None:
            rows[known] = self._table[keys[known]]
        elif len(self._sorted):
            at = np.minimum(np.searchsorted(self._sorted, keys[known]), len(self._sorted) - 1)
            rows[known] = np.where(self._sorted[at] == keys[known], self._order[at], -1)
        return rows


def cutoff_features(
    sales: PairSales,
    channels: pl.DataFrame,
    cutoff: date,
    config: ScoringConfig,
    only: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """The pairs that the sales before `cutoff` flag as opportunities, with their features
    (`FEATURES`), Expected (the expected weekly revenue over the look-back) and _pair
    (the row in `sales.pairs`); with `only` (CustomerId, ItemId), those pairs instead, flagged
    or not.
    Reads no sale on or after `cutoff`.

    `channels`: CustomerId, Channel of every outlet."""
    long_weeks = float(config.lookback_weeks)
    recent_weeks = float(config.recent_weeks or config.lookback_weeks)
    long_revenue, long_total = sales.revenue(
        cutoff - timedelta(weeks=config.lookback_weeks), cutoff
    )
    # a SKU bought in the look-back is a known listing, fully credible (the scoring also counts
    # purchases before its window, which here could come after the cut-off)
    credibility = np.where(long_revenue > 0, 1.0, sales.carry_credibility)
    recent_revenue, recent_total = sales.revenue(
        cutoff - timedelta(weeks=int(recent_weeks)), cutoff
    )
    if only is not None:
        rows = sales.rows(only)
    else:
        # a gap is at most the expectation, (total - revenue) x ratio, times its credibility:
        # the pairs that cannot reach the thresholds in either window are left out at once
        # (an outlet with no sales in the look-back is not active: it has no gap)
        weekly_long, weekly_recent = long_total / long_weeks, recent_total / recent_weeks
        most = np.maximum(weekly_long, weekly_recent) * sales.ratio * credibility
        rows = np.flatnonzero(
            (np.maximum(long_total, recent_total) > 0)
            & (most >= config.min_sku_gap_value)
            & (most >= config.min_sku_outlet_share * np.minimum(weekly_long, weekly_recent))
        )
    frame = sales.pairs[rows].with_columns(
        LongRevenue=long_revenue[rows],
        RecentRevenue=recent_revenue[rows],
        LongTotal=long_total[rows],
        RecentTotal=recent_total[rows],
        Credibility=credibility[rows],
        _ratio=pl.col("PeerRatio"),
    )
    long_actual, long_expected, long_gap = window_gap(
        "LongRevenue", "LongTotal", long_weeks, config
    )
    recent_actual, recent_expected, recent_gap = window_gap(
        "RecentRevenue", "RecentTotal", recent_weeks, config, noise_z=config.recent_noise_z
    )
    recent_wins = recent_gap > long_gap
    gaps = frame.lazy().with_columns(
        Gap=pl.max_horizontal(long_gap, recent_gap) * pl.col("Credibility"),
        Index=pl.when(recent_wins)
        .then(100.0 * recent_actual / recent_expected)
        .otherwise(100.0 * long_actual / long_expected),
        IndexLong=long_actual / long_expected,
        IndexRecent=recent_actual / recent_expected,
        OutletWeekly=pl.when(recent_wins)
        .then(pl.col("RecentTotal") / recent_weeks)
        .otherwise(pl.col("LongTotal") / long_weeks),
        Expected=long_expected,
    )
    keys = ["CustomerId", "ItemId"]
    flag = (
        pl.col("Gap").is_finite()
        & (pl.col("Index") <= config.opportunity_index_max)
        & (pl.col("Gap") >= config.min_sku_gap_value)
        & (pl.col("Gap") >= config.min_sku_outlet_share * pl.col("OutletWeekly"))
    ).fill_null(False)
    if only is None:
        gaps = gaps.filter(flag)
    codes = channels.select(
        "CustomerId", ChannelCode=pl.col("Channel").fill_null("").rank("dense").cast(pl.Float64)
    )
    ratio = [
        pl.col(name).fill_nan(None).fill_null(0.0).clip(0.0, 3.0)
        for name in ("IndexLong", "IndexRecent")
    ]
    return (
        gaps.join(codes.lazy(), on="CustomerId", how="left")
        .select(
            "CustomerId",
            "ItemId",
            "_pair",
            "Expected",
            GapShare=(pl.col("Gap") / pl.col("OutletWeekly")).log1p(),
            IndexLong=ratio[0],
            IndexRecent=ratio[1],
            CarryRate=pl.col("CarryRate").fill_null(0.0),
            NeverBought=(pl.col("LongRevenue") <= 0).cast(pl.Float64),
            LogPrice=pl.col("UnitPrice").fill_null(0.0).log1p(),
            LogOutletRevenue=pl.col("OutletWeekly").log1p(),
            ChannelCode=pl.col("ChannelCode").fill_null(0.0),
        )
        .sort(keys)
        .collect()
    )


def past_cutoffs(first: date | None, now: date, config: ScoringConfig) -> list[date]:
    """The cut-offs learned from: every `persistence_horizon_weeks` back from `now` (the day
    after the last sales day scored), up to `persistence_cutoffs`, while the whole look-back
    before the cut-off is in the data, which begin on `first` (a partial window would show
    every pair as a gap)."""
    if first is None:
        return []
    horizon = timedelta(weeks=config.persistence_horizon_weeks)
    lookback = timedelta(weeks=config.lookback_weeks)
    cutoffs = [now - horizon * k for k in range(1, config.persistence_cutoffs + 1)]
    return [cutoff for cutoff in cutoffs if cutoff - lookback >= first]


def training_examples(
    sales: PairSales,
    visits: pl.DataFrame,
    channels: pl.DataFrame,
    now: date,
    config: ScoringConfig,
) -> pl.DataFrame:
    """The flagged pairs of every past cut-off (`past_cutoffs`) at outlets with no visit in the
    horizon after it, with Recovery (the horizon's weekly revenue over Expected, at most 1) and
    Cutoff. Reads no sale on or after `now`. A cut-off before the first logged visit is skipped
    (a visit log that starts later would make every outlet look unvisited)."""
    weeks = config.persistence_horizon_weeks
    logged_from = visits["VisitDate"].min()
    frames = []
    for cutoff in past_cutoffs(sales.first_sale, now, config):
        if not isinstance(logged_from, date) or cutoff < logged_from:
            continue  # before the visit log begins, "not visited" is not known
        end = cutoff + timedelta(weeks=weeks)
        visited = visits.filter(pl.col("VisitDate").is_between(cutoff, end, closed="left"))
        flagged = cutoff_features(sales, channels, cutoff, config).join(
            visited.select("CustomerId"), on="CustomerId", how="anti", maintain_order="left"
        )
        after = sales.revenue(cutoff, end)[0][flagged["_pair"].to_numpy()]
        frames.append(
            flagged.with_columns(
                Recovery=(pl.Series(after) / weeks / pl.col("Expected")).clip(0.0, 1.0),
                Cutoff=pl.lit(cutoff),
            )
            .drop("_pair")
            .filter(pl.col("Recovery").is_finite())
        )
    return pl.concat(frames) if frames else pl.DataFrame()


def outlet_folds(customers: pl.Series, folds: int) -> np.ndarray:
    """A fold per row, the same for all rows of an outlet: the outlet's rank, hashed (balanced
    and deterministic whatever the ids)."""
    rank = np.unique(customers.to_numpy(), return_inverse=True)[1].astype(np.uint64)
    return ((rank * np.uint64(2654435761)) % np.uint64(2**32) % np.uint64(folds)).astype(np.int64)


def _fit(examples: pl.DataFrame, config: ScoringConfig) -> HistGradientBoostingClassifier:
    """The persistence model of `examples` (features -> Recovery under the threshold)."""
    model = HistGradientBoostingClassifier(
        max_iter=config.persistence_trees,
        learning_rate=0.1,
        max_leaf_nodes=15,
        min_samples_leaf=40,
        l2_regularization=1.0,
        categorical_features=[FEATURES.index("ChannelCode")],
        random_state=config.seed,
    )
    with threadpool_limits(limits=1, user_api="openmp"):
        model.fit(examples.select(FEATURES).to_numpy(), _persisted(examples, config))
    return model


def _persisted(examples: pl.DataFrame, config: ScoringConfig) -> np.ndarray:
    return (examples["Recovery"] < config.persistence_recovery_max).to_numpy()


def _predict(model: HistGradientBoostingClassifier, frame: pl.DataFrame) -> np.ndarray:
    """P(persisted) per row of `frame` (0 or 1 when the model saw a single class)."""
    with threadpool_limits(limits=1, user_api="openmp"):
        p = model.predict_proba(frame.select(FEATURES).to_numpy())
    classes = list(model.classes_)
    return p[:, classes.index(True)] if True in classes else np.zeros(frame.height)


def _log_loss(p: np.ndarray, y: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return -(y * np.log(p) + (1 - y) * np.log(1 - p))


def out_of_fold_skill(
    examples: pl.DataFrame, config: ScoringConfig
) -> tuple[float, float, float, list[HistGradientBoostingClassifier]]:
    """(skill, 95% low, 95% high, the fold models): the log-loss per example the models save
    out of fold against the training folds' base rate; the interval is over outlets (an
    outlet's examples are not independent)."""
    y = _persisted(examples, config)
    fold = outlet_folds(examples["CustomerId"], config.persistence_folds)
    saved = np.zeros(examples.height)
    models = []
    for k in range(config.persistence_folds):
        held = fold == k
        train = examples.filter(pl.Series(~held))
        if not held.any() or train.is_empty():
            continue
        test = examples.filter(pl.Series(held))
        base = np.full(test.height, _persisted(train, config).mean())
        models.append(_fit(train, config))
        saved[held] = _log_loss(base, y[held]) - _log_loss(_predict(models[-1], test), y[held])
    per_outlet = (
        pl.DataFrame({"CustomerId": examples["CustomerId"], "Saved": saved})
        .group_by("CustomerId")
        .agg(pl.col("Saved").sum(), Examples=pl.len())
    )
    n = per_outlet.height
    if n < 2:
        return 0.0, 0.0, 0.0, models
    # a ratio estimate over outlets: total saved over total examples, with its delta-method SE
    total, count = per_outlet["Saved"].to_numpy(), per_outlet["Examples"].to_numpy()
    skill = float(total.sum() / count.sum())
    residual = (total - skill * count) / count.mean()
    half = Z_95 * float(np.sqrt(residual.var(ddof=1) / n))
    return skill, skill - half, skill + half, models


def gap_persistence(
    pairs: pl.DataFrame,
    candidates: pl.DataFrame,
    lines: pl.DataFrame,
    visits: pl.DataFrame | None,
    channels: pl.DataFrame,
    now: date,
    config: ScoringConfig,
) -> Persistence:
    """The persistence model of this region's history and, with a signal, the PersistProbability
    of every candidate pair (CustomerId, ItemId: this week's opportunities; see module doc).

    `pairs`: the whole grid (`PAIR_COLUMNS`); `lines`, `visits`: the region's history; `now`:
    the day after the last sales day scored (no sale from it on is read). Without a visit
    history (None, or no visit logged at all) nothing says which outlets went unvisited, and
    nothing is learned."""
    none = pl.DataFrame(schema=NO_PROBABILITY_SCHEMA)
    if visits is None or visits.is_empty():
        reason = "no visit history: gaps are not weighted"
        return Persistence(False, 0.0, 0.0, 0.0, 0, 0, reason, none)
    sales = PairSales(pairs, lines, config, keep=candidates)
    examples = training_examples(sales, visits, channels, now, config)
    n = examples.height
    persisted = int(_persisted(examples, config).sum()) if n else 0
    outlets = examples["CustomerId"].n_unique() if n else 0
    if (
        min(persisted, n - persisted) < config.persistence_min_examples // 4
        or n < config.persistence_min_examples
        or outlets < MIN_OUTLETS
    ):
        reason = (
            f"too few past gaps to learn from ({n} flagged at {outlets} unvisited outlets, "
            f"{persisted} persisted; {config.persistence_min_examples} gaps needed, a quarter "
            f"of them of each kind, at {MIN_OUTLETS} outlets; "
            f"{cadence_words(visits, 7 * config.persistence_horizon_weeks)}): gaps are not "
            "weighted"
        )
        return Persistence(False, 0.0, 0.0, 0.0, n, persisted, reason, none)
    skill, low, high, models = out_of_fold_skill(examples, config)
    if low <= 0.0:
        reason = (
            f"the gaps' features do not predict which past gaps persisted (log-loss saved "
            f"{skill:+.3f} per gap, 95% CI {low:+.3f} to {high:+.3f}): gaps are not weighted"
        )
        return Persistence(False, skill, low, high, n, persisted, reason, none)
    current = cutoff_features(sales, channels, now, config, only=candidates)
    # the fold models together have seen every example: their mean spares a final fit
    probability = np.mean([_predict(model, current) for model in models], axis=0)
    reason = (
        f"the gaps' features predict which past gaps persisted (log-loss saved {skill:+.3f} "
        f"per gap, 95% CI {low:+.3f} to {high:+.3f}; {n} gaps at unvisited outlets, "
        f"{persisted} persisted): each gap is weighted by its probability to be real"
    )
    return Persistence(
        True,
        skill,
        low,
        high,
        n,
        persisted,
        reason,
        current.select("CustomerId", "ItemId", PersistProbability=pl.Series(probability)),
    )
