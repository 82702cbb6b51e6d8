"""The demo's planted visit effect (`DemoSpec.visit_effect`, `demo-data --visit-effect`): it
changes the orders only, by the planted lift in the weeks after a visit, and the default leaves
the data as they were."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import polars as pl
import pytest

from tests.local.test_cli import cli
from visitrank.lab.demo_data import VISIT_EFFECT_WEEKS, DemoSpec, generate_tables
from visitrank.local.cli import EXIT_OK

SPEC = DemoSpec(outlets=300, reps=6, skus=20, weeks=52, areas=2, seed=9)
UNCHANGED = [
    "MV_SetupArea",
    "MV_SetupCity",
    "MV_SetupRep",
    "MV_SetupCustomer",
    "MV_SetupItem",
    "MV_Visit",
]


def order_revenue(tables: dict[str, pl.DataFrame]) -> pl.DataFrame:
    """CustomerId, SaleDate, Revenue of the valid orders."""
    return (
        tables["MV_Sales"]
        .unique("SaleId", keep="first")
        .join(tables["MV_SalesDetail"].drop_nulls(), on="SaleId")
        .group_by("SaleId", "CustomerId", "SaleDate")
        .agg(Revenue=pl.col("Amount").sum())
    )


def after_a_visit(orders: pl.DataFrame, visits: pl.DataFrame) -> pl.DataFrame:
    """`orders` with AfterVisit: the outlet's last visit on or before the day is less than
    VISIT_EFFECT_WEEKS weeks earlier."""
    last = (
        orders.sort("SaleDate")
        .join_asof(
            visits.select("CustomerId", "VisitDate").sort("VisitDate"),
            left_on="SaleDate",
            right_on="VisitDate",
            by="CustomerId",
            strategy="backward",
            check_sortedness=False,
        )
        .with_columns(
            AfterVisit=(pl.col("SaleDate") - pl.col("VisitDate"))
            < pl.duration(days=7 * VISIT_EFFECT_WEEKS)
        )
    )
    return last.with_columns(pl.col("AfterVisit").fill_null(False))


def test_the_effect_lifts_only_the_orders_after_a_visit() -> None:
    plain, opportunities, outlets, bad = generate_tables(SPEC)
    lifted, opportunities_lifted, outlets_lifted, bad_lifted = generate_tables(
        DemoSpec(**{**SPEC.__dict__, "visit_effect": 0.5})
    )
    for name in UNCHANGED:  # own random streams: the world and the visits stay the same
        assert lifted[name].equals(plain[name]), name
    assert opportunities_lifted.equals(opportunities)
    assert bad_lifted["counts"] == bad["counts"]
    # the truth gains the hidden responsiveness and the planted lift, only with an effect
    assert "Responsiveness" not in outlets.columns
    assert outlets_lifted.drop("Responsiveness", "VisitLift").equals(outlets)
    responsiveness = outlets_lifted["Responsiveness"]
    assert responsiveness.min() >= 0.0 and responsiveness.max() <= 2.0  # type: ignore[operator]
    assert 0.9 < responsiveness.mean() < 1.1  # type: ignore[operator]
    assert (outlets_lifted["VisitLift"] - 0.5 * responsiveness).abs().max() < 1e-3  # type: ignore[operator]

    # the orders on the same days, larger after a visit: by about the lift for the most
    # responsive outlets, by about nothing away from visits
    visits = plain["MV_Visit"]
    both = (
        after_a_visit(order_revenue(plain), visits)
        .join(order_revenue(lifted).select("SaleId", Lifted="Revenue"), on="SaleId", how="left")
        .join(outlets_lifted.select("CustomerId", "VisitLift"), on="CustomerId")
    )
    assert (
        both["SaleId"].n_unique() == both.height
        and both["Lifted"].null_count() < 0.05 * both.height
    )
    ratio = (
        both.drop_nulls()
        .group_by("AfterVisit", Responsive=pl.col("VisitLift") > 0.5)
        .agg(Ratio=pl.col("Lifted").sum() / pl.col("Revenue").sum())
    )
    rows = {(after, responsive): value for after, responsive, value in ratio.iter_rows()}
    assert rows[(False, False)] == pytest.approx(1.0, abs=0.03)
    assert rows[(False, True)] == pytest.approx(1.0, abs=0.03)
    assert rows[(True, True)] == pytest.approx(1.75, abs=0.1)  # lifts 0.5..1.0
    assert rows[(True, False)] == pytest.approx(1.25, abs=0.1)  # lifts 0..0.5


def test_the_cli_flag_plants_the_effect(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["--outlets", 60, "--reps", 3, "--skus", 12, "--weeks", 12, "--areas", 1]
    code, _, _ = cli(["demo-data", tmp_path / "d", *args, "--visit-effect", 0.3], capsys)
    assert code == EXIT_OK
    truth = pl.read_csv(tmp_path / "d" / "truth" / "outlets.csv")
    assert {"Responsiveness", "VisitLift"} <= set(truth.columns)
    assert truth["VisitLift"].max() <= 0.6  # type: ignore[operator]
    with pytest.raises(ValueError, match="visit_effect"):
        DemoSpec(visit_effect=-0.1)
    assert timedelta(weeks=VISIT_EFFECT_WEEKS).days == 28
