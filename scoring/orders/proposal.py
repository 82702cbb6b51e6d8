"""The proposed order per customer: usual references + novelties within budget + must-sell.

`propose_orders` is pure (frames in, frames out). The steps:

1. orders and rhythm (`rhythm.py`), item seasonality;
2. candidates at the cut-off: usual references (`usual.py`), development gaps from the scoring
   (`development.py`), range extensions (`extension.py`);
3. the same candidates `calibration_weeks` earlier, labelled by each customer's first order
   after that date (still before the cut-off), fit one logistic calibration per kind;
4. probabilities, adjusted by the feedback history (`feedback.py`);
5. the usual part: each customer's expected basket (`usual.expected_basket`, scaled by
   `basket_scale`, chosen on the calibration proposal when not set) filled with its most
   probable usual references, plus any further reference at or above
   `usual_min_probability`; novelties through the budget (`novelty.py`, the only place a
   probability threshold gates a line); must-sell items. A customer with an order but an
   empty proposal gets an `EmptyReason`.

No row after `as_of` is used (lines after it are dropped on entry).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, timedelta

import polars as pl

from scoring.config import ScoringConfig
from scoring.orders import calibration, development, extension, feedback, novelty, usual
from scoring.orders.config import OrderConfig
from scoring.orders.rhythm import baskets, baskets_until, customer_rhythm, item_seasonality

KINDS = ("usual", "development", "extension", "must-sell")
BASKET_SCALES = (0.5, 0.67, 0.8, 1.0, 1.25, 1.5, 2.0)
"""The expected-basket multipliers `basket_scale=None` chooses from on the calibration proposal."""
LINE_COLUMNS = ("CustomerId", "ItemId", "ItemName", "Quantity", "Kind", "Probability", "Reason")


@dataclass(frozen=True)
class OrderInputs:
    """Clean frames (see docs/data-contract.md).

    customers: CustomerId, AreaId, Channel, Routable (+ CustomerName, RepId, ...)
    items: ItemId, ItemName, UnitPrice, SubCategoryId, CategoryId, BrandId
    lines: CustomerId, ItemId, SaleDate, Quantity, Amount
    last_visits: CustomerId, LastVisitDate
    """

    customers: pl.DataFrame
    items: pl.DataFrame
    lines: pl.DataFrame
    last_visits: pl.DataFrame


@dataclass(frozen=True)
class OrderProposal:
    """lines: one row per proposed line (LINE_COLUMNS + Rank, 1 = first line of the order);
    customers: CustomerId, Orders, LastOrder, IntervalDays, NextOrder, GapDays,
    ExpectedGapDays, BasketLines (expected distinct items), EmptyReason (null unless the
    customer has no line); basket_scale: the expected-basket multiplier used."""

    as_of: date
    lines: pl.DataFrame
    customers: pl.DataFrame
    basket_scale: float = 1.0


@dataclass(frozen=True)
class _Candidates:
    usual: pl.DataFrame
    development: pl.DataFrame
    extension: pl.DataFrame
    rhythm: pl.DataFrame
    segments: pl.DataFrame


def _candidates(
    inputs: OrderInputs,
    lines: pl.DataFrame,
    basket: pl.DataFrame,
    at: date,
    config: OrderConfig,
    scoring: ScoringConfig | None,
    week_scores: development.WeekScores | None = None,
) -> _Candidates:
    """Every candidate line as of `at`; `basket`: `baskets` of the lines up to `at` (or
    later: it is cut here); `week_scores`: the scoring as of `at`, when the caller has it."""
    lines = lines.filter(pl.col("SaleDate") <= at)
    basket = baskets_until(basket, at)
    season = item_seasonality(lines, at, config)
    rhythm = customer_rhythm(basket, at, config)
    usual_frame = usual.item_features(basket, rhythm, season, at, config)
    if scoring is not None:
        if week_scores is not None:
            gaps, segments = week_scores.gaps, week_scores.segments
        else:
            gaps, segments = development.scored_gaps(
                inputs.customers, inputs.items, lines, inputs.last_visits, at, scoring
            )
        dev = development.development_candidates(gaps, inputs.items, rhythm, config)
    else:
        segments = pl.DataFrame(schema=development.SEGMENT_SCHEMA)
        dev = development.development_candidates(
            pl.DataFrame(schema=development.PUSHED_SCHEMA),
            inputs.items,
            rhythm,
            config,
        )
    customers = inputs.customers.select("CustomerId", "Channel").join(
        segments, on="CustomerId", how="left"
    )
    customers = customers.with_columns(pl.col("Segment").fill_null(pl.col("Channel")))
    ext = extension.extension_candidates(
        basket, customers, inputs.items, rhythm, season, at, config
    )
    return _Candidates(usual_frame, dev, ext, rhythm, customers)


def propose_orders(
    inputs: OrderInputs,
    as_of: date,
    config: OrderConfig,
    scoring: ScoringConfig | None = None,
    history: pl.DataFrame | None = None,
    customer_ids: list[int] | None = None,
    week_scores: development.WeekScores | None = None,
    calibration_scores: development.WeekScores | None = None,
) -> OrderProposal:
    """The proposed order of every customer with an order up to `as_of` (or of
    `customer_ids`). `scoring=None` skips the development part (no scoring run). `history`:
    past proposal lines (feedback.HISTORY_SCHEMA) for the feedback adjustment.
    `week_scores`: the week's scoring of these customers as of `as_of` (the weekly run's): the
    development lines are then its SKUs to push; without it they are scored here.
    `calibration_scores`: the kept scores of an earlier week (`calibration_date`), as of their
    own date, which then is the calibration's; without them the customers are scored
    `calibration_weeks` before `as_of`."""
    lines = inputs.lines.filter(pl.col("SaleDate") <= as_of)
    basket = baskets(lines)  # once: the calibration's baskets are its first weeks
    now = _candidates(inputs, lines, basket, as_of, config, scoring, week_scores)
    cal_date = as_of - timedelta(days=7 * config.calibration_weeks)
    if calibration_scores is not None and calibration_scores.as_of is not None:
        slack = abs((calibration_scores.as_of - cal_date).days)
        if slack > development.CALIBRATION_SLACK_DAYS or calibration_scores.as_of >= as_of:
            raise ValueError(
                f"calibration scores as of {calibration_scores.as_of} are not near the "
                f"calibration date {cal_date} of a proposal as of {as_of}"
            )
        cal_date = calibration_scores.as_of
    then = _candidates(inputs, lines, basket, cal_date, config, scoring, calibration_scores)
    actual = calibration.next_orders(basket, cal_date, as_of)

    models = {
        "usual": calibration.fit(calibration.label(then.usual, actual), usual.FEATURES),
        "development": calibration.fit(
            calibration.label(then.development, actual), development.FEATURES
        ),
        "extension": calibration.fit(calibration.label(then.extension, actual), extension.FEATURES),
    }
    usual_p = now.usual.with_columns(
        models["usual"].predict(now.usual, pl.col("Hazard")).alias("Probability")
    )
    scale = config.basket_scale
    if scale is None:
        then_p = then.usual.with_columns(
            models["usual"].predict(then.usual, pl.col("Hazard")).alias("Probability")
        )
        scale = choose_basket_scale(then_p, actual, config)
    dev_p = now.development.with_columns(
        models["development"]
        .predict(now.development, pl.lit(models["development"].base_rate))
        .alias("Probability")
    )
    ext_p = now.extension.with_columns(
        models["extension"]
        .predict(now.extension, pl.col("Score") * pl.lit(models["extension"].base_rate))
        .alias("Probability")
    )
    if history is not None and history.height:
        scored = feedback.outcomes(history, basket, as_of)
        factors = feedback.adjustment_factors(scored, config)
        usual_p = feedback.adjust(usual_p, factors, "usual")
        dev_p = feedback.adjust(dev_p, factors, "novelty")
        ext_p = feedback.adjust(ext_p, factors, "novelty")
    if customer_ids is not None:
        keep = pl.col("CustomerId").is_in(customer_ids)
        usual_p, dev_p, ext_p = usual_p.filter(keep), dev_p.filter(keep), ext_p.filter(keep)

    chosen = usual_lines(usual_p, scale, config)
    fresh = pl.concat(
        [
            dev_p.select("CustomerId", "ItemId", "Quantity", "Probability", "Reason").with_columns(
                Kind=pl.lit("development")
            ),
            ext_p.join(_trial_quantities(lines, as_of, config), on="ItemId", how="left")
            .with_columns(pl.col("Quantity").fill_null(1.0))
            .select("CustomerId", "ItemId", "Quantity", "Probability", "Reason")
            .with_columns(Kind=pl.lit("extension")),
        ]
    )
    fresh = (
        fresh.join(chosen.select("CustomerId", "ItemId"), on=["CustomerId", "ItemId"], how="anti")
        .sort("CustomerId", "ItemId", "Kind")
        .unique(["CustomerId", "ItemId"], keep="first", maintain_order=True)
    )
    novel = novelty.within_budget(fresh, config)
    segment_keys = now.segments
    if customer_ids is not None:
        segment_keys = segment_keys.filter(pl.col("CustomerId").is_in(customer_ids))
    musts = _must_sell(segment_keys, chosen, novel, usual_p, fresh, lines, as_of, config)
    order = pl.concat(
        [
            chosen.select("CustomerId", "ItemId", "Quantity", "Probability", "Reason", "Kind"),
            novel.select("CustomerId", "ItemId", "Quantity", "Probability", "Reason", "Kind"),
            musts,
        ],
        how="vertical_relaxed",
    )
    kind_rank = pl.col("Kind").replace_strict(
        {kind: i for i, kind in enumerate(KINDS)}, return_dtype=pl.Int64
    )
    order = (
        order.join(inputs.items.select("ItemId", "ItemName"), on="ItemId", how="left")
        .with_columns(kind_rank.alias("_kind"))
        .sort(
            ["CustomerId", "_kind", "Probability", "ItemId"], descending=[False, False, True, False]
        )
        .with_columns(Rank=pl.int_range(1, pl.len() + 1).over("CustomerId"))
        .select(*LINE_COLUMNS, "Rank")
    )
    customers = now.rhythm
    if customer_ids is not None:
        customers = customers.filter(pl.col("CustomerId").is_in(customer_ids))
    customers = _empty_reasons(customers, now.usual, order, as_of, config)
    return OrderProposal(as_of=as_of, lines=order, customers=customers, basket_scale=scale)


def _empty_reasons(
    customers: pl.DataFrame,
    usual_frame: pl.DataFrame,
    order: pl.DataFrame,
    as_of: date,
    config: OrderConfig,
) -> pl.DataFrame:
    """`customers` with BasketLines and EmptyReason (null when the customer has a line)."""
    sizes = usual_frame.group_by("CustomerId").agg(
        BasketLines=pl.col("BasketLines").first(), Known=pl.len()
    )
    start = as_of - timedelta(days=7 * config.lookback_weeks - 1)
    reason = (
        pl.when(pl.col("_Lines") > 0)
        .then(pl.lit(None, dtype=pl.String))
        .when(pl.col("LastOrder") < start)
        .then(
            pl.format(
                "no order in the look-back window ({} weeks, from {}): last order on {}",
                pl.lit(config.lookback_weeks),
                pl.lit(start.isoformat()),
                pl.col("LastOrder").dt.to_string("%Y-%m-%d"),
            )
        )
        .when(pl.col("Known").fill_null(0) == 0)
        .then(pl.lit("no item bought in the look-back window"))
        .otherwise(pl.lit("no line selected"))
    )
    return (
        customers.join(sizes, on="CustomerId", how="left")
        .join(order.group_by("CustomerId").agg(_Lines=pl.len()), on="CustomerId", how="left")
        .with_columns(pl.col("_Lines").fill_null(0))
        .with_columns(EmptyReason=reason)
        .drop("_Lines", "Known")
    )


def _selected(usual_p: pl.DataFrame, scale: float, config: OrderConfig) -> pl.Expr:
    """Keep-mask over `usual_p` sorted by customer and falling probability: the first
    round(scale x BasketLines) lines (at least one), or more while the probability is at least
    `usual_min_probability`, at most `max_lines`."""
    rank = pl.int_range(pl.len()).over("CustomerId")
    basket = (pl.col("BasketLines").fill_null(1.0) * scale).round(0).clip(lower_bound=1.0)
    return ((rank < basket) | (pl.col("Probability") >= config.usual_min_probability)) & (
        rank < config.max_lines
    )


def usual_lines(usual_p: pl.DataFrame, scale: float, config: OrderConfig) -> pl.DataFrame:
    """The usual references that make the order (the expected basket filled with the most
    probable items, plus any at or above `usual_min_probability`), with their reason.
    `usual_p`: usual candidates (`usual.item_features`) with a Probability."""
    reason = pl.format(
        "usual: in {} of its last {} orders, about every {} days; last bought {} days ago",
        pl.col("Bought"),
        pl.col("N"),
        pl.col("ItemIntervalDays").round(0).cast(pl.Int64),
        pl.col("DaysSince"),
    )
    return (
        usual_p.sort(["CustomerId", "Probability", "ItemId"], descending=[False, True, False])
        .filter(_selected(usual_p, scale, config))
        .with_columns(Kind=pl.lit("usual"))
        .with_columns(Reason=reason)
    )


def choose_basket_scale(scored: pl.DataFrame, actual: pl.DataFrame, config: OrderConfig) -> float:
    """The `BASKET_SCALES` value whose usual part has the best mean F1 against the customers'
    next orders (`scored`: the calibration proposal's usual candidates with Probability and
    BasketLines; `actual`: CustomerId, ItemId of each customer's next order, every item).
    Ties and no labelled customer: the value closest to 1."""
    truth = actual.group_by("CustomerId").agg(Truth=pl.len())
    labelled = calibration.label(scored, actual).sort(
        ["CustomerId", "Probability", "ItemId"], descending=[False, True, False]
    )
    if labelled.height == 0:
        return 1.0
    best, best_f1 = 1.0, -1.0
    for scale in sorted(BASKET_SCALES, key=lambda s: abs(math.log(s))):
        f1 = (
            labelled.filter(_selected(labelled, scale, config))
            .group_by("CustomerId")
            .agg(Hits=pl.col("Label").sum(), Proposed=pl.len())
            .join(truth, on="CustomerId")
            .select((2 * pl.col("Hits") / (pl.col("Proposed") + pl.col("Truth"))).mean())
            .item()
        )
        if f1 is not None and f1 > best_f1 + 1e-9:
            best, best_f1 = scale, float(f1)
    return best


def _trial_quantities(lines: pl.DataFrame, as_of: date, config: OrderConfig) -> pl.DataFrame:
    """ItemId, Quantity: the item's median line quantity over the look-back window (a first
    order's size), at least 1."""
    start = as_of - timedelta(days=7 * config.lookback_weeks - 1)
    return (
        lines.filter(pl.col("SaleDate").is_between(start, as_of) & (pl.col("Quantity") > 0))
        .group_by("ItemId")
        .agg(Quantity=pl.col("Quantity").median().round(0).clip(lower_bound=1.0))
    )


def _must_sell(
    customers: pl.DataFrame,
    chosen: pl.DataFrame,
    novel: pl.DataFrame,
    usual_p: pl.DataFrame,
    fresh: pl.DataFrame,
    lines: pl.DataFrame,
    as_of: date,
    config: OrderConfig,
) -> pl.DataFrame:
    musts = novelty.must_sell_lines(customers, config)
    already = pl.concat(
        [chosen.select("CustomerId", "ItemId"), novel.select("CustomerId", "ItemId")]
    )
    known = pl.concat(
        [
            usual_p.select("CustomerId", "ItemId", "Probability", "Quantity"),
            fresh.select("CustomerId", "ItemId", "Probability", "Quantity"),
        ]
    ).unique(["CustomerId", "ItemId"], keep="first")
    return (
        musts.join(already, on=["CustomerId", "ItemId"], how="anti")
        .join(known, on=["CustomerId", "ItemId"], how="left")
        .join(
            _trial_quantities(lines, as_of, config).rename({"Quantity": "Trial"}),
            on="ItemId",
            how="left",
        )
        .with_columns(
            Quantity=pl.col("Quantity").fill_null(pl.col("Trial")).fill_null(1.0),
            Probability=pl.col("Probability").fill_null(0.0),
            Reason=pl.format("must-sell for {}", pl.col("SegmentKey")),
            Kind=pl.lit("must-sell"),
        )
        .select("CustomerId", "ItemId", "Quantity", "Probability", "Reason", "Kind")
    )
