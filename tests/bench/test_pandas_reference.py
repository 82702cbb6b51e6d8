"""The pandas reference (bench/pandas_reference.py) gives the engine's answer, bit for bit.

Both score a small generated country (bench/generate.py: 3 regions, 60 weeks, so the seasonality
profiles, the own history before the window and the visit response are all exercised) with the
comparison config (`benchmark = "segment_median"`, the substitution cap on, no gap persistence,
other fields at their defaults) and route
the weeks with the same router: every pair's index and gap, every outlet's segment, priority and
SKUs to push, each rep's Top-30 (routed and by priority) and its routes must be identical.

Identical, not close: both sum money in fixed point, and the reference follows the two float
habits of polars that reach the output (division by a scalar as a product with its reciprocal;
the C library's exp and pow). The one place summation order differs is the visit response's
means (polars adds a group's values in row order, pandas with Kahan compensation); its summary
agrees to the 4 decimals compared, and without a signal (the bench data) its factors are all 1;
with a signal (`test_with_a_visit_response_signal`) they can differ in the last bit, and so can
the priorities they scale, by at most a few 1e-16 relatively: the lists stay identical.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bench import compare_reference, generate


@pytest.fixture(scope="module")
def agreement(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("reference") / "small"
    size = generate.Size("small", 900, 30, 60, 40_000, outlets_per_area=300)
    generate.generate(size, out, log=False)
    polars = compare_reference.polars_run(out, keep_pairs=True)
    pandas = compare_reference.pandas_run(out, keep_pairs=True)
    assert polars.outlets["AreaId"].nunique() == 3
    assert (polars.outlets["PushedSkus"] > 0).sum() > 100  # something to rank
    return compare_reference.agreement(polars, pandas)


def test_same_outlets_pairs_and_segments(agreement: dict[str, Any]) -> None:
    assert agreement["outlets"] == agreement["outletsInBoth"] == 900
    assert agreement["pairsIndexScoreIdentical"] == 1.0
    assert agreement["pairsGapValueIdentical"] == 1.0
    assert agreement["outletsSegmentIdentical"] == 1.0


def test_identical_priorities_and_pushed_skus(agreement: dict[str, Any]) -> None:
    assert agreement["outletsPriorityIdentical"] == 1.0
    assert agreement["maxPriorityAbsDiff"] == 0.0
    assert agreement["outletsPushedSkusIdentical"] == 1.0
    assert agreement["repsPushedSkusIdentical"] == 1.0
    assert agreement["responsesIdentical"]


def test_identical_top30_per_rep(agreement: dict[str, Any]) -> None:
    assert agreement["reps"] >= 9
    assert agreement["repsTop30ByPriorityIdentical"] == 1.0
    assert agreement["repsRoutedTop30Identical"] == 1.0
    assert agreement["routesIdentical"]


def test_with_a_visit_response_signal(tmp_path: Path) -> None:
    """Demo data with a planted visit effect (cleaned by the engine's quarantine first: the
    reference does not quarantine): both find the signal and scale the priorities by the
    outlets' factors. The factors come from means that polars and pandas sum in a different
    order, so some priorities differ in the last bit (measured: 4% of outlets, at most
    4e-16 relatively); the Top-30 lists, pushed SKUs and routes are still identical."""
    from visitrank.adapters.file_source import FileSource
    from visitrank.contract.quarantine import quarantine
    from visitrank.lab.demo_data import DemoSpec, write_demo

    spec = DemoSpec(outlets=1200, reps=12, skus=40, weeks=80, areas=2, seed=3, visit_effect=1.0)
    write_demo(spec, tmp_path / "raw")
    clean = tmp_path / "clean"
    clean.mkdir()
    for name, table in quarantine(FileSource(tmp_path / "raw").read_all()).tables.items():
        table.drop("Routable", strict=False).write_parquet(clean / f"{name}.parquet")
    polars = compare_reference.polars_run(clean)
    pandas = compare_reference.pandas_run(clean)
    assert all(r is not None and r["signal"] for r in polars.responses.values())
    result = compare_reference.agreement(polars, pandas)
    assert result["responsesIdentical"]
    assert result["maxPriorityRelDiff"] < 1e-14
    assert result["outletsPushedSkusIdentical"] == 1.0
    assert result["repsTop30ByPriorityIdentical"] == 1.0
    assert result["repsRoutedTop30Identical"] == 1.0
    assert result["routesIdentical"]


def test_agreement_sees_a_difference() -> None:
    """The comparison itself is not blind: one changed priority and one pushed SKU show."""
    import pandas as pd

    outlets = pd.DataFrame(
        {
            "CustomerId": [1, 2, 3],
            "RepId": [7, 7, 7],
            "AreaId": [1, 1, 1],
            "Segment": ["a", "a", "b"],
            "Priority": [3.0, 2.0, 1.0],
            "OpportunityValue": [3.0, 2.0, 1.0],
            "PushedSkus": [1, 1, 1],
            "RecencyWeight": [1.0, 1.0, 1.0],
        }
    )
    skus = pd.DataFrame(
        {"CustomerId": [1, 2, 3], "ItemId": [5, 5, 5], "SkuRank": [1, 1, 1], "GapValue": [3.0] * 3}
    )
    top = outlets[["RepId", "CustomerId"]].head(2)
    visits = top.assign(Rank=[1, 2], Day=[1, 1], RouteOrder=[1, 2])
    base = compare_reference.Outputs({}, outlets, skus, top, visits, {})
    changed = compare_reference.Outputs(
        {},
        outlets.assign(Priority=[3.0, 0.5, 1.0]),
        skus.assign(ItemId=[5, 6, 5]),
        outlets[["RepId", "CustomerId"]].iloc[[0, 2]],
        visits,
        {},
    )
    result = compare_reference.agreement(base, changed)
    assert result["maxPriorityAbsDiff"] == 1.5
    assert result["outletsPriorityIdentical"] == pytest.approx(2 / 3)
    assert result["outletsPushedSkusIdentical"] == pytest.approx(2 / 3)
    assert result["repsPushedSkusIdentical"] == 0.0
    assert result["repsTop30ByPriorityIdentical"] == 0.0
    assert result["repsRoutedTop30Identical"] == 1.0
