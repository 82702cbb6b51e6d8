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
  size (everyone's when it has none), each with its median quantity over all customers;
* at visitrank's length (as many lines per customer as visitrank proposes, so that F1 compares
  the rankings, not the list lengths): personal top-frequency (`top_frequency_same_length`)
  and TIFU-KNN (`tifu_knn`, Hu et al., SIGIR 2020: time-decayed item-frequency vectors over
  groups of past orders, a user-KNN over them, prediction = alpha x own vector + (1 - alpha) x
  the neighbours' mean).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from scipy import sparse
from sklearn.neighbors import NearestNeighbors

from scoring.config import ScoringConfig
from scoring.orders import OrderConfig, OrderProposal, feedback
from scoring.orders.rhythm import baskets
from visitrank.adapters.file_source import FileSource
from visitrank.pipeline.orders import history_lines, load_order_inputs, propose_by_region

METHODS = (
    "visitrank",
    "top_frequency",
    "repeat_last",
    "global_popularity",
    "top_frequency_same_length",
    "tifu_knn",
)
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


@dataclass(frozen=True)
class TifuParams:
    """TIFU-KNN hyper-parameters. Defaults: the authors' Dunnhumby setting (their code's
    run line: 900 neighbours, within-group decay 0.9, group decay 0.6, alpha 0.2, the history
    split into 3 groups; the code's `group_size` argument is the number of groups)."""

    neighbours: int = 900
    within_decay: float = 0.9
    group_decay: float = 0.6
    alpha: float = 0.2
    groups: int = 3


def tifu_vectors(past: pl.DataFrame, groups: int, within: float, across: float) -> pl.DataFrame:
    """CustomerId, ItemId, Value: each customer's TIFU-KNN vector. `past`: CustomerId,
    SaleDate, ItemId (an order = a customer's purchases of one day). Its n orders (oldest
    first) are split into min(n, groups) consecutive groups (the first n mod G one order
    longer); a group's vector is sum_j within^(len-1-j) x basket_j / len, the customer's is
    sum_g across^(G-1-g) x group_g / G."""
    orders = (
        past.select("CustomerId", "SaleDate")
        .unique()
        .sort("CustomerId", "SaleDate")
        .with_columns(K=pl.int_range(pl.len()).over("CustomerId"), N=pl.len().over("CustomerId"))
        .with_columns(G=pl.min_horizontal(pl.col("N"), pl.lit(groups)))
        .with_columns(Q=pl.col("N") // pl.col("G"), R=pl.col("N") % pl.col("G"))
    )
    long_part = pl.col("R") * (pl.col("Q") + 1)  # orders in the longer groups
    in_long = pl.col("K") < long_part
    orders = orders.with_columns(
        Group=pl.when(in_long)
        .then(pl.col("K") // (pl.col("Q") + 1))
        .otherwise(pl.col("R") + (pl.col("K") - long_part) // pl.col("Q")),
        Pos=pl.when(in_long)
        .then(pl.col("K") % (pl.col("Q") + 1))
        .otherwise((pl.col("K") - long_part) % pl.col("Q")),
        Len=pl.when(in_long).then(pl.col("Q") + 1).otherwise(pl.col("Q")),
    ).with_columns(
        Weight=pl.lit(within).pow(pl.col("Len") - 1 - pl.col("Pos"))
        / pl.col("Len")
        * pl.lit(across).pow(pl.col("G") - 1 - pl.col("Group"))
        / pl.col("G")
    )
    return (
        past.select("CustomerId", "SaleDate", "ItemId")
        .unique()
        .join(orders.select("CustomerId", "SaleDate", "Weight"), on=["CustomerId", "SaleDate"])
        .group_by("CustomerId", "ItemId")
        .agg(Value=pl.col("Weight").sum().cast(pl.Float64))
        .sort("CustomerId", "ItemId")
    )


def tifu_knn(
    past: pl.DataFrame, lengths: pl.DataFrame, params: TifuParams = TifuParams()
) -> pl.DataFrame:
    """TIFU-KNN proposals (CustomerId, ItemId, Score, Rank) of `lengths` (CustomerId, Lines)
    customers: the Lines items of highest alpha x own vector + (1 - alpha) x the mean vector
    of its `neighbours` nearest other customers (Euclidean, over every customer of `past`)."""
    vectors = tifu_vectors(past, params.groups, params.within_decay, params.group_decay)
    schema = {"CustomerId": pl.Int64, "ItemId": pl.Int64, "Score": pl.Float64, "Rank": pl.Int64}
    if vectors.height == 0 or lengths.height == 0:
        return pl.DataFrame(schema=schema)
    cust_ids = np.unique(vectors["CustomerId"].to_numpy())
    item_ids = np.unique(vectors["ItemId"].to_numpy())
    rows = np.searchsorted(cust_ids, vectors["CustomerId"].to_numpy())
    cols = np.searchsorted(item_ids, vectors["ItemId"].to_numpy())
    matrix = sparse.csr_matrix(
        (vectors["Value"].to_numpy(), (rows, cols)), shape=(len(cust_ids), len(item_ids))
    )
    wanted = lengths.join(
        pl.DataFrame({"CustomerId": cust_ids}), on="CustomerId", how="semi"
    ).filter(pl.col("Lines") > 0)
    targets = np.searchsorted(cust_ids, wanted["CustomerId"].to_numpy())
    k = min(params.neighbours, len(cust_ids) - 1)
    if k > 0:
        knn = NearestNeighbors(n_neighbors=k + 1, algorithm="brute").fit(matrix)
        found = knn.kneighbors(matrix[targets], return_distance=False)
        # Drop the customer itself (ties at distance 0 can put it anywhere in the row).
        own = found == targets[:, None]
        keep = np.where(own.any(axis=1)[:, None], ~own, np.arange(k + 1)[None, :] < k)
        neigh = found[keep].reshape(len(targets), k)
        adjacency = sparse.csr_matrix(
            (np.full(neigh.size, 1.0 / k), (np.repeat(np.arange(len(targets)), k), neigh.ravel())),
            shape=(len(targets), len(cust_ids)),
        )
        scores = params.alpha * matrix[targets] + (1.0 - params.alpha) * (adjacency @ matrix)
    else:
        scores = params.alpha * matrix[targets]
    scores = sparse.csr_matrix(scores)
    n_lines = wanted["Lines"].to_numpy()
    out_c, out_i, out_s = [], [], []
    for r in range(len(targets)):  # one sparse row per customer: its non-zero items only
        start, end = scores.indptr[r], scores.indptr[r + 1]
        values, idx = scores.data[start:end], scores.indices[start:end]
        order = np.lexsort((item_ids[idx], -values))[: n_lines[r]]
        out_c.append(np.full(len(order), cust_ids[targets[r]]))
        out_i.append(item_ids[idx[order]])
        out_s.append(values[order])
    if not out_c:
        return pl.DataFrame(schema=schema)
    return pl.DataFrame(
        {
            "CustomerId": np.concatenate(out_c),
            "ItemId": np.concatenate(out_i),
            "Score": np.concatenate(out_s),
        },
        schema={"CustomerId": pl.Int64, "ItemId": pl.Int64, "Score": pl.Float64},
    ).with_columns(Rank=pl.int_range(1, pl.len() + 1).over("CustomerId").cast(pl.Int64))


def same_length_baselines(
    lines: pl.DataFrame, as_of: date, lengths: pl.DataFrame, config: OrderConfig
) -> dict[str, pl.DataFrame]:
    """`top_frequency_same_length` (the customer's items in most look-back orders, ties: the
    most recent first, then ItemId) and `tifu_knn` (every order up to `as_of`), each with
    `lengths` (CustomerId, Lines) lines per customer and the item's median past quantity."""
    start = as_of - timedelta(days=7 * config.lookback_weeks - 1)
    every = baskets(lines.filter(pl.col("SaleDate") <= as_of))
    past = every.filter(pl.col("SaleDate") >= start)
    quantity = every.group_by("CustomerId", "ItemId").agg(
        Quantity=pl.col("Quantity").median().round(0).clip(lower_bound=1.0)
    )
    top = (
        past.group_by("CustomerId", "ItemId")
        .agg(Orders=pl.len(), Last=pl.col("SaleDate").max())
        .join(lengths, on="CustomerId")
        .sort(["CustomerId", "Orders", "Last", "ItemId"], descending=[False, True, True, False])
        .filter(pl.int_range(pl.len()).over("CustomerId") < pl.col("Lines"))
        .with_columns(Rank=pl.int_range(1, pl.len() + 1).over("CustomerId"))
        .select("CustomerId", "ItemId", "Rank")
    )
    tifu = tifu_knn(every, lengths).select("CustomerId", "ItemId", "Rank")
    return {
        name: frame.join(quantity, on=["CustomerId", "ItemId"], how="left")
        .with_columns(pl.col("Quantity").fill_null(1.0))
        .select("CustomerId", "ItemId", "Quantity", "Rank")
        for name, frame in (("top_frequency_same_length", top), ("tifu_knn", tifu))
    }


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
    first = propose_by_region(
        load_order_inputs(FileSource(source_dir), first_as_of).inputs, first_as_of, config, scoring
    )
    history = history_lines(first)
    inputs = load_order_inputs(FileSource(source_dir), as_of).inputs
    plain = propose_by_region(inputs, as_of, config, scoring)
    with_feedback = propose_by_region(inputs, as_of, config, scoring, history=history)
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
    lines = load_order_inputs(FileSource(source_dir), None).inputs.lines
    run: Replay | None = None
    if replay_from is not None:
        run = replay(source_dir, replay_from - timedelta(days=1), as_of, config, scoring)
        proposal = run.plain
    else:
        loaded = load_order_inputs(FileSource(source_dir), as_of)
        proposal = propose_by_region(loaded.inputs, as_of, config, scoring)
    columns = ("CustomerId", "ItemId", "Quantity", "Rank")
    extra: dict[str, pl.DataFrame] = {}
    if run is not None:
        extra["visitrank_feedback"] = run.with_feedback.lines.select(columns)
    report = compare(lines, at, proposal.lines, config, extra)
    if run is not None:
        report["feedback"] = _feedback_summary(run) | {
            "byKind": _by_kind(run.with_feedback.lines, truth_orders(lines, at))
        }
    return report


def compare(
    lines: pl.DataFrame,
    at: date,
    proposal: pl.DataFrame,
    config: OrderConfig,
    extra: dict[str, pl.DataFrame] | None = None,
) -> dict[str, Any]:
    """The backtest report of visitrank's `proposal` (CustomerId, ItemId, Quantity, Rank,
    Kind; made with data up to the day before `at`) and every baseline against each
    customer's first order on or after `at` in `lines` (all dated lines). `extra`: more
    proposals scored after visitrank's (e.g. `visitrank_feedback`)."""
    as_of = at - timedelta(days=1)
    truth = truth_orders(lines, at)
    before = lines.filter(pl.col("SaleDate") <= as_of)
    bought_before = before.select("CustomerId", "ItemId").unique()
    columns = ("CustomerId", "ItemId", "Quantity", "Rank")
    methods = {"visitrank": proposal.select(columns)} | (extra or {})
    methods |= baselines(before, as_of, config)
    lengths = proposal.group_by("CustomerId").agg(Lines=pl.len())
    methods |= same_length_baselines(before, as_of, lengths, config)
    results = {name: score(frame, truth, bought_before) for name, frame in methods.items()}
    common = {
        name: common_quantity_errors(methods["visitrank"], frame, truth)
        for name, frame in methods.items()
        if name != "visitrank"
    }
    evaluated = truth.select("CustomerId").unique()
    with_lines = proposal.join(evaluated, on="CustomerId", how="semi")["CustomerId"].n_unique()
    return {
        "at": at.isoformat(),
        "asOf": as_of.isoformat(),
        "customersWithNextOrder": evaluated.height,
        "emptyShare": 1.0 - with_lines / evaluated.height if evaluated.height else float("nan"),
        "meanLines": with_lines
        and proposal.join(evaluated, on="CustomerId", how="semi").height / evaluated.height,
        "methods": results,
        "commonLines": common,
        "byKind": _by_kind(proposal, truth),
    }


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
