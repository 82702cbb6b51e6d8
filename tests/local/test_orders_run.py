"""`visitrank order` on files: the as-of cut-off on load, the documents, the CLI wiring."""

from __future__ import annotations

import argparse
import json
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from scoring.config import ScoringConfig
from scoring.orders import OrderConfig, propose_orders
from scoring.orders import development as development_module
from scoring.orders.development import PUSHED_SCHEMA, WeekScores, scored_gaps
from visitrank.adapters.file_source import FileSource
from visitrank.adapters.local_stage import write_quarantine
from visitrank.adapters.score_store import FolderScores
from visitrank.lab.demo_data import DemoSpec, write_demo
from visitrank.local import run as local_run
from visitrank.local.cli_orders import add_parsers
from visitrank.local.orders import run_orders
from visitrank.local.run import SCORE_HISTORY, run_local
from visitrank.pipeline.orders import load_order_inputs, week_scores_by_area
from visitrank.pipeline.score_history import scoring_fingerprint

AS_OF = date(2026, 10, 4)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("orders_demo")
    write_demo(DemoSpec(outlets=200, reps=6, skus=30, weeks=40, areas=2), folder)
    return folder


def test_as_of_cuts_every_dated_table_on_load(demo: Path, tmp_path: Path) -> None:
    full = load_order_inputs(FileSource(demo), None)
    cut = load_order_inputs(
        FileSource(demo), AS_OF, lambda rows: write_quarantine(rows, tmp_path / "q")
    )
    assert full.inputs.lines["SaleDate"].max() > AS_OF
    assert cut.as_of == AS_OF
    assert cut.inputs.lines["SaleDate"].max() <= AS_OF
    assert cut.inputs.last_visits["LastVisitDate"].max() <= AS_OF
    # Lines of later sales are not read at all (not quarantined as unknown_sale).
    assert "unknown_sale" not in cut.quarantined.get("MV_SalesDetail", {})

    # The same proposal as on a copy physically truncated at the as-of date.
    truncated = tmp_path / "truncated"
    truncated.mkdir()
    sales = pl.read_parquet(demo / "MV_Sales.parquet")
    for path in demo.glob("*.parquet"):
        frame = pl.read_parquet(path)
        if path.stem == "MV_Sales":
            frame = frame.filter(pl.col("SaleDate") <= AS_OF)
        elif path.stem == "MV_SalesDetail":
            later = sales.filter(pl.col("SaleDate") > AS_OF).select("SaleId")
            frame = frame.join(later, on="SaleId", how="anti")
        elif path.stem == "MV_Visit":
            frame = frame.filter(pl.col("VisitDate") <= AS_OF)
        frame.write_parquet(truncated / path.name)
    config = OrderConfig(lookback_weeks=16)
    a, _, _ = run_orders(demo, tmp_path / "a", config, None, as_of=AS_OF)
    b, _, _ = run_orders(truncated, tmp_path / "b", config, None, as_of=AS_OF)
    assert a.read_text() == b.read_text()


def test_order_command_writes_one_document_per_customer(demo: Path, tmp_path: Path) -> None:
    parser = argparse.ArgumentParser()
    add_parsers(parser.add_subparsers(dest="command"))
    customer = int(pl.read_parquet(demo / "MV_Sales.parquet")["CustomerId"][0])
    args = parser.parse_args(
        ["order", "--source", str(demo), "--out", str(tmp_path), "--as-of", "2026-10-04",
         "--customer", str(customer), "--no-scoring", "--set", "orders.lookback_weeks=16"]
    )  # fmt: skip
    assert args.func(args) == 0
    documents = [json.loads(line) for line in (tmp_path / "orders.jsonl").read_text().splitlines()]
    assert [d["customerId"] for d in documents] == [customer]
    assert documents[0]["asOf"] == "2026-10-04"
    line = documents[0]["lines"][0]
    assert set(line) == {"itemId", "itemName", "quantity", "kind", "probability", "reason"}
    assert line["kind"] == "usual" and line["quantity"] >= 1
    assert (tmp_path / "order_history.parquet").is_file()


def test_replay_feeds_the_first_proposals_outcome_into_the_second(demo: Path) -> None:
    from visitrank.lab.order_backtest import backtest, replay

    config = OrderConfig(lookback_weeks=16)
    first_as_of, as_of = date(2026, 9, 20), AS_OF
    run = replay(demo, first_as_of, as_of, config, None)
    assert run.first.as_of == first_as_of and run.with_feedback.as_of == as_of

    # Accepted = the item is in the customer's first order in (first_as_of, as_of], recomputed
    # here from the raw lines; customers without such an order are pending (not scored).
    lines = load_order_inputs(FileSource(demo), as_of).inputs.lines.filter(pl.col("Quantity") > 0)
    between = lines.filter(pl.col("SaleDate") > first_as_of)
    next_day = between.group_by("CustomerId").agg(Day=pl.col("SaleDate").min())
    bought = between.join(next_day, on="CustomerId").filter(pl.col("SaleDate") == pl.col("Day"))
    expected = (
        run.first.lines.join(next_day, on="CustomerId", how="semi")
        .join(
            bought.select("CustomerId", "ItemId").unique().with_columns(Hit=pl.lit(True)),
            on=["CustomerId", "ItemId"],
            how="left",
        )
        .select("CustomerId", "ItemId", pl.col("Hit").fill_null(False))
        .sort("CustomerId", "ItemId")
    )
    got = run.outcomes.select("CustomerId", "ItemId", "Accepted").sort("CustomerId", "ItemId")
    assert got.height == expected.height > 0
    assert got["Accepted"].to_list() == expected["Hit"].to_list()
    assert 0 < int(got["Accepted"].sum()) < got.height

    # The second proposal's usual odds are the plain proposal's times the customer's factor.
    factors = run.factors.filter(pl.col("Group") == "usual").select("CustomerId", "Factor")
    assert factors.height > 0 and (factors["Factor"] != 1.0).any()
    both = (
        run.with_feedback.lines.filter(pl.col("Kind") == "usual")
        .join(
            run.plain.lines.select("CustomerId", "ItemId", pl.col("Probability").alias("Plain")),
            on=["CustomerId", "ItemId"],
        )
        .join(factors, on="CustomerId", how="left")
        .filter(pl.col("Plain") < 0.998)
        .with_columns(pl.col("Factor").fill_null(1.0))
    )
    odds = pl.col("Probability") / (1 - pl.col("Probability"))
    plain_odds = pl.col("Plain") / (1 - pl.col("Plain"))
    ratio = both.select((odds / plain_odds / pl.col("Factor") - 1).abs().max()).item()
    assert both.height > 0 and ratio < 1e-6

    report = backtest(demo, as_of + timedelta(days=1), config, None, first_as_of + timedelta(1))
    assert list(report["methods"])[:2] == ["visitrank", "visitrank_feedback"]
    assert report["feedback"]["scoredLines"] == got.height
    assert report["feedback"]["linesChanged"] > 0
    assert report["commonLines"]["top_frequency"]["lines"] > 0


def test_failing_orders_never_block_the_lists(
    demo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Fault injection: the proposed orders raise; as in the Azure run the lists are written
    without any `proposedOrder` key (no proposal computed, not "nothing to propose"), the run is
    "partial" and the summary names the error."""

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("orders exploded")

    monkeypatch.setattr("visitrank.local.run.run_orders", broken)
    result = run_local(demo, tmp_path / "out", ScoringConfig(), order_config=OrderConfig())
    assert result.status == "partial"
    assert result.summary["failedRegions"] == []
    assert result.summary["orders"]["error"] == "RuntimeError: orders exploded"
    assert result.summary["orders"]["status"] == "failed"
    assert result.summary["orders"]["documents"] == 0
    visits = [json.loads(line)["visits"] for line in result.lists_path.read_text().splitlines()]
    assert any(visits)
    assert all("proposedOrder" not in visit for doc in visits for visit in doc)


def test_the_regions_proposed_on_a_worker_pool_give_the_same_documents(
    demo: Path, tmp_path: Path
) -> None:
    """The weekly run proposes the regions' orders on its worker pool (`mapper`): the same
    documents as one region after the other, joined in area order whatever order the regions
    finish in."""
    from visitrank.local.region_pool import worker_pool

    seen: list[int] = []

    def backwards(step: Any, tasks: list[Any]) -> list[Any]:
        seen.extend(int(task.inputs.customers["AreaId"][0]) for task in tasks)
        return list(reversed([step(task) for task in reversed(tasks)]))

    config, scoring = OrderConfig(lookback_weeks=16), ScoringConfig()
    plain, _, _ = run_orders(demo, tmp_path / "plain", config, scoring, as_of=AS_OF)
    shuffled, _, _ = run_orders(
        demo, tmp_path / "reversed", config, scoring, as_of=AS_OF, mapper=backwards
    )
    with worker_pool(2) as pool:
        pooled, _, _ = run_orders(
            demo, tmp_path / "pool", config, scoring, as_of=AS_OF, mapper=pool.map
        )
    assert seen == [1, 2]  # one task per region, in area order
    assert plain.read_text() == shuffled.read_text() == pooled.read_text()
    assert len(plain.read_text().splitlines()) > 100


def test_week_scores_reused_give_the_orders_their_own_scoring_gives(demo: Path) -> None:
    """The weekly run hands its scoring of the as-of date to the orders: with the same scores,
    the proposal is the one that scores the customers itself; the development lines are then
    read from those scores alone (the as-of scoring is not run again)."""
    loaded = load_order_inputs(FileSource(demo), AS_OF)
    # every novelty shown, so that the development part is visible
    inputs, scoring = loaded.inputs, ScoringConfig()
    config = OrderConfig(novelty_min_probability=0.0, max_new_items=20)
    gaps, segments = scored_gaps(
        inputs.customers, inputs.items, inputs.lines, inputs.last_visits, AS_OF, scoring
    )
    scores = WeekScores(gaps, segments)
    own = propose_orders(inputs, AS_OF, config, scoring)
    reused = propose_orders(inputs, AS_OF, config, scoring, week_scores=scores)
    assert own.lines.filter(pl.col("Kind") == "development").height > 0
    # the same up to the last bit of a probability (the logistic fit's sums in BLAS)
    assert_frame_equal(reused.lines, own.lines, check_exact=False, rel_tol=1e-12, abs_tol=1e-12)
    assert_frame_equal(reused.customers, own.customers)

    # one gap of the week, a customer's only one: its development line, by hand
    customer = int(inputs.lines["CustomerId"].sort()[0])
    bought = inputs.lines.filter(pl.col("CustomerId") == customer)["ItemId"].unique()
    item = int(gaps.filter(~pl.col("ItemId").is_in(bought.implode()))["ItemId"][0])
    price = inputs.items.filter(pl.col("ItemId") == item)["UnitPrice"].item()
    one = pl.DataFrame(
        {
            "CustomerId": [customer],
            "ItemId": [item],
            "IndexScore": [20.0],
            "Actual": [0.0],
            "Expected": [8.0 * price],  # 8 units a week missing
            "GapValue": [8.0 * price],
            "SkuRank": [1],
            "Peers": [30],
            "Basis": ["peers"],
        },
        schema=PUSHED_SCHEMA,
    )
    # the only development line is the planted gap
    planted = propose_orders(inputs, AS_OF, config, scoring, week_scores=WeekScores(one, segments))
    development = planted.lines.filter(pl.col("Kind") == "development")
    assert development.select("CustomerId", "ItemId").rows() == [(customer, item)]
    gap_days = planted.customers.filter(pl.col("CustomerId") == customer)["GapDays"].item()
    # half (development_quantity_share) of the 8 missing units a week over the order's gap
    assert development["Quantity"].item() == max(1.0, round(8.0 * gap_days / 7.0 * 0.5))
    assert development["Reason"].item() == (
        f"under-bought: index 20 vs 30 peers, gap {round(8.0 * price)}/week"
    )


def test_week_scores_by_area_split_the_runs_scores_and_drop_pseudo_items() -> None:
    outlets = pl.DataFrame(
        {"CustomerId": [1, 2, 3], "AreaId": [10, 20, 10], "Segment": ["a", "b", None]}
    )
    skus = pl.DataFrame(
        {
            "CustomerId": [1, 2, 3, 3],
            "ItemId": [7, 8, 9, -4],
            "IndexScore": [10.0, 20.0, 30.0, 5.0],
            "Actual": [1.0, 2.0, 3.0, 0.0],
            "Expected": [5.0, 6.0, 7.0, 9.0],
            "GapValue": [4.0, 4.0, 4.0, 9.0],
            "SkuRank": [1, 1, 1, 2],
            "Peers": [12, 13, 14, 15],
            "Basis": ["peers"] * 4,
            "ItemName": ["x"] * 4,
        }
    )
    by_area = week_scores_by_area(outlets, skus)
    assert sorted(by_area) == [10, 20]
    assert by_area[10].gaps.select("CustomerId", "ItemId").rows() == [(1, 7), (3, 9)]
    assert by_area[10].gaps.columns == list(PUSHED_SCHEMA)
    assert by_area[10].segments.rows() == [(1, "a"), (3, None)]
    assert by_area[20].gaps.select("CustomerId", "ItemId").rows() == [(2, 8)]


def scorings_of_the_orders(monkeypatch: pytest.MonkeyPatch) -> list[date]:
    """The dates the weekly run's orders score customers as of (one entry per scoring),
    filled as the run goes: its orders' regions run in this process (not on the spawned
    workers), the real scoring counted on the way."""
    dates: list[date] = []
    original = development_module.scored_gaps

    def counting(*args: Any, **kwargs: Any) -> tuple[pl.DataFrame, pl.DataFrame]:
        dates.append(args[4])
        return original(*args, **kwargs)

    monkeypatch.setattr(development_module, "scored_gaps", counting)
    run_orders_on_pool = local_run.run_orders

    def in_process(*args: Any, **kwargs: Any) -> Any:
        return run_orders_on_pool(*args, **{**kwargs, "mapper": map})

    monkeypatch.setattr(local_run, "run_orders", in_process)
    return dates


def test_the_weekly_run_proposes_development_lines_from_its_own_scores(
    demo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In the weekly run the orders score only the calibration date: every region scored, so
    the as-of scoring is never run a second time, and each development line is one of the SKUs
    its customer's visit pushes when the customer is on a list."""
    dates = scorings_of_the_orders(monkeypatch)
    config = OrderConfig(novelty_min_probability=0.0, max_new_items=20)
    result = run_local(demo, tmp_path / "out", ScoringConfig(), order_config=config)
    as_of = date.fromisoformat(result.summary["asOf"])
    calibration = as_of - timedelta(days=7 * OrderConfig().calibration_weeks)
    assert dates and set(dates) == {calibration}  # one per region, never as of the week
    pushed = {
        (visit["customerId"], sku["itemId"])
        for doc in map(json.loads, result.lists_path.read_text().splitlines())
        for visit in doc["visits"]
        for sku in visit["skus"]
    }
    listed = {customer for customer, _ in pushed}
    orders = [
        json.loads(line) for line in (tmp_path / "out" / "orders.jsonl").read_text().splitlines()
    ]
    development = [
        (order["customerId"], line["itemId"])
        for order in orders
        if order["customerId"] in listed
        for line in order["lines"]
        if line["kind"] == "development"
    ]
    assert development and all(pair in pushed for pair in development)


def test_kept_scores_calibrate_like_the_scores_of_that_date(demo: Path) -> None:
    """Calibrating on kept scores of the calibration date gives the proposal that scores that
    date itself, when the scores are the same; kept scores too far from it are refused."""
    loaded = load_order_inputs(FileSource(demo), AS_OF)
    inputs, scoring = loaded.inputs, ScoringConfig()
    config = OrderConfig(novelty_min_probability=0.0, max_new_items=20)
    then = AS_OF - timedelta(weeks=config.calibration_weeks)
    gaps, segments = scored_gaps(
        inputs.customers, inputs.items, inputs.lines, inputs.last_visits, then, scoring
    )
    own = propose_orders(inputs, AS_OF, config, scoring)
    kept = propose_orders(
        inputs, AS_OF, config, scoring, calibration_scores=WeekScores(gaps, segments, then)
    )
    assert_frame_equal(kept.lines, own.lines, check_exact=False, rel_tol=1e-12, abs_tol=1e-12)
    too_far = WeekScores(gaps, segments, then - timedelta(days=4))
    with pytest.raises(ValueError, match=str(then - timedelta(days=4))):
        propose_orders(inputs, AS_OF, config, scoring, calibration_scores=too_far)


def test_a_later_weekly_run_calibrates_its_orders_on_the_kept_scores(
    demo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each weekly run keeps its regions' scores; the run `calibration_weeks` later calibrates
    its orders on them and scores no region for its orders at all."""
    last_sale = pl.read_parquet(demo / "MV_Sales.parquet")["SaleDate"].max()
    assert isinstance(last_sale, date)
    week = last_sale + timedelta(days=7 - last_sale.weekday())  # the Monday after
    config = OrderConfig()
    earlier = week - timedelta(weeks=config.calibration_weeks)
    out = tmp_path / "out"
    first = run_local(demo, out, ScoringConfig(), week_start=earlier, order_config=config)
    first_as_of = date.fromisoformat(first.summary["asOf"])
    assert first.summary["orders"]["calibration"] == {"keptScores": [], "scored": [1, 2]}
    kept = FolderScores(out / SCORE_HISTORY)
    fingerprint = scoring_fingerprint(ScoringConfig())
    assert [kept.weeks(area, fingerprint) for area in (1, 2)] == [[first_as_of]] * 2
    # what the first week's lists pushed is what was kept
    pushed = {
        (visit["customerId"], sku["itemId"])
        for doc in map(json.loads, first.lists_path.read_text().splitlines())
        for visit in doc["visits"]
        for sku in visit["skus"]
    }
    kept_pairs = pl.concat([kept.read(first_as_of, area).gaps for area in (1, 2)])
    assert pushed and pushed <= set(kept_pairs.select("CustomerId", "ItemId").iter_rows())

    dates = scorings_of_the_orders(monkeypatch)
    second = run_local(demo, out, ScoringConfig(), week_start=week, order_config=config)
    second_as_of = date.fromisoformat(second.summary["asOf"])
    assert abs((second_as_of - timedelta(weeks=8) - first_as_of).days) <= 3
    assert dates == []  # neither the week nor the calibration scored again
    assert second.summary["orders"]["documents"] > 0
    assert second.summary["orders"]["calibration"] == {"keptScores": [1, 2], "scored": []}
    assert [kept.weeks(area, fingerprint) for area in (1, 2)] == [[first_as_of, second_as_of]] * 2


def test_scores_that_cannot_be_kept_never_fail_the_week(demo: Path, tmp_path: Path) -> None:
    """Keeping the week's scores only saves later runs work: when it fails (here the history
    folder's place is taken by a file), the lists and the orders are written all the same."""
    out = tmp_path / "out"
    out.mkdir()
    (out / SCORE_HISTORY).write_text("not a folder", "utf-8")
    result = run_local(demo, out, ScoringConfig(), order_config=OrderConfig())
    assert result.status == "complete"
    assert result.summary["orders"]["documents"] > 0
    assert result.lists_path.read_text().strip()
    assert (out / SCORE_HISTORY).read_text("utf-8") == "not a folder"
