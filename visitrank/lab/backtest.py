"""`visitrank backtest`: score as of a past date, then measure against what happened after.

No look-ahead: every dated table is cut at `at` right after loading (`cut_tables`: sales and
their lines before `at`, visits before `at`) and the scoring only ever sees the cut tables. The
sales from `at` over `horizon` weeks are read separately, only to measure the outcome.

No truth file is needed. Per outlet x SKU of the scored grid the realised **growth** is its
weekly revenue over the horizon minus its weekly revenue over the look-back window before `at`;
the **adjusted growth** is its horizon revenue minus its look-back revenue times the SKU's overall
trend (all pairs' horizon revenue / look-back revenue), so the season and market moves, which
otherwise favour small outlets in a falling season and big ones in a rising one, cancel out.
A **gap-closed event** is a pair whose horizon sales clearly exceed its past rate: at least
`CLOSE_RATIO` x the past weekly units and more than `CLOSE_Z` Poisson standard deviations above
them. Methods compared side by side:

* the configured scoring (learned potential by default) and the segment-mean indexation
  (`benchmark = "segment_median"`): their pushed SKUs are the flagged gaps (precision / recall of
  gap-closed events, Spearman rank correlation of the gap value with the growth over all pairs);
* outlet-only baselines (top revenue, longest since visit, random): no SKU flags.

For the Top-N lists every method picks each rep's top `visits_per_week` routable outlets
(visitrank and the segment mean by priority); the figure is the mean weekly revenue growth per
recommended outlet against the mean of the rep's other outlets (lift = difference).

Why the figures need care: the history's visits followed the old plan, so a recommended outlet
was not necessarily visited. Lift says which list anticipated the outlets that grew, not what its
visits would add; lists that pick outlets by a low recent figure gain from regression to the
mean. Every lift therefore carries a bootstrap interval over outlets, every method and every
comparison with visitrank a plain-language verdict ("cannot tell: ..." when the interval includes
zero or the data are too thin), and the history itself is checked: does the horizon fit the data
and the outlets' order rhythm, are there enough gap-closed events, and did a change in an outlet's
visit rate go with a change in its sales at all (`visit_response`)?
"""

from __future__ import annotations

import tempfile
import textwrap
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from scipy.stats import bootstrap, spearmanr

from scoring.config import ScoringConfig
from scoring.inputs import next_monday
from scoring.pipeline import RegionScores, score_region
from visitrank.adapters import local_stage
from visitrank.adapters.file_source import FileSource
from visitrank.adapters.local_stage import stage_inputs
from visitrank.contract.quarantine import quarantine

CLOSE_RATIO = 2.0
CLOSE_Z = 2.0
RANDOM_SEEDS = 10
DATED = {"MV_Sales": "SaleDate", "MV_Visit": "VisitDate"}
CONFIDENCE = 0.95  # of every interval
RESAMPLES = 1000  # bootstrap resamples of the outlets
BOOTSTRAP_SEED = 0
MIN_VALID_RESAMPLES = 0.95  # share of resamples with a defined figure for an interval
MIN_CLOSED_EVENTS = 30  # fewer gap-closed events cannot judge precision / recall
MIN_GROUP = 20  # fewer recommended (or other) outlets cannot judge a lift
MIN_HORIZON_CYCLES = 2.0  # the horizon should span this many order cycles of most outlets
DATA_END_SLACK_DAYS = 6  # a horizon ending this much after the last sale still fits the data
LEGEND_WIDTH = 100
BLOCKING = ("horizon", "outlets")  # history verdicts that leave no list judgeable


def cut_tables(tables: dict[str, pl.DataFrame], at: date) -> dict[str, pl.DataFrame]:
    """The tables as they were before `at`: sales (and their lines) and visits dated before it."""
    cut = dict(tables)
    for name, column in DATED.items():
        if name in cut:
            cut[name] = cut[name].filter(pl.col(column) < at)
    if "MV_SalesDetail" in cut and "MV_Sales" in cut:
        cut["MV_SalesDetail"] = cut["MV_SalesDetail"].join(
            cut["MV_Sales"].select("SaleId"), on="SaleId", how="semi"
        )
    return cut


@dataclass(frozen=True)
class AsOfScores:
    """The scores of every region as of the cut-off (outlets, pushed skus, all pairs)."""

    outlets: pl.DataFrame
    skus: pl.DataFrame
    pairs: pl.DataFrame
    as_of: date
    window_start: date
    week_start: date


def score_as_of(
    tables: dict[str, pl.DataFrame], at: date, config: ScoringConfig, work_dir: Path
) -> AsOfScores:
    """Scores every region with only the rows dated before `at` (cut here, before anything)."""
    past = cut_tables(tables, at)
    week_start = at if at.weekday() == 0 else next_monday(at)
    staged = stage_inputs(past, work_dir / "clean", work_dir / "quarantine", week_start, config)
    results: list[RegionScores] = [
        score_region(
            local_stage.load_region(staged.work_dir, area), staged.window, config, keep_pairs=True
        )
        for area in staged.regions
    ]
    return AsOfScores(
        outlets=pl.concat([r.outlets for r in results], how="vertical_relaxed"),
        skus=pl.concat([r.skus for r in results], how="vertical_relaxed"),
        pairs=pl.concat([r.pairs for r in results if r.pairs is not None], how="vertical_relaxed"),
        as_of=staged.window.as_of,
        window_start=staged.window.window_start,
        week_start=staged.window.week_start,
    )


def pair_sales(
    tables: dict[str, pl.DataFrame], start: date, end: date, weeks: float
) -> pl.DataFrame:
    """CustomerId, ItemId, weekly Revenue and Units over [start, end]."""
    return (
        tables["MV_Sales"]
        .filter(pl.col("SaleDate").is_between(start, end))
        .select("SaleId", "CustomerId")
        .join(
            tables["MV_SalesDetail"].select("SaleId", "ItemId", "Quantity", "Amount"), on="SaleId"
        )
        .group_by("CustomerId", "ItemId")
        .agg(Revenue=pl.col("Amount").sum() / weeks, Units=pl.col("Quantity").sum() / weeks)
    )


def with_outcomes(pairs: pl.DataFrame, horizon: int) -> pl.DataFrame:
    """Adds Growth, AdjustedGrowth, Closed and MatchBin to pairs with weekly Revenue / Units
    (look-back) and RevenueAfter / UnitsAfter (horizon).

    AdjustedGrowth = RevenueAfter - Revenue x the SKU's trend (its total RevenueAfter / total
    Revenue over the frame; 1 for a SKU without look-back revenue): growth beyond what the season
    and the market did to every outlet's share of that SKU, comparable across outlet sizes.
    MatchBin = floor(4 log2(1 + look-back units at the horizon's length)): pairs in one bin had
    about the same past sales (exact bins for 0-3 units), so they are about as likely to pass the
    gap-closed test by chance; `flag_metrics` compares flagged pairs with unflagged ones of the
    same bin."""
    look_back = pl.col("Revenue").sum().over("ItemId")
    trend = (
        pl.when(look_back > 0)
        .then(pl.col("RevenueAfter").sum().over("ItemId") / look_back)
        .otherwise(1.0)
    )
    past_units = pl.col("Units") * horizon
    after_units = pl.col("UnitsAfter") * horizon
    closed = (after_units >= CLOSE_RATIO * past_units) & (
        after_units > past_units + CLOSE_Z * past_units.sqrt() + 1.0
    )
    return pairs.with_columns(
        Growth=pl.col("RevenueAfter") - pl.col("Revenue"),
        AdjustedGrowth=pl.col("RevenueAfter") - pl.col("Revenue") * trend,
        Closed=closed,
        MatchBin=(4.0 * (1.0 + past_units).log(2)).floor().cast(pl.Int32),
    )


def outcomes(
    clean: dict[str, pl.DataFrame], scored: AsOfScores, at: date, horizon: int
) -> pl.DataFrame:
    """Every scored pair with Before / After weekly revenue, Growth, AdjustedGrowth and Closed."""
    before_weeks = ((scored.as_of - scored.window_start).days + 1) / 7.0
    before = pair_sales(clean, scored.window_start, scored.as_of, before_weeks)
    after = pair_sales(clean, at, at + timedelta(days=7 * horizon - 1), float(horizon))
    pairs = (
        scored.pairs.select("CustomerId", "ItemId", "GapValue")
        .join(before, on=["CustomerId", "ItemId"], how="left")
        .join(after, on=["CustomerId", "ItemId"], how="left", suffix="After")
        .with_columns(pl.col("Revenue", "Units", "RevenueAfter", "UnitsAfter").fill_null(0.0))
    )
    return with_outcomes(pairs, horizon)


# --- intervals ------------------------------------------------------------------------------


def weighted_lift(growth: np.ndarray, weight: np.ndarray, axis: int = -1) -> np.ndarray:
    """Mean growth of the recommended outlets minus the mean of the others along `axis`.

    `weight` is each outlet's share of being recommended: 1 / 0 for a ranking, the share of the
    random draws for the random list (with a fixed number of picks per draw the weighted means
    equal the means over the draws). NaN where either side is empty."""
    with np.errstate(invalid="ignore", divide="ignore"):
        top = np.sum(growth * weight, axis=axis) / np.sum(weight, axis=axis)
        rest = np.sum(growth * (1.0 - weight), axis=axis) / np.sum(1.0 - weight, axis=axis)
    return np.asarray(top - rest)


def ratio_of_sums(numerator: np.ndarray, denominator: np.ndarray, axis: int = -1) -> np.ndarray:
    """sum(numerator) / sum(denominator) along `axis` (precision and recall pooled over outlets);
    NaN where the denominator sums to zero."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.asarray(np.sum(numerator, axis=axis) / np.sum(denominator, axis=axis))


def slope(x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
    """Least-squares slope of y on x along `axis`; NaN where x does not vary."""
    xc = x - np.mean(x, axis=axis, keepdims=True)
    yc = y - np.mean(y, axis=axis, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.asarray(np.sum(xc * yc, axis=axis) / np.sum(xc * xc, axis=axis))


def bootstrap_interval(
    statistic: Callable[..., np.ndarray],
    samples: tuple[np.ndarray, ...],
    digits: int,
    confidence: float = CONFIDENCE,
    resamples: int = RESAMPLES,
    seed: int = BOOTSTRAP_SEED,
) -> list[float] | None:
    """[low, high] percentile bootstrap interval of `statistic(*samples, axis=-1)`, resampling
    whole outlets (the rows of all `samples` together, so figures of two methods on the same
    outlets stay paired); seeded, so the same data give the same interval.

    None when there are fewer than two outlets or when the figure is undefined (NaN, e.g. no
    recommended outlet drawn) in more than 1 - `MIN_VALID_RESAMPLES` of the resamples: too few
    outlets to tell. The bootstrap itself is `scipy.stats.bootstrap`; the quantiles are taken
    over the defined resamples only."""
    if len(samples[0]) < 2:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # degenerate resamples: handled below
        result = bootstrap(
            samples,
            statistic,
            n_resamples=resamples,
            paired=True,
            vectorized=True,
            method="percentile",
            confidence_level=confidence,
            rng=np.random.default_rng(seed),
        )
    draws = np.asarray(result.bootstrap_distribution)
    valid = draws[np.isfinite(draws)]
    if valid.size < MIN_VALID_RESAMPLES * draws.size:
        return None
    low, high = np.quantile(valid, [(1.0 - confidence) / 2.0, (1.0 + confidence) / 2.0])
    return [round(float(low), digits), round(float(high), digits)]


def lift_interval(growth: np.ndarray, weight: np.ndarray) -> list[float] | None:
    """Bootstrap interval (over outlets) of `weighted_lift`."""
    return bootstrap_interval(weighted_lift, (growth, weight), 2)


def difference_interval(
    growth: np.ndarray, weight: np.ndarray, other: np.ndarray
) -> list[float] | None:
    """Bootstrap interval of lift(`weight`) - lift(`other`) on the same resampled outlets."""

    def statistic(g: np.ndarray, w: np.ndarray, o: np.ndarray, axis: int = -1) -> np.ndarray:
        return weighted_lift(g, w, axis) - weighted_lift(g, o, axis)

    return bootstrap_interval(statistic, (growth, weight, other), 2)


def visit_response(adjusted: np.ndarray, visit_change: np.ndarray) -> dict[str, Any]:
    """Did a change in an outlet's visit rate go with a change in its sales, in this history?

    The slope of the outlets' adjusted weekly growth on their change in visits per week (horizon
    minus look-back), i.e. the revenue that went with one extra visit, with a bootstrap interval
    over outlets. Zero inside the interval: the history shows no visit effect, so no backtest on
    it can show what a visit list adds. Not causal either way (reps may visit outlets that are
    about to order), but a history without it cannot tell."""
    changed = int(np.count_nonzero(visit_change))
    value = slope(visit_change.astype(float), adjusted.astype(float))
    finite = bool(np.isfinite(value))
    return {
        "revenuePerVisit": round(float(value), 2) if finite else None,
        "revenuePerVisitCI": (
            bootstrap_interval(slope, (visit_change.astype(float), adjusted.astype(float)), 2)
            if finite
            else None
        ),
        "outletsWithChangedVisits": changed,
    }


# --- the figures of a method ----------------------------------------------------------------


def flag_metrics(pairs: pl.DataFrame, pushed: pl.DataFrame) -> dict[str, Any]:
    """Precision / recall of the pushed SKUs on gap-closed events (with bootstrap intervals over
    outlets), the Spearman correlation of the gap value with the realised growth over all pairs,
    and (when `pairs` has MatchBin) the matched rate: the precision the flagged pairs would have
    if they closed as often as the unflagged pairs with the same past sales (`with_outcomes`).

    Why matched: a gap is a pair selling little, and a pair selling little passes the
    gap-closed test by chance more easily (two units are "twice" one), so the plain base rate
    over all pairs flatters any list of low sellers; the matched rate does not."""
    flagged = pairs.join(
        pushed.select("CustomerId", "ItemId").with_columns(Flag=pl.lit(True)),
        on=["CustomerId", "ItemId"],
        how="left",
    ).with_columns(pl.col("Flag").fill_null(False))
    per_outlet = (
        flagged.group_by("CustomerId")
        .agg(
            Hits=(pl.col("Flag") & pl.col("Closed")).sum().cast(pl.Float64),
            Flagged=pl.col("Flag").sum().cast(pl.Float64),
            Closed=pl.col("Closed").sum().cast(pl.Float64),
        )
        .sort("CustomerId")
    )  # a fixed outlet order: the seeded resamples then give one interval
    hits = int(per_outlet["Hits"].sum())
    n_flag, n_closed = int(per_outlet["Flagged"].sum()), int(per_outlet["Closed"].sum())
    rho = spearmanr(flagged["GapValue"].fill_null(0.0), flagged["Growth"]).statistic
    matched: float | None = None
    if "MatchBin" in flagged.columns and n_flag:
        rate = pl.col("Closed").filter(~pl.col("Flag")).mean().over("MatchBin")
        value = flagged.with_columns(Rate=rate).filter(pl.col("Flag"))["Rate"].mean()
        matched = round(float(value), 4) if isinstance(value, int | float) else None
    h, f, c = (per_outlet[name].to_numpy() for name in ("Hits", "Flagged", "Closed"))
    return {
        "flagged": n_flag,
        "closedEvents": n_closed,
        "hits": hits,
        "precision": round(hits / n_flag, 4) if n_flag else 0.0,
        "precisionCI": bootstrap_interval(ratio_of_sums, (h, f), 4) if n_flag else None,
        "matchedRate": matched,
        "recall": round(hits / n_closed, 4) if n_closed else 0.0,
        "recallCI": bootstrap_interval(ratio_of_sums, (h, c), 4) if n_closed else None,
        "spearman": round(float(rho), 4) if np.isfinite(rho) else 0.0,
    }


def top_weight(outlets: pl.DataFrame, score: str, n: int) -> pl.DataFrame:
    """CustomerId and Weight: 1.0 for each rep's top-n outlets by `score` (ties: lower
    CustomerId first), 0.0 for its others."""
    return outlets.sort(["RepId", score, "CustomerId"], descending=[False, True, False]).select(
        "CustomerId", Weight=(pl.int_range(pl.len()).over("RepId") < n).cast(pl.Float64)
    )


def random_weight(outlets: pl.DataFrame, n: int, seeds: int = RANDOM_SEEDS) -> pl.DataFrame:
    """CustomerId and Weight: the share of `seeds` seeded random draws of each rep's n outlets
    that picked the outlet."""
    draws = [
        top_weight(
            outlets.with_columns(
                Draw=pl.Series(np.random.default_rng(seed).random(outlets.height))
            ),
            "Draw",
            n,
        )
        for seed in range(seeds)
    ]
    return pl.concat(draws).group_by("CustomerId").agg(pl.col("Weight").mean())


def lift_metrics(growth: np.ndarray, adjusted: np.ndarray, weight: np.ndarray) -> dict[str, Any]:
    """The Top-N figures of one list: mean growth of its recommended outlets and of the others,
    lift = the difference, the same on adjusted growth, each lift with its bootstrap interval."""
    picks, others = float(weight.sum()), float((1.0 - weight).sum())
    top = float(np.sum(growth * weight) / picks) if picks else 0.0
    rest = float(np.sum(growth * (1.0 - weight)) / others) if others else 0.0
    adjusted_lift = weighted_lift(adjusted, weight)
    return {
        "recommended": round(picks, 1),
        "others": round(others, 1),
        "recommendedGrowth": round(top, 2),
        "otherGrowth": round(rest, 2),
        "lift": round(top - rest, 2),
        "liftCI": lift_interval(growth, weight),
        "adjustedLift": round(float(adjusted_lift), 2) if np.isfinite(adjusted_lift) else 0.0,
        "adjustedLiftCI": lift_interval(adjusted, weight),
    }


def comparison(
    growth: np.ndarray, adjusted: np.ndarray, weight: np.ndarray, other: np.ndarray
) -> dict[str, Any]:
    """visitrank's lift minus another list's lift on the same outlets (raw and adjusted), with
    paired bootstrap intervals."""
    raw = weighted_lift(growth, weight) - weighted_lift(growth, other)
    adj = weighted_lift(adjusted, weight) - weighted_lift(adjusted, other)
    return {
        "liftDifference": round(float(raw), 2) if np.isfinite(raw) else 0.0,
        "liftDifferenceCI": difference_interval(growth, weight, other),
        "adjustedLiftDifference": round(float(adj), 2) if np.isfinite(adj) else 0.0,
        "adjustedLiftDifferenceCI": difference_interval(adjusted, weight, other),
    }


# --- what the history can tell --------------------------------------------------------------


@dataclass(frozen=True)
class Verdict:
    """One plain-language judgement: `subject` (a method, "visitrank vs X" or "history"),
    `measure` (lift, precision, comparison, horizon, ...), `can_tell` (False = "cannot tell")."""

    subject: str
    measure: str
    can_tell: bool
    text: str

    def to_json(self) -> dict[str, Any]:
        """The verdict as a JSON object (camelCase keys, like the rest of the report)."""
        data = asdict(self)
        data["canTell"] = data.pop("can_tell")
        return data


def order_cycle_weeks(sales: pl.DataFrame, at: date) -> float | None:
    """The 75th percentile over outlets of each outlet's median weeks between order days
    before `at` (None without two order days at any outlet): most outlets order at least this
    often."""
    gaps = (
        sales.filter(pl.col("SaleDate") < at)
        .select("CustomerId", "SaleDate")
        .unique()
        .sort("CustomerId", "SaleDate")
        .with_columns(Gap=pl.col("SaleDate").diff().over("CustomerId").dt.total_days())
        .group_by("CustomerId")
        .agg(pl.col("Gap").median())
        .drop_nulls("Gap")
    )
    if gaps.is_empty():
        return None
    value = gaps["Gap"].quantile(0.75, interpolation="linear")
    return round(float(value) / 7.0, 2) if value is not None else None


def _interval_text(ci: list[float] | None, fmt: str = ".2f") -> str:
    return "no interval" if ci is None else f"95% CI {ci[0]:{fmt}} to {ci[1]:{fmt}}"


def _side(ci: list[float] | None, reference: float = 0.0) -> int | None:
    """+1 / -1 when the interval lies wholly above / below `reference`, 0 when it includes it,
    None without an interval."""
    if ci is None:
        return None
    return 1 if ci[0] > reference else -1 if ci[1] < reference else 0


def history_verdicts(
    horizon: int,
    at: date,
    last_sale: date | None,
    cycle_weeks: float | None,
    outlets: int,
    closed_events: int,
    response: dict[str, Any],
) -> list[Verdict]:
    """What the history as a whole can tell: a horizon past the data or shorter than the
    outlets' order rhythm, too few outlets or gap-closed events, no visible visit effect."""
    found: list[Verdict] = []
    horizon_end = at + timedelta(days=7 * horizon - 1)
    if last_sale is None or (horizon_end - last_sale).days > DATA_END_SLACK_DAYS:
        found.append(
            Verdict(
                "history",
                "horizon",
                False,
                f"cannot tell: the {horizon}-week horizon ends {horizon_end}, after the last sale "
                f"in the data ({last_sale}); the missing weeks count as no sales",
            )
        )
    if cycle_weeks is not None and horizon < MIN_HORIZON_CYCLES * cycle_weeks:
        found.append(
            Verdict(
                "history",
                "horizon",
                False,
                f"cannot tell: a {horizon}-week horizon is too short; a quarter of the outlets "
                f"order only every {cycle_weeks:.1f} weeks or less often, so growth mostly "
                f"says whether an order fell inside the horizon (use at least "
                f"{int(np.ceil(MIN_HORIZON_CYCLES * cycle_weeks))} weeks)",
            )
        )
    if outlets < 2 * MIN_GROUP:
        found.append(
            Verdict(
                "history",
                "outlets",
                False,
                f"cannot tell: only {outlets} routable outlets measured (need at least "
                f"{2 * MIN_GROUP}: {MIN_GROUP} recommended and {MIN_GROUP} others)",
            )
        )
    if closed_events < MIN_CLOSED_EVENTS:
        found.append(
            Verdict(
                "history",
                "gap-closed events",
                False,
                f"cannot tell precision / recall: only {closed_events} gap-closed events in the "
                f"horizon (need at least {MIN_CLOSED_EVENTS}); no flagged gap closed visibly",
            )
        )
    per_visit, ci = response["revenuePerVisit"], response["revenuePerVisitCI"]
    side = _side(ci)
    if per_visit is None or side is None:
        found.append(
            Verdict(
                "history",
                "visit effect",
                False,
                "cannot tell whether visits move sales: no outlet's visit rate changed between "
                "the look-back and the horizon",
            )
        )
    elif side == 0:
        found.append(
            Verdict(
                "history",
                "visit effect",
                False,
                f"cannot tell whether visits move sales here: an extra visit went with "
                f"{per_visit:+.2f} revenue ({_interval_text(ci)}, includes 0); without a visible "
                f"visit effect a backtest only shows which outlets grew by themselves",
            )
        )
    else:
        found.append(
            Verdict(
                "history",
                "visit effect",
                True,
                f"an extra visit went with {per_visit:+.2f} revenue ({_interval_text(ci)}); "
                f"an association in this history, not proof that visits cause it",
            )
        )
    return found


def method_verdicts(
    name: str,
    row: dict[str, Any],
    closed_rate: float,
    enough_closed: bool,
    enough_outlets: bool = True,
) -> list[Verdict]:
    """The verdict on one method's list (judged on the adjusted lift) and, for a method with
    flagged SKUs, on its precision against its matched rate (`flag_metrics`; the base rate of
    gap-closed events over all pairs, `closed_rate`, when there is none).
    `enough_closed` / `enough_outlets`: the history has enough gap-closed events / the list has
    at least `MIN_GROUP` recommended and other outlets."""
    found: list[Verdict] = []
    ci, value = row["adjustedLiftCI"], row["adjustedLift"]
    side = _side(ci) if enough_outlets else None
    if side is None:
        text = (
            f"cannot tell: too few outlets on one side of the list ({row['recommended']:.0f} "
            f"recommended, {row.get('others', 0):.0f} others; need {MIN_GROUP} each)"
        )
    elif side == 0:
        text = (
            f"cannot tell: its recommended outlets grew no differently from the others beyond "
            f"the season (adj. lift {value:+.2f}, {_interval_text(ci)}, includes 0)"
        )
    else:
        text = (
            f"its recommended outlets grew {'more' if side > 0 else 'less'} than the others "
            f"beyond the season (adj. lift {value:+.2f}, {_interval_text(ci)}), whether "
            f"visited or not"
        )
    found.append(Verdict(name, "lift", side not in (None, 0), text))
    if "precision" not in row:
        return found
    matched = row.get("matchedRate")
    reference, label = (
        (closed_rate, "base rate") if matched is None else (matched, "pairs that sold alike")
    )
    p_side = _side(row["precisionCI"], reference)
    p_ci = _interval_text(row["precisionCI"], ".3f")
    if not enough_closed or p_side is None:
        text = (
            f"cannot tell precision: {row['hits']} of its {row['flagged']} flagged SKUs closed, "
            f"too few gap-closed events to judge"
        )
    elif p_side == 0:
        text = (
            f"cannot tell: its flagged SKUs closed no more often than unflagged pairs that sold "
            f"alike before (precision {row['precision']:.3f}, {p_ci}; {label} {reference:.3f})"
        )
    else:
        text = (
            f"its flagged SKUs closed {'more' if p_side > 0 else 'less'} often than unflagged "
            f"pairs that sold alike before (precision {row['precision']:.3f}, {p_ci}; {label} "
            f"{reference:.3f})"
        )
    found.append(Verdict(name, "precision", enough_closed and p_side not in (None, 0), text))
    return found


def overrule(found: list[Verdict], history: list[Verdict]) -> list[Verdict]:
    """Turns every lift or comparison verdict of `found` that can tell into "cannot tell" when
    the history cannot judge any list: a horizon past the data or too short for the outlets'
    order rhythm, or too few outlets (`BLOCKING`). The figure's own reading is kept after it."""
    blockers = [v.measure for v in history if not v.can_tell and v.measure in BLOCKING]
    if not blockers:
        return found
    reason = f"cannot tell: see history ({', '.join(dict.fromkeys(blockers))})"
    return [
        Verdict(v.subject, v.measure, False, f"{reason}; the figures alone would say: {v.text}")
        if v.can_tell and v.measure in ("lift", "comparison")
        else v
        for v in found
    ]


def comparison_verdict(name: str, row: dict[str, Any], enough_outlets: bool = True) -> Verdict:
    """Whether visitrank's list beats `name`'s, judged on the adjusted lift difference
    (`enough_outlets`: both lists have at least `MIN_GROUP` recommended and other outlets)."""
    ci, value = row["adjustedLiftDifferenceCI"], row["adjustedLiftDifference"]
    side = _side(ci) if enough_outlets else None
    subject = f"visitrank vs {name}"
    if side is None:
        return Verdict(subject, "comparison", False, "cannot tell: too few outlets to compare")
    if side == 0:
        return Verdict(
            subject,
            "comparison",
            False,
            f"cannot tell which list picked the outlets that grew: visitrank minus {name} "
            f"{value:+.2f} ({_interval_text(ci)}, includes 0)",
        )
    winner, loser = ("visitrank", name) if side > 0 else (name, "visitrank")
    return Verdict(
        subject,
        "comparison",
        True,
        f"{winner}'s outlets grew more than {loser}'s beyond the season (visitrank minus {name} "
        f"{value:+.2f}, {_interval_text(ci)})",
    )


# --- the backtest ---------------------------------------------------------------------------


def backtest(
    source: Path, at: date, horizon: int, config: ScoringConfig, work_dir: Path | None = None
) -> dict[str, Any]:
    """Scores as of `at` (configured method and segment-mean indexation) and measures both and
    the outlet baselines against the `horizon` weeks after it, with intervals and verdicts."""
    tables = FileSource(source).read_all()
    clean = quarantine(tables).tables
    methods = {
        "visitrank": config,
        "segmentMean": config.with_overrides({"benchmark": "segment_median"}),
    }
    with tempfile.TemporaryDirectory(dir=work_dir) as tmp:
        scored = {
            name: score_as_of(tables, at, cfg, Path(tmp) / name) for name, cfg in methods.items()
        }
    first = scored["visitrank"]
    pair_frames = {name: outcomes(clean, s, at, horizon) for name, s in scored.items()}
    growth = (
        pair_frames["visitrank"]
        .group_by("CustomerId")
        .agg(OutletGrowth=pl.col("Growth").sum(), AdjustedGrowth=pl.col("AdjustedGrowth").sum())
    )
    n = config.visits_per_week
    visits = clean["MV_Visit"]
    last_visit = (
        cut_tables(clean, at)["MV_Visit"].group_by("CustomerId").agg(Last=pl.col("VisitDate").max())
    )
    before_weeks = ((first.as_of - first.window_start).days + 1) / 7.0
    visit_rates = [
        visits.filter(pl.col("VisitDate").is_between(start, end))
        .group_by("CustomerId")
        .agg((pl.len() / weeks).alias(name))
        for start, end, weeks, name in (
            (first.window_start, first.as_of, before_weeks, "VisitsBefore"),
            (at, at + timedelta(days=7 * horizon - 1), float(horizon), "VisitsAfter"),
        )
    ]
    base = (
        first.outlets.filter(pl.col("Routable"))
        .select("CustomerId", "RepId", "WeeklyRevenue")
        .join(last_visit, on="CustomerId", how="left")
        .join(growth, on="CustomerId", how="left")
        .join(visit_rates[0], on="CustomerId", how="left")
        .join(visit_rates[1], on="CustomerId", how="left")
        .with_columns(
            pl.col("OutletGrowth", "AdjustedGrowth", "VisitsBefore", "VisitsAfter").fill_null(0.0),
            Staleness=(pl.lit(first.week_start) - pl.col("Last")).dt.total_days().fill_null(10**6),
        )
    )
    lists = {
        name: top_weight(
            s.outlets.filter(pl.col("Routable")).select("CustomerId", "RepId", "Priority"),
            "Priority",
            n,
        )
        for name, s in scored.items()
    }
    lists["topRevenue"] = top_weight(base, "WeeklyRevenue", n)
    lists["longestSinceVisit"] = top_weight(base, "Staleness", n)
    lists["random"] = random_weight(base, n)
    base = base.sort("CustomerId")  # a fixed outlet order for the seeded resamples
    weights = {
        name: base.select("CustomerId")
        .join(frame, on="CustomerId", how="left")["Weight"]
        .fill_null(0.0)
        .to_numpy()
        for name, frame in lists.items()
    }
    raw, adjusted = base["OutletGrowth"].to_numpy(), base["AdjustedGrowth"].to_numpy()
    rows: dict[str, dict[str, Any]] = {}
    for name in lists:
        flags = flag_metrics(pair_frames[name], scored[name].skus) if name in scored else {}
        rows[name] = {**flags, **lift_metrics(raw, adjusted, weights[name])}
    comparisons = {
        name: comparison(raw, adjusted, weights["visitrank"], weights[name])
        for name in lists
        if name != "visitrank"
    }
    response = visit_response(adjusted, (base["VisitsAfter"] - base["VisitsBefore"]).to_numpy())
    pairs = pair_frames["visitrank"]
    closed_events = int(pairs["Closed"].sum())
    closed_rate = closed_events / pairs.height if pairs.height else 0.0
    last_sale = clean["MV_Sales"]["SaleDate"].max()
    cycle = order_cycle_weeks(clean["MV_Sales"], at)
    enough_outlets = {
        name: min(row["recommended"], row["others"]) >= MIN_GROUP for name, row in rows.items()
    }
    verdicts = history_verdicts(
        horizon,
        at,
        last_sale if isinstance(last_sale, date) else None,
        cycle,
        base.height,
        closed_events,
        response,
    )
    judged: list[Verdict] = []
    for name, row in rows.items():
        judged += method_verdicts(
            name, row, closed_rate, closed_events >= MIN_CLOSED_EVENTS, enough_outlets[name]
        )
    judged += [
        comparison_verdict(name, row, enough_outlets[name] and enough_outlets["visitrank"])
        for name, row in comparisons.items()
    ]
    verdicts += overrule(judged, verdicts)
    return {
        "at": at.isoformat(),
        "asOf": first.as_of.isoformat(),
        "lookBackStart": first.window_start.isoformat(),
        "horizonWeeks": horizon,
        "benchmark": config.benchmark,
        "pairs": pairs.height,
        "closedEvents": closed_events,
        "closedRate": round(closed_rate, 4),
        "outlets": base.height,
        "picksPerRep": n,
        "lastSale": last_sale.isoformat() if isinstance(last_sale, date) else None,
        "orderCycleWeeks": cycle,
        "confidence": CONFIDENCE,
        "resamples": RESAMPLES,
        "methods": rows,
        "comparisons": comparisons,
        "visitResponse": response,
        "verdicts": [v.to_json() for v in verdicts],
    }


# --- the printed report ---------------------------------------------------------------------


def _cell(row: dict[str, Any], key: str, width: int, fmt: str) -> str:
    """One right-aligned table cell ("-" when the method has no such figure)."""
    return f"{row[key]:>{width}{fmt}}" if key in row else f"{'-':>{width}}"


def _with_ci(row: dict[str, Any], key: str, width: int, fmt: str) -> str:
    """A figure and its 95% interval, "1.27 [-3.10, 5.60]", right-aligned ("-" when absent)."""
    if key not in row:
        return f"{'-':>{width}}"
    ci = row.get(f"{key}CI")
    bounds = "[no interval]" if ci is None else f"[{ci[0]:{fmt}}, {ci[1]:{fmt}}]"
    return f"{f'{row[key]:{fmt}} {bounds}':>{width}}"


def _matched(row: dict[str, Any]) -> str:
    """The matched-rate cell ("-" when the pairs could not be matched)."""
    value = row.get("matchedRate")
    return f"{'-':>9}" if value is None else f"{value:>9.3f}"


def format_table(report: dict[str, Any]) -> str:
    """The side-by-side tables of the backtest: the outlet lists (every method), the flagged
    SKUs (methods that flag them) and visitrank against each other method, each figure with
    its 95% interval."""
    methods, n = report["methods"], report.get("picksPerRep", "N")
    lines = [
        f"outlet lists: each rep's top {n} routable outlets; weekly revenue growth, horizon vs "
        "look-back",
        f"{'method':<20}{'picks':>7}{'top growth':>12}{'others':>10}"
        f"{'lift [95% CI]':>28}{'adj. lift [95% CI]':>28}",
    ]
    for name, row in methods.items():
        lines.append(
            f"{name:<20}{_cell(row, 'recommended', 7, '.0f')}"
            f"{_cell(row, 'recommendedGrowth', 12, '.2f')}{_cell(row, 'otherGrowth', 10, '.2f')}"
            f"{_with_ci(row, 'lift', 28, '.2f')}{_with_ci(row, 'adjustedLift', 28, '.2f')}"
        )
    flaggers = {name: row for name, row in methods.items() if "flagged" in row}
    if flaggers:
        lines += [
            "",
            f"flagged SKUs vs gap-closed events ({report['closedEvents']:,} events; base rate "
            f"{report.get('closedRate', 0.0):.3f} of all pairs)",
            f"{'method':<20}{'flagged':>9}{'precision [95% CI]':>26}{'matched':>9}"
            f"{'recall [95% CI]':>26}{'spearman':>10}",
        ]
        for name, row in flaggers.items():
            lines.append(
                f"{name:<20}{_cell(row, 'flagged', 9, 'd')}{_with_ci(row, 'precision', 26, '.3f')}"
                f"{_matched(row)}{_with_ci(row, 'recall', 26, '.3f')}"
                f"{_cell(row, 'spearman', 10, '.3f')}"
            )
    if report.get("comparisons"):
        lines += [
            "",
            "visitrank minus each other list, same outlets",
            f"{'other list':<20}{'lift diff [95% CI]':>30}{'adj. lift diff [95% CI]':>30}",
        ]
        for name, row in report["comparisons"].items():
            lines.append(
                f"{name:<20}{_with_ci(row, 'liftDifference', 30, '.2f')}"
                f"{_with_ci(row, 'adjustedLiftDifference', 30, '.2f')}"
            )
    return "\n".join(lines)


def format_verdicts(report: dict[str, Any]) -> str:
    """One line per verdict, "subject: text" (history checks first)."""
    lines = ["verdicts:"]
    lines += [
        textwrap.fill(
            f"{v['subject']} ({v['measure']}): {v['text']}",
            width=LEGEND_WIDTH,
            initial_indent="  ",
            subsequent_indent="      ",
        )
        for v in report["verdicts"]
    ]
    return "\n".join(lines)


def format_legend(report: dict[str, Any]) -> str:
    """What every column means, in the report's own horizon, look-back and list size."""
    horizon, at = report["horizonWeeks"], report["at"]
    start, as_of = report.get("lookBackStart", "?"), report["asOf"]
    n = report.get("picksPerRep", "N")
    entries = [
        (
            "growth",
            f"an outlet's weekly revenue over the horizon ({horizon} weeks from {at}) minus its "
            f"weekly revenue over the look-back ({start} to {as_of}), summed over its scored "
            "SKUs. It moves with the season, the outlet's size and chance, not only with visits.",
        ),
        ("picks", f"outlets the list recommends: each rep's top {n} routable outlets."),
        ("top growth", "mean growth of the recommended outlets."),
        ("others", "mean growth of the reps' other routable outlets."),
        (
            "lift",
            "top growth minus others. The recommended outlets were not necessarily visited (the "
            "history's visits followed the old plan), so lift says which list anticipated the "
            "outlets that grew, not what its visits would add. Lists that pick outlets by a low "
            "recent figure (long unvisited, a dip) gain from regression to the mean; lists that "
            "pick small or big outlets gain or lose with the season.",
        ),
        (
            "adj. lift",
            "lift on growth beyond each SKU's overall trend: horizon revenue minus look-back "
            "revenue x (the SKU's total horizon / look-back revenue). The season and market "
            "moves cancel out, so outlets of any size compare fairly; the verdicts judge it.",
        ),
        (
            "[95% CI]",
            f"the range the figure would plausibly take with other outlets like these: "
            f"{report.get('resamples', RESAMPLES):,} seeded bootstrap resamples of the outlets. "
            "An interval that includes 0 means the data cannot tell the figure from nothing.",
        ),
        ("flagged", "outlet x SKU pairs the method pushes as gaps."),
        (
            "precision",
            "share of the flagged pairs with a gap-closed event in the horizon: units at least "
            f"{CLOSE_RATIO:g}x the look-back rate and {CLOSE_Z:g} Poisson SDs above it (the "
            "base rate is the share of all pairs with one). Compare it with matched.",
        ),
        (
            "matched",
            "the precision to expect by chance: how often unflagged pairs that sold about as "
            "much in the look-back had a gap-closed event. A gap is a pair selling little, and "
            "little sellers pass the test by chance more easily, so judge precision against "
            "this, not the base rate.",
        ),
        ("recall", "share of all gap-closed events that the method had flagged."),
        (
            "spearman",
            "rank correlation (-1..1) of the gap value with the pair's revenue growth over all "
            "pairs; no interval (the pairs of one outlet are not independent).",
        ),
        (
            "diff",
            "visitrank's lift minus the other list's, on the same outlets (paired resamples).",
        ),
        (
            "visit effect",
            "revenue that went with one extra visit: the slope of the outlets' adjusted growth "
            "on their change in visits per week (horizon minus look-back). If it cannot be told "
            "from 0, this history cannot show what any visit list adds.",
        ),
    ]
    lines = ["what the columns mean:"]
    lines += [
        textwrap.fill(
            text,
            width=LEGEND_WIDTH,
            initial_indent=f"  {term:<13}",
            subsequent_indent=" " * 15,
        )
        for term, text in entries
    ]
    return "\n".join(lines)


def format_report(report: dict[str, Any]) -> str:
    """The tables, the verdicts and the legend, as `visitrank backtest` prints them."""
    return "\n\n".join([format_table(report), format_verdicts(report), format_legend(report)])
