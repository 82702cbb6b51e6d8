"""`visitrank order` on files: the as-of cut-off on load, the documents, the CLI wiring."""

from __future__ import annotations

import argparse
import json
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from scoring.config import ScoringConfig
from scoring.orders import OrderConfig
from visitrank.adapters.file_source import FileSource
from visitrank.adapters.local_stage import write_quarantine
from visitrank.lab.demo_data import DemoSpec, write_demo
from visitrank.local.cli_orders import add_parsers
from visitrank.local.orders import run_orders
from visitrank.local.run import run_local
from visitrank.pipeline.orders import load_order_inputs

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
        seen.extend(int(task[0].customers["AreaId"][0]) for task in tasks)
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
