"""End to end: `run_local` on the seeded demo data, checked against the output contract, the
planted truth (bad rows and opportunities), determinism and region isolation.

Expectations are derived from the raw demo tables and truth files, never from engine helpers.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from scoring.config import ScoringConfig
from scoring.peer_segments import peer_segments
from scoring.pipeline import window_totals
from scoring.sku_clusters import cluster_skus
from tests.conftest import RUN_WORKERS, LocalRun, comparable, read_documents
from visitrank.adapters import local_stage
from visitrank.adapters.file_source import FileSource
from visitrank.adapters.local_stage import stage_inputs
from visitrank.contract.quarantine import set_aside_columns
from visitrank.contract.tables import ALL_TABLES
from visitrank.lab.demo_data import DemoSummary
from visitrank.lab.evaluate import evaluate_files
from visitrank.local.run import RUN_SUMMARY, VISIT_LISTS, run_local

Doc = dict[str, Any]


def raw(demo: DemoSummary, table: str) -> pl.DataFrame:
    return pl.read_parquet(demo.table_paths[table])


def has_gps() -> pl.Expr:
    lat, lon = pl.col("Latitude"), pl.col("Longitude")
    return (
        lat.is_not_null()
        & lon.is_not_null()
        & lat.is_finite()
        & lon.is_finite()
        & (lat.abs() <= 90)
        & (lon.abs() <= 180)
        & ~((lat == 0) & (lon == 0))
    )


def routable_per_rep(demo: DemoSummary) -> dict[int, int]:
    customers = raw(demo, "MV_SetupCustomer")
    counts = customers.group_by("RepId").agg(Routable=has_gps().sum())
    return dict(counts.iter_rows())


def owner_and_gps(demo: DemoSummary) -> dict[int, tuple[int, float | None, float | None]]:
    customers = raw(demo, "MV_SetupCustomer")
    return {
        row["CustomerId"]: (row["RepId"], row["Latitude"], row["Longitude"])
        for row in customers.iter_rows(named=True)
    }


def all_visits(documents: list[Doc]) -> list[tuple[Doc, Doc]]:
    return [(d, v) for d in documents for v in d["visits"]]


# --- the run and its documents ----------------------------------------------------------------


def test_run_is_complete_with_one_document_per_owning_rep(
    local_run: LocalRun, demo: DemoSummary
) -> None:
    summary = local_run.result.summary
    assert local_run.result.status == "complete"
    assert summary["status"] == "complete"
    assert summary["failedRegions"] == []
    areas = sorted(raw(demo, "MV_SetupArea")["AreaId"].to_list())
    assert [o["areaId"] for o in summary["regions"]] == areas
    assert all(o["status"] == "ok" for o in summary["regions"])

    owners = set(raw(demo, "MV_SetupCustomer")["RepId"].to_list())
    rep_ids = [d["repId"] for d in local_run.documents]
    assert len(rep_ids) == len(set(rep_ids)), "one document per rep"
    assert set(rep_ids) == owners
    names = dict(raw(demo, "MV_SetupRep").select("RepId", "RepName").iter_rows())
    assert all(d["repName"] == names[d["repId"]] for d in local_run.documents)

    on_disk = json.loads((local_run.out_dir / RUN_SUMMARY).read_text(encoding="utf-8"))
    assert on_disk["status"] == "complete"
    assert on_disk["documents"] == len(local_run.documents)
    assert on_disk["visits"] == sum(len(d["visits"]) for d in local_run.documents)
    assert (local_run.out_dir / VISIT_LISTS).is_file()


def test_document_header_and_dates(local_run: LocalRun, demo: DemoSummary) -> None:
    last_sale = raw(demo, "MV_Sales")["SaleDate"].max()
    assert isinstance(last_sale, date)
    for d in local_run.documents:
        week_start = date.fromisoformat(d["weekStart"])
        as_of = date.fromisoformat(d["asOf"])
        assert d["id"] == f"{d['repId']}:{d['weekStart']}"
        assert week_start.weekday() == 0, "weekStart is a Monday"
        assert as_of < week_start
        # the default week is the one after the last sales day
        assert week_start - timedelta(days=7) <= last_sale < week_start
        assert as_of <= last_sale


def test_documents_say_why_the_learned_steps_did_or_did_not_shape_them(
    local_run: LocalRun,
) -> None:
    """Each rep's document repeats its region's verdict from the run summary, in words."""
    regions = {o["areaId"]: o for o in local_run.result.summary["regions"]}
    customers = {v["customerId"]: d["repId"] for d in local_run.documents for v in d["visits"]}
    assert customers
    for d in local_run.documents:
        steps = d["learnedSteps"]
        assert set(steps) == {"visitResponse", "gapPersistence"}
        verdicts = {
            (o["visitResponse"]["signal"], o["visitResponse"]["reason"]) for o in regions.values()
        }
        response = steps["visitResponse"]
        assert (response["used"], response["why"]) in verdicts
        assert len(response["why"]) > 20


def test_visit_counts_match_routable_outlets(local_run: LocalRun, demo: DemoSummary) -> None:
    routable = routable_per_rep(demo)
    per_week = local_run.config.visits_per_week
    for d in local_run.documents:
        expected = min(per_week, routable[d["repId"]])
        assert len(d["visits"]) == expected, d["id"]
        assert d["summary"]["visits"] == expected, d["id"]
        assert d["summary"]["eligibleOutlets"] == routable[d["repId"]], d["id"]


def test_ranks_days_and_routes(local_run: LocalRun) -> None:
    config = local_run.config
    for d in local_run.documents:
        visits = d["visits"]
        n = len(visits)
        assert sorted(v["rank"] for v in visits) == list(range(1, n + 1)), d["id"]
        days = Counter(v["day"] for v in visits)
        assert set(days) <= set(range(1, config.days_per_week + 1)), d["id"]
        assert max(days.values(), default=0) <= config.max_visits_per_day, d["id"]
        for day, count in days.items():
            orders = sorted(v["routeOrder"] for v in visits if v["day"] == day)
            assert orders == list(range(1, count + 1)), (d["id"], day)
        # day 1 is the day with the most value (priorities are rounded to cents)
        value = Counter()
        for v in visits:
            value[v["day"]] += v["priority"]
        if value:
            assert value[1] >= max(value.values()) - 0.01 * config.max_visits_per_day, d["id"]
        # documents list visits in route order: by day, then routeOrder
        keys = [(v["day"], v["routeOrder"]) for v in visits]
        assert keys == sorted(keys), d["id"]
        ids = [v["customerId"] for v in visits]
        assert len(ids) == len(set(ids)), d["id"]


def test_visits_are_own_outlets_with_gps(local_run: LocalRun, demo: DemoSummary) -> None:
    customers = owner_and_gps(demo)
    pairs = all_visits(local_run.documents)
    assert pairs, "the run produced visits"
    for d, v in pairs:
        rep, lat, lon = customers[v["customerId"]]
        assert rep == d["repId"], (d["id"], v["customerId"])
        assert lat is not None and lon is not None, v["customerId"]
        assert math.isfinite(lat) and math.isfinite(lon) and (lat, lon) != (0.0, 0.0)
        assert v["latitude"] == pytest.approx(lat) and v["longitude"] == pytest.approx(lon)
        assert isinstance(v["reason"], str) and v["reason"].strip(), v["customerId"]


def test_pushed_skus_respect_limits(local_run: LocalRun, demo: DemoSummary) -> None:
    config = local_run.config
    item_ids = set(raw(demo, "MV_SetupItem")["ItemId"].to_list())
    pushed = 0
    for d, v in all_visits(local_run.documents):
        skus = v["skus"]
        assert len(skus) <= config.skus_per_visit, (d["id"], v["customerId"])
        assert len({s["itemId"] for s in skus}) == len(skus)
        for s in skus:
            assert s["itemId"] in item_ids
            assert s["indexScore"] <= config.opportunity_index_max, (v["customerId"], s)
            pushed += 1
        gaps = [s["gapValue"] for s in skus]
        assert gaps == sorted(gaps, reverse=True), "largest gap first"
    assert pushed > 0


def test_every_pushed_sku_has_a_positive_gap(local_run: LocalRun) -> None:
    """The CRM shows gapValue (money per week, 2 decimals): a SKU to push must show a gap."""
    zero = [
        (d["repId"], v["customerId"], s["itemId"], s["gapValue"])
        for d, v in all_visits(local_run.documents)
        for s in v["skus"]
        if not s["gapValue"] > 0
    ]
    assert zero == [], f"{len(zero)} pushed SKU(s) with gapValue <= 0, e.g. {zero[:3]}"


def test_summary_km_is_the_sum_of_the_days(local_run: LocalRun) -> None:
    for d in local_run.documents:
        summary = d["summary"]
        per_day = summary["kmPerDay"]
        used_days = len({v["day"] for v in d["visits"]})
        assert len(per_day) == used_days, d["id"]
        assert all(km >= 0 for km in per_day)
        # km is rounded once from the exact total, each day separately: 0.05 per rounding
        tolerance = max(0.1, 0.05 * (len(per_day) + 1)) + 1e-9
        assert abs(summary["km"] - sum(per_day)) <= tolerance, d["id"]
        if d["visits"]:
            assert summary["kmPerVisit"] == pytest.approx(
                summary["km"] / len(d["visits"]), abs=0.01
            )


# --- quarantine ---------------------------------------------------------------------------------


def key_of(row: dict[str, Any], names: list[str]) -> tuple[tuple[str, int], ...]:
    return tuple((name, int(row[name])) for name in names)


def test_quarantine_holds_exactly_the_planted_bad_rows(
    local_run: LocalRun, demo: DemoSummary
) -> None:
    manifest = json.loads(demo.truth_paths["bad_rows"].read_text(encoding="utf-8"))
    key_names = {(e["table"], e["reason"]): sorted(e["key"]) for e in manifest["rows"]}
    expected = Counter(
        (e["table"], e["reason"], key_of(e["key"], sorted(e["key"]))) for e in manifest["rows"]
    )
    # documented cascade: the lines of a quarantined header follow it (header_quarantined)
    ghost_sales = [
        e["key"]["SaleId"]
        for e in manifest["rows"]
        if (e["table"], e["reason"]) == ("MV_Sales", "unknown_customer")
    ]
    assert ghost_sales, "the demo plants headers with an unknown customer"
    ghost_lines = raw(demo, "MV_SalesDetail").filter(pl.col("SaleId").is_in(ghost_sales))
    assert ghost_lines.height > 0
    cascade_key = ["ItemId", "SaleId"]
    key_names[("MV_SalesDetail", "header_quarantined")] = cascade_key
    expected.update(
        ("MV_SalesDetail", "header_quarantined", key_of(row, cascade_key))
        for row in ghost_lines.iter_rows(named=True)
    )

    folder = local_run.out_dir / "quarantine"
    files = sorted(folder.glob("*.csv"))
    assert files, "quarantine CSVs written"
    found: Counter[tuple[str, str, tuple[tuple[str, int], ...]]] = Counter()
    per_table: dict[str, dict[str, int]] = {}
    for path in files:
        table = path.stem
        assert table in ALL_TABLES, path.name
        rows = pl.read_csv(path, infer_schema=False)
        assert rows.columns == [*set_aside_columns(ALL_TABLES[table]), "Reason"], path.name
        per_table[table] = dict(Counter(rows["Reason"].to_list()))
        for row in rows.iter_rows(named=True):
            names = key_names.get((table, row["Reason"]))
            assert names is not None, f"unexpected quarantined row {table} {row}"
            found[(table, row["Reason"], key_of(row, names))] += 1
    assert found == expected

    summary = json.loads((local_run.out_dir / RUN_SUMMARY).read_text(encoding="utf-8"))
    assert summary["quarantined"] == {name: per_table.get(name, {}) for name in ALL_TABLES}
    assert summary["quarantinedRows"] == sum(expected.values())
    assert summary["inputRows"] == demo.row_counts


def test_no_gps_customers_are_never_visited(local_run: LocalRun, demo: DemoSummary) -> None:
    manifest = json.loads(demo.truth_paths["bad_rows"].read_text(encoding="utf-8"))
    no_gps = {e["key"]["CustomerId"] for e in manifest["rows"] if e["reason"] == "no_gps"}
    assert no_gps
    visited = {v["customerId"] for _, v in all_visits(local_run.documents)}
    assert not visited & no_gps


# --- the planted opportunities ------------------------------------------------------------------


def test_lists_capture_the_planted_opportunities(local_run: LocalRun, demo: DemoSummary) -> None:
    report = evaluate_files(
        demo.truth_paths["opportunities"],
        local_run.result.lists_path,
        demo.out_dir,
        local_run.config,
    )
    ours = report["visitrank"]
    baselines = {name: b["outletShare"] for name, b in report["baselines"].items()}
    assert set(baselines) == {"random", "topRevenue", "longestSinceVisit"}
    assert ours["capturedShare"] >= 0.6, report
    # SKU-level capture beats even the generous outlet-level measure of every baseline ...
    for name, share in baselines.items():
        assert ours["capturedShare"] > share, (name, report)
    # ... and the outlets chosen hold far more planted value than any baseline's
    for name, share in baselines.items():
        assert ours["outletShare"] >= share + 0.2, (name, report)


# --- determinism, bad arguments, region isolation ----------------------------------------------


def test_rerun_gives_identical_documents(
    local_run: LocalRun, demo_dir: Path, tmp_path: Path
) -> None:
    again = run_local(demo_dir, tmp_path, local_run.config, workers=RUN_WORKERS)
    assert again.status == "complete"
    assert again.summary["runId"] != local_run.result.summary["runId"]
    assert comparable(read_documents(again.lists_path)) == comparable(local_run.documents)


def test_week_start_must_be_a_monday(
    demo_dir: Path, run_config: ScoringConfig, tmp_path: Path
) -> None:
    with pytest.raises(ValueError, match=r"2026-11-17 is not a Monday"):
        run_local(demo_dir, tmp_path, run_config, week_start=date(2026, 11, 17), workers=1)
    assert not (tmp_path / VISIT_LISTS).exists()
    summary = json.loads((tmp_path / RUN_SUMMARY).read_text("utf-8"))  # the run says it failed
    assert summary["status"] == "failed" and "2026-11-17 is not a Monday" in summary["error"]


SEGMENT_REPEATS = 3


def test_segmenting_a_region_is_repeatable(
    demo_dir: Path, run_config: ScoringConfig, tmp_path: Path
) -> None:
    """Root-cause check of run-to-run differences: the same region inputs must always give the
    same outlet segments, whatever the order of its rows (k-means and PCA are seeded)."""
    staged = stage_inputs(
        FileSource(demo_dir).read_all(), tmp_path / "clean", tmp_path / "q", None, run_config
    )
    window = staged.window
    area = staged.regions[0]
    inputs = local_stage.load_region(staged.work_dir, area)
    totals = window_totals(inputs.lines, window, run_config.recent_weeks)
    clusters = cluster_skus(
        inputs.items, inputs.lines, window.history_start, window.as_of, run_config
    )
    # the same rows, in a different order each time: the order must not matter either
    results = [
        peer_segments(
            inputs.customers,
            totals.sample(fraction=1.0, shuffle=True, seed=i),
            clusters,
            run_config,
        )
        .select("CustomerId", "Segment")
        .sort("CustomerId")
        for i in range(SEGMENT_REPEATS)
    ]
    for again in results[1:]:
        assert again.equals(results[0]), (
            "segments differ between identical calls: "
            f"{results[0]['Segment'].value_counts().sort('Segment').rows()} vs "
            f"{again['Segment'].value_counts().sort('Segment').rows()}"
        )


HUGE_AMOUNT = 1e308  # finite, so it passes validation and quarantine; its sums overflow


@pytest.fixture(scope="module")
def broken_region_run(
    demo: DemoSummary, run_config: ScoringConfig, tmp_path_factory: pytest.TempPathFactory
) -> tuple[int, Any, list[Doc]]:
    """A copy of the demo where one outlet of the last region has absurd (but finite) sale
    amounts: that region's revenue sums overflow and its scoring raises; the other region is
    untouched. Returns (broken area, run result, documents)."""
    source = tmp_path_factory.mktemp("broken_region")
    customers = raw(demo, "MV_SetupCustomer")
    broken_area = int(customers["AreaId"].max())
    victim = int(customers.filter(pl.col("AreaId") == broken_area)["CustomerId"].min())
    sales = raw(demo, "MV_Sales").filter(pl.col("CustomerId") == victim)["SaleId"]
    assert sales.len() > 0
    detail = raw(demo, "MV_SalesDetail").with_columns(
        pl.when(pl.col("SaleId").is_in(sales.implode()))
        .then(HUGE_AMOUNT)
        .otherwise(pl.col("Amount"))
        .alias("Amount")
    )
    for name, path in demo.table_paths.items():
        if name == "MV_SalesDetail":
            detail.write_parquet(source / path.name)
        else:
            (source / path.name).symlink_to(path)
    out = tmp_path_factory.mktemp("broken_region_out")
    result = run_local(source, out, run_config, workers=RUN_WORKERS)
    return broken_area, result, read_documents(result.lists_path)


def test_a_failing_region_does_not_lose_the_others(
    broken_region_run: tuple[int, Any, list[Doc]], demo: DemoSummary, local_run: LocalRun
) -> None:
    broken_area, result, documents = broken_region_run
    assert result.status == "partial"
    assert result.summary["failedRegions"] == [broken_area]
    outcomes = {o["areaId"]: o for o in result.summary["regions"]}
    assert outcomes[broken_area]["status"] == "failed"
    assert outcomes[broken_area]["error"]
    assert all(o["status"] == "ok" for a, o in outcomes.items() if a != broken_area)
    on_disk = json.loads(result.lists_path.with_name(RUN_SUMMARY).read_text(encoding="utf-8"))
    assert on_disk["status"] == "partial"

    customers = raw(demo, "MV_SetupCustomer")
    healthy_reps = set(customers.filter(pl.col("AreaId") != broken_area)["RepId"].to_list())
    assert healthy_reps
    assert {d["repId"] for d in documents} == healthy_reps
    routable = routable_per_rep(demo)
    for d in documents:
        assert len(d["visits"]) == min(local_run.config.visits_per_week, routable[d["repId"]])
    assert result.summary["documents"] == len(documents)


def test_healthy_region_documents_equal_the_complete_run(
    broken_region_run: tuple[int, Any, list[Doc]], local_run: LocalRun
) -> None:
    _, _, documents = broken_region_run
    complete = {d["repId"]: d for d in comparable(local_run.documents)}
    assert documents
    for d in comparable(documents):
        assert d == complete[d["repId"]], d["id"]
