"""`visitrank backtest`: no look-ahead (nothing dated on or after the cut-off is ever scored),
the side-by-side report, its intervals, its "cannot tell" verdicts and its legend."""

from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest

from scoring.config import ScoringConfig
from visitrank.adapters.file_source import FileSource
from visitrank.lab import backtest as bt
from visitrank.lab.demo_data import DemoSpec, write_demo

SPEC = DemoSpec(outlets=200, reps=4, skus=24, weeks=40, areas=2, seed=5)
AT = SPEC.end_date - timedelta(days=7 * 6 - 1)  # a Monday six weeks before the end


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("backtest_demo")
    write_demo(SPEC, folder)
    return folder


def test_cut_tables_drops_every_row_on_or_after_the_cut_off(source: Path) -> None:
    tables = FileSource(source).read_all()
    cut = bt.cut_tables(tables, AT)
    assert cut["MV_Sales"]["SaleDate"].max() < AT  # type: ignore[operator]
    assert cut["MV_Visit"]["VisitDate"].max() < AT  # type: ignore[operator]
    kept = set(cut["MV_Sales"]["SaleId"].to_list())
    assert set(cut["MV_SalesDetail"]["SaleId"].to_list()) <= kept
    assert cut["MV_SalesDetail"].height < tables["MV_SalesDetail"].height


def test_rows_after_the_cut_off_change_nothing(source: Path, tmp_path: Path) -> None:
    config = ScoringConfig()
    tables = FileSource(source).read_all()
    base = bt.score_as_of(tables, AT, config, tmp_path / "a")
    # a huge sale and a visit on the cut-off day and later must not move any score
    sales, detail = tables["MV_Sales"], tables["MV_SalesDetail"]
    customer = sales["CustomerId"][0]
    item = detail["ItemId"][0]
    new_id = int(sales["SaleId"].max()) + 1  # type: ignore[arg-type]
    extra_sales = pl.DataFrame(
        {
            "SaleId": [new_id, new_id + 1],
            "CustomerId": [customer] * 2,
            "SaleDate": [AT, AT + timedelta(days=3)],
            "RepId": [sales["RepId"][0]] * 2,
        },
        schema=sales.schema,
    )
    extra_detail = pl.DataFrame(
        {
            "SaleId": [new_id, new_id + 1],
            "ItemId": [item] * 2,
            "Quantity": [1e4, 1e4],
            "Amount": [1e6, 1e6],
        },
        schema=detail.schema,
    ).select(detail.columns)
    visits = tables["MV_Visit"]
    extra_visit = visits.head(1).with_columns(
        pl.lit(AT).alias("VisitDate"), (pl.col("VisitId") + 10**7).alias("VisitId")
    )
    future = {
        **tables,
        "MV_Sales": pl.concat([sales, extra_sales]),
        "MV_SalesDetail": pl.concat([detail, extra_detail]),
        "MV_Visit": pl.concat([visits, extra_visit]),
    }
    again = bt.score_as_of(future, AT, config, tmp_path / "b")
    assert again.as_of < AT
    assert again.outlets.equals(base.outlets)
    assert again.skus.equals(base.skus)
    assert again.pairs.equals(base.pairs)


def test_scoring_never_sees_a_row_after_the_cut_off(
    source: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[date] = []
    original = bt.score_region

    def spy(inputs, window, config, **options):  # type: ignore[no-untyped-def]
        seen.append(inputs.lines["SaleDate"].max())
        return original(inputs, window, config, **options)

    monkeypatch.setattr(bt, "score_region", spy)
    bt.score_as_of(FileSource(source).read_all(), AT, ScoringConfig(), tmp_path)
    assert seen and all(day < AT for day in seen)


@pytest.fixture(scope="module")
def report(source: Path) -> dict[str, Any]:
    return bt.backtest(source, AT, 4, ScoringConfig())


def test_backtest_reports_every_method_side_by_side(report: dict[str, Any]) -> None:
    methods = report["methods"]
    assert set(methods) == {"visitrank", "segmentMean", "topRevenue", "longestSinceVisit", "random"}
    for name in ("visitrank", "segmentMean"):
        assert 0.0 <= methods[name]["precision"] <= 1.0
        assert -1.0 <= methods[name]["spearman"] <= 1.0
        assert 0.0 <= methods[name]["matchedRate"] <= 1.0
    table = bt.format_table(report)
    assert "segmentMean" in table and "random" in table


def test_backtest_adds_intervals_comparisons_and_verdicts(report: dict[str, Any]) -> None:
    for row in report["methods"].values():
        assert row["lift"] == pytest.approx(row["recommendedGrowth"] - row["otherGrowth"], abs=0.02)
        assert row["recommended"] == 4 * ScoringConfig().visits_per_week  # 4 reps x 30 picks
        low, high = row["liftCI"]
        assert low <= high
    assert set(report["comparisons"]) == {
        "segmentMean",
        "topRevenue",
        "longestSinceVisit",
        "random",
    }
    subjects = {v["subject"] for v in report["verdicts"]}
    assert {"history", "visitrank", "visitrank vs random"} <= subjects
    assert all(isinstance(v["canTell"], bool) and v["text"] for v in report["verdicts"])


def test_the_report_prints_the_legend_and_the_verdicts(report: dict[str, Any]) -> None:
    text = bt.format_report(report)
    assert "what the columns mean:" in text and "verdicts:" in text
    for term in ("lift", "adj. lift", "precision", "matched", "recall", "spearman", "[95% CI]"):
        assert f"  {term} " in text
    assert f"({report['horizonWeeks']} weeks from {report['at']})" in text
    assert "regression to the mean" in text


def test_cli_says_when_a_one_week_horizon_cannot_tell(
    source: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from visitrank.local.cli import main

    assert (
        main(["backtest", "--source", str(source), "--at", AT.isoformat(), "--horizon", "1"]) == 0
    )
    out = capsys.readouterr().out
    assert "what the columns mean:" in out
    assert "history (horizon): cannot tell: a 1-week horizon is too short" in out


# --- hand-made frames ---------------------------------------------------------------------------


def test_weighted_lift_by_hand() -> None:
    growth = np.array([5.0, 7.0, 2.0, 0.0, 1.0])
    # top (5 + 7) / 2 = 6, others (2 + 0 + 1) / 3 = 1
    assert bt.weighted_lift(growth, np.array([1.0, 1.0, 0.0, 0.0, 0.0])) == pytest.approx(5.0)
    # half the draws pick each outlet: top (0.5*4 + 0.5*0) / 1 = 2, others the same: lift 0
    assert bt.weighted_lift(np.array([4.0, 0.0]), np.array([0.5, 0.5])) == pytest.approx(0.0)
    assert np.isnan(bt.weighted_lift(growth, np.zeros(5)))  # nothing recommended


def test_lift_interval_of_constant_groups_is_the_lift_itself() -> None:
    # every resample that holds both groups has top mean 5 and other mean 2: lift exactly 3
    growth = np.array([5.0] * 10 + [2.0] * 10)
    weight = np.array([1.0] * 10 + [0.0] * 10)
    assert bt.lift_interval(growth, weight) == [3.0, 3.0]
    assert bt.lift_interval(np.full(20, 4.0), weight) == [0.0, 0.0]  # no difference at all


def test_lift_interval_is_seeded_and_covers_the_estimate() -> None:
    growth = np.array([3.0, -1.0, 4.0, 0.0, 2.0, -2.0, 1.0, 5.0, -3.0, 0.5] * 3)
    weight = np.array([1.0, 0.0] * 15)
    interval = bt.lift_interval(growth, weight)
    assert interval is not None and interval == bt.lift_interval(growth, weight)
    lift = float(bt.weighted_lift(growth, weight))
    assert lift == pytest.approx((3 + 4 + 2 + 1 - 3) * 3 / 15 - (-1 + 0 - 2 + 5 + 0.5) * 3 / 15)
    assert interval[0] < lift < interval[1]


def test_paired_difference_interval_by_hand() -> None:
    growth = np.array([3.0, -1.0, 4.0, 0.0, 2.0, -2.0, 1.0, 5.0, -3.0, 0.5] * 3)
    weight = np.array([1.0, 0.0] * 15)
    # the same list against itself differs by exactly 0 on every resample
    assert bt.difference_interval(growth, weight, weight) == [0.0, 0.0]
    # the complement's lift is minus the lift on every resample, so the difference is twice it
    # (same seed, same resampled outlets)
    single = bt.lift_interval(growth, weight)
    double = bt.difference_interval(growth, weight, 1.0 - weight)
    assert single is not None and double is not None
    assert double == pytest.approx([2 * single[0], 2 * single[1]], abs=0.011)


def test_too_few_outlets_give_no_interval() -> None:
    assert bt.lift_interval(np.array([1.0]), np.array([1.0])) is None
    # one recommended outlet of three: (2/3)^3 = 30% of the resamples draw none of it
    assert bt.lift_interval(np.array([1.0, 2.0, 3.0]), np.array([1.0, 0.0, 0.0])) is None


def test_ratio_of_sums_and_slope_by_hand() -> None:
    hits, flagged = np.array([1.0, 0.0, 2.0]), np.array([2.0, 1.0, 2.0])
    assert bt.ratio_of_sums(hits, flagged) == pytest.approx(3 / 5)
    assert bt.slope(np.array([0.0, 1.0, 2.0]), np.array([1.0, 3.0, 5.0])) == pytest.approx(2.0)
    assert np.isnan(bt.slope(np.array([1.0, 1.0]), np.array([0.0, 3.0])))


def test_visit_response_cannot_tell_when_no_visit_rate_changed() -> None:
    response = bt.visit_response(np.array([1.0, -2.0, 3.0]), np.zeros(3))
    assert response["revenuePerVisit"] is None and response["outletsWithChangedVisits"] == 0
    found = bt.history_verdicts(8, date(2026, 9, 21), date(2026, 12, 31), 1.0, 500, 100, response)
    assert [(v.measure, v.can_tell) for v in found] == [("visit effect", False)]
    assert "no outlet's visit rate changed" in found[0].text


def test_with_outcomes_by_hand() -> None:
    pairs = pl.DataFrame(
        {
            "CustomerId": [1, 2, 1, 2],
            "ItemId": [10, 10, 20, 20],
            "Revenue": [10.0, 30.0, 0.0, 0.0],
            "RevenueAfter": [5.0, 15.0, 2.0, 0.0],
            "Units": [1.0, 1.0, 0.0, 0.0],
            "UnitsAfter": [3.0, 2.0, 1.0, 0.0],
        }
    )
    out = bt.with_outcomes(pairs, 4)
    assert out["Growth"].to_list() == [-5.0, -15.0, 2.0, 0.0]
    # SKU 10 halved everywhere (trend 20 / 40): no growth beyond it; SKU 20 had no look-back
    # revenue (trend 1)
    assert out["AdjustedGrowth"].to_list() == [0.0, 0.0, 2.0, 0.0]
    # past units 4: 12 >= 8 and 12 > 4 + 2 x 2 + 1 closes; 8 > 9 does not; 0 past: 4 > 1 closes
    assert out["Closed"].to_list() == [True, False, True, False]
    # floor(4 log2(1 + 4)) = floor(9.29) = 9; no past units: bin 0
    assert out["MatchBin"].to_list() == [9, 9, 0, 0]


def test_flag_metrics_matched_rate_by_hand() -> None:
    pairs = pl.DataFrame(
        {
            "CustomerId": [1, 1, 2, 2, 3, 3, 4, 4],
            "ItemId": [10, 20, 10, 20, 10, 20, 10, 20],
            "GapValue": [5.0, 0.0, 0.0, 0.0, 0.0, 0.0, 3.0, 0.0],
            "Growth": [1.0, 0.0, 2.0, 0.0, -1.0, 0.0, 3.0, 1.0],
            "Closed": [False, True, False, False, False, True, True, True],
            "MatchBin": [0, 0, 0, 0, 0, 5, 5, 5],
        }
    )
    pushed = pl.DataFrame({"CustomerId": [1, 4], "ItemId": [10, 10]})
    got = bt.flag_metrics(pairs, pushed)
    assert (got["flagged"], got["hits"], got["closedEvents"]) == (2, 1, 4)
    assert (got["precision"], got["recall"]) == (0.5, 0.25)
    # unflagged bin 0: 1 closed of 4 -> 0.25; unflagged bin 5: 2 of 2 -> 1.0; mean of the
    # flagged pairs' bins (0 and 5) = 0.625
    assert got["matchedRate"] == 0.625


def test_order_cycle_weeks_by_hand() -> None:
    at = date(2026, 3, 2)
    start = date(2026, 1, 5)
    days = {1: [0, 7, 14], 2: [0, 14, 28], 3: [0, 28], 4: [0]}
    sales = pl.DataFrame(
        {
            "CustomerId": [c for c, ds in days.items() for _ in ds] + [1],
            "SaleDate": [start + timedelta(d) for ds in days.values() for d in ds] + [at],
        }
    )
    # median gaps 7, 14, 28 days (outlet 4 has one order, the sale on `at` is ignored):
    # the linear 75th percentile is 21 days = 3 weeks
    assert bt.order_cycle_weeks(sales, at) == 3.0
    assert bt.order_cycle_weeks(sales.filter(pl.col("CustomerId") == 4), at) is None


def test_history_verdicts_say_when_the_history_cannot_tell() -> None:
    silent = {"revenuePerVisit": 2.0, "revenuePerVisitCI": [-1.0, 5.0]}
    found = bt.history_verdicts(1, date(2026, 9, 21), date(2026, 9, 10), 2.0, 10, 3, silent)
    texts = {v.measure: v.text for v in found if v.subject == "history" and not v.can_tell}
    assert len(found) == 5 and all(not v.can_tell for v in found)
    assert texts["outlets"].startswith("cannot tell: only 10 routable outlets")
    assert texts["gap-closed events"].startswith("cannot tell precision / recall: only 3")
    assert "includes 0" in texts["visit effect"]
    horizon = [v.text for v in found if v.measure == "horizon"]
    assert any("after the last sale in the data (2026-09-10)" in t for t in horizon)
    assert any("a 1-week horizon is too short" in t and "at least 4 weeks" in t for t in horizon)
    # enough of everything and a visit effect above 0: a single verdict that can tell
    effect = {"revenuePerVisit": 9.0, "revenuePerVisitCI": [3.0, 15.0]}
    ok = bt.history_verdicts(8, date(2026, 9, 21), date(2026, 11, 13), 2.0, 500, 100, effect)
    assert [(v.measure, v.can_tell) for v in ok] == [("visit effect", True)]


def test_method_and_comparison_verdicts_by_hand() -> None:
    row = {
        "recommended": 120.0,
        "others": 80.0,
        "adjustedLift": 0.5,
        "adjustedLiftCI": [-1.0, 2.0],
        "flagged": 50,
        "hits": 5,
        "precision": 0.1,
        "precisionCI": [0.04, 0.16],
        "matchedRate": 0.08,
    }
    lift, precision = bt.method_verdicts("visitrank", row, 0.01, enough_closed=True)
    assert not lift.can_tell and lift.text.startswith("cannot tell: its recommended outlets")
    assert not precision.can_tell and "pairs that sold alike 0.080" in precision.text
    clear = {**row, "adjustedLiftCI": [0.2, 0.9], "precisionCI": [0.09, 0.12]}
    lift, precision = bt.method_verdicts("visitrank", clear, 0.01, enough_closed=True)
    assert lift.can_tell and "grew more than the others" in lift.text
    assert precision.can_tell and "closed more often" in precision.text
    (few,) = bt.method_verdicts("random", {**clear, "others": 5.0}, 0.01, True, False)[:1]
    assert not few.can_tell and "5 others" in few.text
    _, thin = bt.method_verdicts("visitrank", clear, 0.01, enough_closed=False)
    assert not thin.can_tell and thin.text.startswith("cannot tell precision")
    worse = {"adjustedLiftDifference": -2.0, "adjustedLiftDifferenceCI": [-3.0, -1.0]}
    verdict = bt.comparison_verdict("longestSinceVisit", worse)
    assert verdict.can_tell and verdict.text.startswith("longestSinceVisit's outlets grew more")
    unsure = {"adjustedLiftDifference": 1.0, "adjustedLiftDifferenceCI": [-1.0, 3.0]}
    assert not bt.comparison_verdict("random", unsure).can_tell
    assert not bt.comparison_verdict("random", worse, enough_outlets=False).can_tell


def test_a_history_that_cannot_tell_overrules_the_list_verdicts() -> None:
    short = bt.Verdict("history", "horizon", False, "cannot tell: too short")
    effect = bt.Verdict("history", "visit effect", False, "cannot tell: no visit effect")
    told = bt.Verdict("visitrank", "lift", True, "its outlets grew more")
    unsure = bt.Verdict("random", "lift", False, "cannot tell: includes 0")
    precision = bt.Verdict("visitrank", "precision", True, "closed more often")
    out = bt.overrule([told, unsure, precision], [short, effect])
    assert out[0] == bt.Verdict(
        "visitrank",
        "lift",
        False,
        "cannot tell: see history (horizon); the figures alone would say: its outlets grew more",
    )
    assert out[1:] == [unsure, precision]  # precision has its own check of gap-closed events
    assert bt.overrule([told], [effect]) == [told]  # no visit effect does not block a lift
