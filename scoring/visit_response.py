"""Visit response: do the outlet's sales move after a rep's visit, in this history?

For every outlet and week of the history before the scored window, the outcome is the outlet's
revenue over the following `response_weeks`, relative to its own average (so big and small
outlets weigh alike) and to the week's average over the outlet-weeks no visit touches (so
seasons and trends are not taken for visit effects). A visited week is compared with the same
outlet's *untouched* weeks: no visit from `response_weeks` - 1 weeks before to `response_weeks`
weeks after, so that neither a previous visit's lift nor the next visit's is in the comparison (an
unvisited week next to a visit would carry its lift and hide most of the effect). The
per-outlet difference, over the mean untouched outcome of the region, is the outlet's response
(a relative lift); their mean over the outlets with both kinds of weeks is the effect, with a
normal 95% interval over outlets. Outlets visited too often to have untouched weeks cannot be
measured. Only an effect whose interval lies above `response_min_effect` is a signal; then each
outlet's responsiveness is its own response shrunk towards the mean (empirical Bayes) and scales
its priority. Without a signal the factor is 1 for every outlet and the result says so: no
made-up effect.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import polars as pl

from scoring.config import ScoringConfig
from scoring.exact import exact_sum
from scoring.inputs import ScoringWindow
from scoring.visit_cadence import cadence_words

Z_95 = 1.96
NO_FACTORS_SCHEMA = {"CustomerId": pl.Int64, "ResponseFactor": pl.Float64}


@dataclass(frozen=True)
class VisitResponse:
    """The measured effect of a visit and the per-outlet priority factors.

    factors: CustomerId, ResponseFactor (empty when there is no signal: every factor is 1).
    effect: mean relative revenue lift over `response_weeks` after a visited week, against the
        outlet's untouched weeks; outlets: the outlets measured (both kinds of weeks).
    """

    signal: bool
    effect: float
    ci_low: float
    ci_high: float
    outlets: int
    reason: str
    factors: pl.DataFrame

    def summary(self) -> dict[str, object]:
        """A small JSON-able description for the run summary."""
        return {
            "signal": self.signal,
            "effect": round(self.effect, 4),
            "ci95": [round(self.ci_low, 4), round(self.ci_high, 4)],
            "outlets": self.outlets,
            "reason": self.reason,
        }


def weekly_panel(
    lines: pl.DataFrame, visits: pl.DataFrame, window: ScoringWindow, response_weeks: int
) -> pl.DataFrame:
    """CustomerId, Week, Visited, Untouched, Outcome: the outlet's revenue over the next
    `response_weeks` weeks relative to its mean, over the mean of the week's untouched
    outlet-weeks, for the weeks of the history before the window (the window itself is what is
    scored; its weeks never feed their own priority). Untouched: no visit from `response_weeks`
    - 1 weeks before to `response_weeks` weeks after (a week near the start of the history,
    whose earlier visits are unknown, never is). Weeks are counted from `history_start`, from
    the week of the first sale on (data that begin later have no empty weeks before them)."""
    start, end = window.history_start, window.window_start - timedelta(days=1)
    first = lines.filter(pl.col("SaleDate").is_between(start, end))["SaleDate"].min()
    if isinstance(first, date):
        start += timedelta(weeks=(first - start).days // 7)
    week = (pl.col("SaleDate") - pl.lit(start)).dt.total_days() // 7
    revenue = (
        lines.lazy()
        .filter(pl.col("SaleDate").is_between(start, end))
        .group_by("CustomerId", week.alias("Week"))
        .agg(Revenue=exact_sum("Amount"))
        .collect()
    )
    weeks = (end - start).days // 7 + 1
    outlets = revenue.select("CustomerId").unique()
    grid = outlets.join(pl.DataFrame({"Week": np.arange(weeks, dtype=np.int64)}), how="cross")
    visit_week = (pl.col("VisitDate") - pl.lit(start)).dt.total_days() // 7
    visited = (
        visits.lazy()
        .filter(pl.col("VisitDate").is_between(start, end))
        .select("CustomerId", visit_week.alias("Week"))
        .unique()
        .with_columns(Visited=pl.lit(True))
        .collect()
    )
    panel = (
        grid.join(revenue, on=["CustomerId", "Week"], how="left")
        .join(visited, on=["CustomerId", "Week"], how="left")
        .with_columns(pl.col("Revenue").fill_null(0.0), pl.col("Visited").fill_null(False))
        .sort("CustomerId", "Week")
    )

    # every outlet has every week, in order: a shift within the outlet is a shift of the whole
    # column, null where it crosses the outlet's first or last week (no per-outlet window)
    def within(column: str, step: int) -> pl.Expr:
        inside = (pl.col("Week") + step >= 0) & (pl.col("Week") + step < weeks)
        return pl.when(inside).then(pl.col(column).shift(-step))

    ahead = sum(within("Revenue", step) for step in range(1, response_weeks + 1))
    near = range(1 - response_weeks, response_weeks + 1)  # visits whose lift reaches the outcome
    touched = pl.any_horizontal(within("Visited", step).fill_null(True) for step in near)
    mean = pl.col("Revenue").mean().over("CustomerId")
    relative = panel.with_columns(
        Outcome=ahead / (response_weeks * mean), Untouched=~touched
    ).filter(pl.col("Outcome").is_not_null() & (mean > 0))
    # divided by the week's mean over the untouched outlet-weeks: seasonality and trends are not
    # visit effects, and the visits' own lift does not move the reference
    season = pl.col("Outcome").filter(pl.col("Untouched")).mean().over("Week")
    return (
        relative.with_columns(Outcome=pl.col("Outcome") / season)
        .filter(pl.col("Outcome").is_finite())
        .select("CustomerId", "Week", "Visited", "Untouched", "Outcome")
    )


def visit_response(
    lines: pl.DataFrame, visits: pl.DataFrame, window: ScoringWindow, config: ScoringConfig
) -> VisitResponse:
    """The visit effect of this history and each outlet's priority factor (see module doc)."""
    panel = weekly_panel(lines, visits, window, config.response_weeks)
    per_outlet = (
        panel.group_by("CustomerId")
        .agg(
            After=pl.col("Outcome").filter(pl.col("Visited")).mean(),
            Without=pl.col("Outcome").filter(pl.col("Untouched")).mean(),
            VisitedWeeks=pl.col("Visited").sum(),
        )
        .drop_nulls()
        .sort("CustomerId")
    )
    n = per_outlet.height
    none = pl.DataFrame(schema=NO_FACTORS_SCHEMA)
    if n < config.response_min_outlets:
        return VisitResponse(
            False,
            0.0,
            0.0,
            0.0,
            n,
            f"cannot measure whether visits move sales: too few outlets ({n}, "
            f"{config.response_min_outlets} needed) have both weeks after a visit and weeks no "
            f"visit touches in the last {config.response_weeks} weeks; "
            f"{cadence_words(visits, 7 * config.response_weeks)}: priorities are not adjusted",
            none,
        )
    # the difference over the untouched level: a relative lift (the outlet's mean, the
    # reference of the outcome, itself includes the lifted weeks)
    per_outlet = per_outlet.with_columns(
        Response=(pl.col("After") - pl.col("Without")) / pl.col("Without").mean()
    )
    responses = per_outlet["Response"].to_numpy()
    effect = float(np.mean(responses))
    spread = float(np.std(responses, ddof=1))
    half = Z_95 * spread / np.sqrt(n)
    low, high = float(effect - half), float(effect + half)
    if low <= config.response_min_effect:
        reason = (
            f"no measurable effect of a visit on the following weeks' sales (lift "
            f"{effect:+.1%}, 95% CI {low:+.1%} to {high:+.1%}; a signal needs the CI above "
            f"{config.response_min_effect:+.0%}): priorities are not adjusted"
        )
        return VisitResponse(False, effect, low, high, n, reason, none)
    # empirical Bayes: an outlet's own response, shrunk by its number of visited weeks
    prior = config.response_shrinkage_weeks
    weight = pl.col("VisitedWeeks") / (pl.col("VisitedWeeks") + prior)
    shrunk = weight * pl.col("Response") + (1 - weight) * effect
    factors = per_outlet.select(
        "CustomerId",
        ResponseFactor=((1.0 + shrunk) / (1.0 + effect)).clip(
            config.response_factor_min, config.response_factor_max
        ),
    )
    return VisitResponse(
        True,
        effect,
        low,
        high,
        n,
        f"a visit lifts the next {config.response_weeks} weeks' sales by {effect:+.1%} "
        f"(95% CI {low:+.1%} to {high:+.1%}, {n} outlets)",
        factors,
    )


def region_response(
    lines: pl.DataFrame,
    visits: pl.DataFrame | None,
    window: ScoringWindow,
    config: ScoringConfig,
) -> VisitResponse | None:
    """The region's visit response as the config asks for it: None when `visit_response` is
    off, no signal (every factor 1) when the caller gave no visit history."""
    if not config.visit_response:
        return None
    if visits is None:
        reason = "no visit history given: priorities are not adjusted"
        return VisitResponse(
            False, 0.0, 0.0, 0.0, 0, reason, pl.DataFrame(schema=NO_FACTORS_SCHEMA)
        )
    return visit_response(lines, visits, window, config)


def with_response_factors(priorities: pl.DataFrame, response: VisitResponse | None) -> pl.DataFrame:
    """`priorities` (CustomerId, Priority, ...) with ResponseFactor, 1 for an outlet without a
    factor (no signal, the response off, or an outlet not measured, without both visited and
    untouched weeks: its shrunk response is the mean, i.e. 1), and Priority multiplied by it."""
    factors = pl.DataFrame(schema=NO_FACTORS_SCHEMA) if response is None else response.factors
    return (
        priorities.join(factors, on="CustomerId", how="left", maintain_order="left")
        .with_columns(pl.col("ResponseFactor").fill_null(1.0))
        .with_columns(Priority=pl.col("Priority") * pl.col("ResponseFactor"))
    )
