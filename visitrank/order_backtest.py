"""`visitrank order-backtest`: the proposed order against the actual next order.

At a cut-off date `at`, every method proposes an order with data up to the day before only;
each customer's first order on or after `at` is the truth. Per customer: precision, recall and
F1 of the lines (items), NDCG of the proposal's ranking, and on the matched lines the absolute
quantity error and the symmetric % error 2|p - a| / (p + a); averaged over the customers with
a next order (customers with nothing proposed and nothing bought in a subset are left out of
that subset). Split into *repeat* items (the customer bought the item before the cut-off) and
*new* items (it never did).

Baselines from the next-basket literature:
* repeat the last order (its items and quantities);
* personal top-frequency: the customer's items in most of its orders over the look-back
  window, as many as its median order size, each with its median quantity;
* global popularity: the items in most orders overall, as many as the customer's median order
  size (everyone's when it has none), each with its median quantity over all customers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import polars as pl

from scoring.config import ScoringConfig
from scoring.orders import OrderConfig, OrderProposal, feedback, propose_orders
from scoring.orders.rhythm import baskets
from visitrank.orders_run import history_lines, load_order_inputs

METHODS = ("visitrank", "top_frequency", "repeat_last", "global_popularity")
"""The methods of every backtest (`visitrank_feedback` follows `visitrank` in a replay)."""


def truth_orders(lines: pl.DataFrame, at: date) -> pl.DataFrame:
    """CustomerId, ItemId, Actual (quantity) of each customer's first order on or after `at`."""
    after = baskets(lines.filter(pl.col("SaleDate") >= at))
    first = after.group_by("CustomerId").agg(First=pl.col("SaleDate").min())
    return (
        after.join(first, on="CustomerId")
        .filter(pl.col("SaleDate") == pl.col("First"))
        .select("CustomerId", "ItemId", pl.col("Quantity").alias("Actual"))
    )


def baselines(lines: pl.DataFrame, as_of: date, config: OrderConfig) -> dict[str, pl.DataFrame]:
    """Proposals (CustomerId, ItemId, Quantity, Rank) of the three baselines at `as_of`."""
    start = as_of - timedelta(days=7 * config.lookback_weeks - 1)
    past = baskets(lines.filter(pl.col("SaleDate").is_between(start, as_of)))
    last = past.filter(pl.col("SaleDate") == pl.col("SaleDate").max().over("CustomerId"))
    repeat_last = last.sort(["CustomerId", "Quantity"], descending=[False, True]).select(
        "CustomerId", "ItemId", "Quantity"
    )
    sizes = (
        past.group_by("CustomerId", "SaleDate")
        .len()
        .group_by("CustomerId")
        .agg(Size=pl.col("len").median().round(0).cast(pl.Int64))
    )
    top = (
        past.group_by("CustomerId", "ItemId")
        .agg(Orders=pl.len(), Quantity=pl.col("Quantity").median())
        .join(sizes, on="CustomerId")
        .sort(["CustomerId", "Orders", "ItemId"], descending=[False, True, False])
        .filter(pl.int_range(pl.len()).over("CustomerId") < pl.col("Size"))
        .select("CustomerId", "ItemId", "Quantity")
    )
    popular = (
        past.group_by("ItemId")
        .agg(Orders=pl.len(), Quantity=pl.col("Quantity").median())
        .sort(["Orders", "ItemId"], descending=[True, False])
        .with_columns(Pos=pl.int_range(pl.len()))
    )
    customers = lines.select("CustomerId").unique().join(sizes, on="CustomerId", how="left")
    median_size = sizes["Size"].median()
    default_size = int(median_size) if isinstance(median_size, int | float) else 10
    glob = (
        customers.with_columns(pl.col("Size").fill_null(default_size))
        .join(popular, how="cross")
        .filter(pl.col("Pos") < pl.col("Size"))
        .select("CustomerId", "ItemId", "Quantity")
    )
    ranked = {}
    for name, frame in {
        "top_frequency": top,
        "repeat_last": repeat_last,
        "global_popularity": glob,
    }.items():
        ranked[name] = frame.with_columns(
            Quantity=pl.col("Quantity").round(0).clip(lower_bound=1.0),
            Rank=pl.int_range(1, pl.len() + 1).over("CustomerId"),
        )
    return ranked


def _ndcg(joined: pl.DataFrame, truth_sizes: pl.DataFrame) -> pl.DataFrame:
    """CustomerId, NDCG from proposal rows with Rank and Hit."""
    dcg = joined.group_by("CustomerId").agg(
        DCG=(pl.col("Hit").cast(pl.Float64) / (pl.col("Rank") + 1).cast(pl.Float64).log(2)).sum(),
        Proposed=pl.len(),
    )
    frame = truth_sizes.join(dcg, on="CustomerId", how="left").with_columns(
        pl.col("DCG").fill_null(0.0), pl.col("Proposed").fill_null(0)
    )
    ideal_n = pl.min_horizontal("Truth", "Proposed")
    rows = frame.with_columns(IdealN=ideal_n).to_dicts()
    ideal = {n: sum(1.0 / math.log2(i + 2) for i in range(n)) for n in {r["IdealN"] for r in rows}}
    return pl.DataFrame(
        {
            "CustomerId": [r["CustomerId"] for r in rows],
            "NDCG": [r["DCG"] / ideal[r["IdealN"]] if ideal[r["IdealN"]] else 0.0 for r in rows],
        },
        schema={"CustomerId": pl.Int64, "NDCG": pl.Float64},
    )


def score(
    proposal: pl.DataFrame, truth: pl.DataFrame, bought_before: pl.DataFrame
) -> dict[str, dict[str, float]]:
    """Metrics of one method for subsets all / repeat / new. `proposal`: CustomerId, ItemId,
    Quantity, Rank; `truth`: CustomerId, ItemId, Actual; `bought_before`: CustomerId, ItemId."""
    customers = truth.select("CustomerId").unique()
    prop = proposal.join(customers, on="CustomerId", how="semi")
    seen = bought_before.with_columns(Repeat=pl.lit(True))
    prop = prop.join(seen, on=["CustomerId", "ItemId"], how="left").with_columns(
        pl.col("Repeat").fill_null(False)
    )
    act = truth.join(seen, on=["CustomerId", "ItemId"], how="left").with_columns(
        pl.col("Repeat").fill_null(False)
    )
    joined = prop.join(
        act.select("CustomerId", "ItemId", "Actual"), on=["CustomerId", "ItemId"], how="left"
    ).with_columns(Hit=pl.col("Actual").is_not_null())
    out: dict[str, dict[str, float]] = {}
    for subset, keep in (("all", None), ("repeat", True), ("new", False)):
        p = joined if keep is None else joined.filter(pl.col("Repeat") == keep)
        a = act if keep is None else act.filter(pl.col("Repeat") == keep)
        per = (
            a.group_by("CustomerId")
            .agg(Truth=pl.len())
            .join(
                p.group_by("CustomerId").agg(
                    Proposed=pl.len(),
                    Hits=pl.col("Hit").sum(),
                    AbsErr=(pl.col("Quantity") - pl.col("Actual"))
                    .abs()
                    .filter(pl.col("Hit"))
                    .sum(),
                    SymErr=(
                        2
                        * (pl.col("Quantity") - pl.col("Actual")).abs()
                        / (pl.col("Quantity").abs() + pl.col("Actual").abs())
                    )
                    .filter(pl.col("Hit"))
                    .sum(),
                ),
                on="CustomerId",
                how="full",
                coalesce=True,
            )
            .with_columns(pl.col("Truth", "Proposed", "Hits").fill_null(0))
            .with_columns(
                P=pl.when(pl.col("Proposed") > 0)
                .then(pl.col("Hits") / pl.col("Proposed"))
                .otherwise(0.0),
                R=pl.when(pl.col("Truth") > 0)
                .then(pl.col("Hits") / pl.col("Truth"))
                .otherwise(0.0),
            )
            .with_columns(
                F1=pl.when(pl.col("P") + pl.col("R") > 0)
                .then(2 * pl.col("P") * pl.col("R") / (pl.col("P") + pl.col("R")))
                .otherwise(0.0)
            )
        )
        hits = float(per["Hits"].sum())
        metrics = {
            "customers": float(per.height),
            "precision": _mean(per.filter(pl.col("Proposed") > 0)["P"]),
            "recall": _mean(per.filter(pl.col("Truth") > 0)["R"]),
            "f1": _mean(per["F1"]),
            "lines_proposed": float(per["Proposed"].sum()),
            "lines_hit": hits,
            "qty_mae": float(per["AbsErr"].fill_null(0).sum()) / hits if hits else float("nan"),
            "qty_smape": float(per["SymErr"].fill_null(0).sum()) / hits if hits else float("nan"),
        }
        if keep is None:
            sizes = a.group_by("CustomerId").agg(Truth=pl.len())
            metrics["ndcg"] = _mean(_ndcg(p, sizes)["NDCG"])
        out[subset] = metrics
    return out


def common_quantity_errors(
    proposal: pl.DataFrame, other: pl.DataFrame, truth: pl.DataFrame
) -> dict[str, float]:
    """Quantity errors of two methods on the lines *both* matched (same customer, item in the
    actual order): lines, mae / smape of `proposal` and other_mae / other_smape of `other`."""
    both = (
        truth.join(
            proposal.select("CustomerId", "ItemId", pl.col("Quantity").alias("Q")),
            on=["CustomerId", "ItemId"],
        )
        .join(
            other.select("CustomerId", "ItemId", pl.col("Quantity").alias("O")),
            on=["CustomerId", "ItemId"],
        )
        .with_columns(pl.col("Actual", "Q", "O").cast(pl.Float64))
    )

    def errors(column: str) -> tuple[float, float]:
        err = (pl.col(column) - pl.col("Actual")).abs()
        sym = 2 * err / (pl.col(column).abs() + pl.col("Actual").abs())
        row = both.select(err.mean().alias("mae"), sym.mean().alias("smape")).row(0)
        return (
            float(row[0]) if row[0] is not None else float("nan"),
            float(row[1]) if row[1] is not None else float("nan"),
        )

    mae, smape = errors("Q")
    other_mae, other_smape = errors("O")
    return {
        "lines": float(both.height),
        "mae": mae,
        "smape": smape,
        "other_mae": other_mae,
        "other_smape": other_smape,
    }


def _mean(series: pl.Series) -> float:
    value = series.mean()
    return float(value) if isinstance(value, int | float) else float("nan")


@dataclass(frozen=True)
class Replay:
    """Two successive proposals: `first` at an earlier as-of, `plain` at the cut-off without
    history, `with_feedback` at the cut-off with `first` as its history; `outcomes` are the
    first proposal's lines scored against the orders up to the cut-off (Accepted) and
    `factors` the feedback factors they gave (`feedback.adjustment_factors`)."""

    first: OrderProposal
    plain: OrderProposal
    with_feedback: OrderProposal
    outcomes: pl.DataFrame
    factors: pl.DataFrame


def replay(
    source_dir: Path,
    first_as_of: date,
    as_of: date,
    config: OrderConfig,
    scoring: ScoringConfig | None,
) -> Replay:
    """Proposes at `first_as_of`, then at `as_of` with and without that proposal as the
    feedback history (as `visitrank order` run twice on the same output folder would)."""
    if first_as_of >= as_of:
        raise ValueError(f"the first as-of {first_as_of} must be before {as_of}")
    first = propose_orders(
        load_order_inputs(source_dir, first_as_of).inputs, first_as_of, config, scoring
    )
    history = history_lines(first)
    inputs = load_order_inputs(source_dir, as_of).inputs
    plain = propose_orders(inputs, as_of, config, scoring)
    with_feedback = propose_orders(inputs, as_of, config, scoring, history=history)
    scored = feedback.outcomes(history, baskets(inputs.lines), as_of)
    return Replay(first, plain, with_feedback, scored, feedback.adjustment_factors(scored, config))


def _feedback_summary(run: Replay) -> dict[str, Any]:
    moved = (
        run.with_feedback.lines.join(
            run.plain.lines.select("CustomerId", "ItemId", pl.col("Probability").alias("Plain")),
            on=["CustomerId", "ItemId"],
            how="full",
            coalesce=True,
        )
        .filter(
            pl.col("Probability").is_null()
            | pl.col("Plain").is_null()
            | ((pl.col("Probability") - pl.col("Plain")).abs() > 1e-9)
        )
        .height
    )
    groups = (
        run.factors.group_by("Group")
        .agg(
            Customers=pl.len(),
            Lines=pl.col("Lines").sum(),
            Accepted=pl.col("Accepted").sum(),
            Expected=pl.col("Expected").sum(),
            MeanFactor=pl.col("Factor").mean(),
            Lowered=(pl.col("Factor") < 1).sum(),
            Raised=(pl.col("Factor") > 1).sum(),
        )
        .sort("Group")
        .to_dicts()
    )
    return {
        "firstAsOf": run.first.as_of.isoformat(),
        "firstLines": run.first.lines.height,
        "scoredLines": run.outcomes.height,
        "acceptedLines": int(run.outcomes["Accepted"].sum()),
        "pendingLines": run.first.lines.height - run.outcomes.height,
        "groups": groups,
        "linesChanged": moved,
    }


def backtest(
    source_dir: Path,
    at: date,
    config: OrderConfig,
    scoring: ScoringConfig | None,
    replay_from: date | None = None,
) -> dict[str, Any]:
    """Every method's metrics at cut-off `at` (proposals made with data up to at - 1 day).
    With `replay_from`, a first proposal is made with data up to replay_from - 1 day and the
    cut-off's proposal is made again with it as the feedback history (`visitrank_feedback`)."""
    as_of = at - timedelta(days=1)
    full = load_order_inputs(source_dir, None)
    lines = full.inputs.lines
    truth = truth_orders(lines, at)
    before = lines.filter(pl.col("SaleDate") <= as_of)
    bought_before = before.select("CustomerId", "ItemId").unique()
    run: Replay | None = None
    if replay_from is not None:
        run = replay(source_dir, replay_from - timedelta(days=1), as_of, config, scoring)
        proposal = run.plain
    else:
        loaded = load_order_inputs(source_dir, as_of)
        proposal = propose_orders(loaded.inputs, as_of, config, scoring)
    columns = ("CustomerId", "ItemId", "Quantity", "Rank")
    methods = {"visitrank": proposal.lines.select(columns)}
    if run is not None:
        methods["visitrank_feedback"] = run.with_feedback.lines.select(columns)
    methods |= baselines(before, as_of, config)
    results = {name: score(frame, truth, bought_before) for name, frame in methods.items()}
    common = {
        name: common_quantity_errors(methods["visitrank"], frame, truth)
        for name, frame in methods.items()
        if name != "visitrank"
    }
    kinds = _by_kind(proposal.lines, truth)
    report: dict[str, Any] = {
        "at": at.isoformat(),
        "asOf": as_of.isoformat(),
        "customersWithNextOrder": truth["CustomerId"].n_unique(),
        "methods": results,
        "commonLines": common,
        "byKind": kinds,
    }
    if run is not None:
        report["feedback"] = _feedback_summary(run) | {
            "byKind": _by_kind(run.with_feedback.lines, truth)
        }
    return report


def _by_kind(lines: pl.DataFrame, truth: pl.DataFrame) -> list[dict[str, Any]]:
    """Kind, Lines, Accepted (in the actual next order) of a proposal's lines."""
    return (
        lines.join(truth, on=["CustomerId", "ItemId"], how="left")
        .join(truth.select("CustomerId").unique(), on="CustomerId", how="semi")
        .group_by("Kind")
        .agg(Lines=pl.len(), Accepted=pl.col("Actual").is_not_null().sum())
        .sort("Kind")
        .to_dicts()
    )


def format_table(report: dict[str, Any]) -> str:
    """The backtest as a Markdown table."""
    head = (
        "| method | F1 | precision | recall | NDCG | qty MAE | qty sym % | F1 repeat | "
        "qty MAE repeat | F1 new | precision new | recall new | lines |\n"
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n"
    )
    rows = []
    for name in report["methods"]:
        m = report["methods"][name]
        a, r, n = m["all"], m["repeat"], m["new"]
        rows.append(
            f"| {name} | {a['f1']:.3f} | {a['precision']:.3f} | {a['recall']:.3f} | "
            f"{a['ndcg']:.3f} | {a['qty_mae']:.2f} | {100 * a['qty_smape']:.1f} | "
            f"{r['f1']:.3f} | {r['qty_mae']:.2f} | {n['f1']:.3f} | {n['precision']:.3f} | "
            f"{n['recall']:.3f} | {int(a['lines_proposed'])} |"
        )
    common = (
        "\n\nQuantity on the lines both matched (visitrank vs the baseline):\n\n"
        "| baseline | common lines | visitrank MAE | baseline MAE | visitrank sym % | "
        "baseline sym % |\n| --- | --- | --- | --- | --- | --- |\n"
    )
    common_rows = []
    for name, c in report["commonLines"].items():
        common_rows.append(
            f"| {name} | {int(c['lines'])} | {c['mae']:.2f} | {c['other_mae']:.2f} | "
            f"{100 * c['smape']:.1f} | {100 * c['other_smape']:.1f} |"
        )
    return head + "\n".join(rows) + common + "\n".join(common_rows) + _feedback_text(report)


def _feedback_text(report: dict[str, Any]) -> str:
    fb = report.get("feedback")
    if not fb:
        return ""
    groups = "; ".join(
        f"{g['Group']}: {g['Customers']} customers, {int(g['Accepted'])} accepted of "
        f"{g['Lines']} lines ({g['Expected']:.0f} expected), mean factor "
        f"{g['MeanFactor']:.2f} ({g['Lowered']} lowered, {g['Raised']} raised)"
        for g in fb["groups"]
    )
    return (
        f"\n\nFeedback replay: first proposal as of {fb['firstAsOf']} ({fb['firstLines']} lines, "
        f"{fb['acceptedLines']} accepted / {fb['scoredLines']} scored, {fb['pendingLines']} "
        f"pending); {groups}; {fb['linesChanged']} lines of the cut-off's proposal changed; "
        "with feedback, lines by kind (accepted / proposed): "
        + ", ".join(f"{k['Kind']} {k['Accepted']}/{k['Lines']}" for k in fb["byKind"])
        + "."
    )
