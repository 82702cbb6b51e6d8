"""Tests for the seeded demo-data generator: contract, determinism, integrity, planted truth."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
from numpy._core import _multiarray_umath as umath

from visitrank.contract.quarantine import MAX_VISIT_EVERY_WEEKS, MAX_VISIT_MINUTES
from visitrank.contract.tables import ALL_TABLES, OPTIONAL_TABLES, TABLES
from visitrank.lab.demo_data import DemoSpec, generate_tables, planned_week, write_demo

SPEC = DemoSpec(outlets=200, reps=6, skus=30, weeks=30, seed=11)
Generated = tuple[dict[str, pl.DataFrame], pl.DataFrame, pl.DataFrame, dict[str, Any]]


@pytest.fixture(scope="module")
def gen() -> Generated:
    return generate_tables(SPEC)


def _bad(manifest: dict[str, Any], reason: str, table: str | None = None) -> list[dict[str, int]]:
    return [
        r["key"] for r in manifest["rows"] if r["reason"] == reason and table in (None, r["table"])
    ]


def _schema(name: str) -> pl.Schema:
    return pl.Schema(ALL_TABLES[name].all_columns)


def test_tables_match_contract(gen: Generated) -> None:
    tables, _, _, _ = gen
    assert list(tables) == list(ALL_TABLES)  # the optional tables and columns too
    for name, df in tables.items():
        spec = ALL_TABLES[name]
        assert df.schema == _schema(name), name
        assert df.height > 0, name
        for col in spec.columns:
            if col not in spec.nullable:
                assert df[col].null_count() == 0, (name, col)
            if col.endswith("Id") and df[col].dtype == pl.Int64:
                assert df[col].drop_nulls().min() > 0, (name, col)  # type: ignore[operator]
        if spec.key and name != "MV_Sales":
            assert df.select(spec.key).is_unique().all(), name
    names = pl.concat(
        [tables["MV_SetupCustomer"]["CustomerName"], tables["MV_SetupItem"]["ItemName"]]
    )
    assert names.str.contains("'").any() and names.str.contains(r"[^\x00-\x7F]").any()
    assert set(tables["MV_SetupCustomer"]["Channel"]) == {"ON_TRADE", "OFF_TRADE"}
    assert 4 <= tables["MV_SetupCategory"].height <= 6


def test_deterministic_for_a_seed(gen: Generated) -> None:
    tables, opps, outlets, manifest = gen
    again, opps2, outlets2, manifest2 = generate_tables(SPEC)
    for name in TABLES:
        assert tables[name].equals(again[name]), name
    assert opps.equals(opps2) and outlets.equals(outlets2) and manifest == manifest2
    other, opps3, _, _ = generate_tables(DemoSpec(outlets=200, reps=6, skus=30, weeks=30, seed=12))
    assert not other["MV_SalesDetail"].equals(tables["MV_SalesDetail"])
    assert not other["MV_SetupCustomer"].equals(tables["MV_SetupCustomer"])
    assert not opps3.equals(opps)


def test_referential_integrity_of_non_planted_rows(gen: Generated) -> None:
    t, _, _, manifest = gen
    ids = {name: set(t[name][TABLES[name].key[0]]) for name in TABLES if TABLES[name].key}
    assert set(t["MV_SetupCity"]["AreaId"]) <= ids["MV_SetupArea"]
    assert set(t["MV_SetupRep"]["AreaId"]) <= ids["MV_SetupArea"]
    assert set(t["MV_SetupSubCategory"]["CategoryId"]) <= ids["MV_SetupCategory"]
    assert set(t["MV_SetupItem"]["BrandId"]) <= ids["MV_SetupBrand"]
    assert set(t["MV_SetupItem"]["SubCategoryId"]) <= ids["MV_SetupSubCategory"]
    cust = t["MV_SetupCustomer"]
    assert set(cust["CityId"]) <= ids["MV_SetupCity"]
    assert set(cust["RepId"]) <= ids["MV_SetupRep"]
    city_area = cust.join(t["MV_SetupCity"], on="CityId", suffix="_city")
    assert (city_area["AreaId"] == city_area["AreaId_city"]).all()
    bad_sales = {k["SaleId"] for k in _bad(manifest, "unknown_customer", "MV_Sales")}
    sales = t["MV_Sales"].filter(~pl.col("SaleId").is_in(bad_sales))
    assert set(sales["CustomerId"]) <= ids["MV_SetupCustomer"]
    assert set(sales["RepId"].drop_nulls()) <= ids["MV_SetupRep"]
    bad_items = {k["ItemId"] for k in _bad(manifest, "unknown_item")}
    lines = t["MV_SalesDetail"].filter(~pl.col("ItemId").is_in(bad_items))
    assert set(lines["ItemId"]) <= ids["MV_SetupItem"]
    assert set(t["MV_SalesDetail"]["SaleId"]) == ids["MV_Sales"]  # no orphan lines, no empty orders
    assert set(t["MV_Visit"]["CustomerId"]) <= ids["MV_SetupCustomer"]
    assert set(t["MV_Visit"]["RepId"]) <= ids["MV_SetupRep"]
    ghosts = {k["CustomerId"] for k in _bad(manifest, "unknown_customer", "MV_VisitPin")}
    for name in OPTIONAL_TABLES:
        customers = set(t[name]["CustomerId"]) - ghosts
        assert customers <= ids["MV_SetupCustomer"], name


def test_bad_rows_exactly_as_manifest(gen: Generated) -> None:
    t, opps, _, manifest = gen
    assert manifest["counts"] == {
        "unknown_item": 3,
        "unknown_customer": 3,  # 2 sale headers, 1 pinned visit
        "duplicate_sale_id": 2,
        "missing_quantity": 3,
        "missing_amount": 1,
        "no_gps": 5,
        "invalid_home": 1,
        "bad_hours": 1,
    }
    assert json.loads(json.dumps(manifest)) == manifest  # JSON-serialisable as is
    lines, sales, cust = t["MV_SalesDetail"], t["MV_Sales"], t["MV_SetupCustomer"]
    items = set(t["MV_SetupItem"]["ItemId"])
    unknown = lines.filter(~pl.col("ItemId").is_in(items)).select("SaleId", "ItemId")
    assert sorted(unknown.rows()) == sorted(
        (k["SaleId"], k["ItemId"]) for k in _bad(manifest, "unknown_item")
    )
    ghost = sales.filter(~pl.col("CustomerId").is_in(set(cust["CustomerId"])))
    expected = _bad(manifest, "unknown_customer", "MV_Sales")
    assert sorted(ghost.select("SaleId", "CustomerId").rows()) == sorted(
        (k["SaleId"], k["CustomerId"]) for k in expected
    )
    assert lines.filter(pl.col("SaleId").is_in(ghost["SaleId"].to_list())).height == 6
    dup = sales.filter(pl.col("SaleId").is_duplicated())
    dup_ids = sorted(k["SaleId"] for k in _bad(manifest, "duplicate_sale_id"))
    assert sorted(set(dup["SaleId"])) == dup_ids
    assert dup.height == 4 and dup.unique().height == 2  # exact copies
    for col, reason in [("Quantity", "missing_quantity"), ("Amount", "missing_amount")]:
        nulls = lines.filter(pl.col(col).is_null()).select("SaleId", "ItemId")
        keys = [(k["SaleId"], k["ItemId"]) for k in _bad(manifest, reason)]
        assert sorted(nulls.rows()) == sorted(keys)
    no_gps = cust.filter(pl.col("Latitude").is_null() | pl.col("Longitude").is_null())
    no_gps_ids = {k["CustomerId"] for k in _bad(manifest, "no_gps")}
    assert set(no_gps["CustomerId"]) == no_gps_ids
    assert no_gps_ids.isdisjoint(opps["CustomerId"])
    # the planning inputs: one home with a latitude only, hours closing before they open, a
    # pinned visit of an outlet that does not exist
    reps = t["MV_SetupRep"]
    half = reps.filter(pl.col("HomeLatitude").is_null() != pl.col("HomeLongitude").is_null())
    assert half["RepId"].to_list() == [k["RepId"] for k in _bad(manifest, "invalid_home")]
    hours = t["MV_OutletHours"]
    backwards = hours.filter(
        (pl.col("Closes") <= pl.col("Opens")) | ~pl.col("Weekday").is_between(1, 7)
    )
    assert backwards.select("CustomerId", "Weekday").rows() == [
        (k["CustomerId"], k["Weekday"]) for k in _bad(manifest, "bad_hours")
    ]
    pins = t["MV_VisitPin"].filter(~pl.col("CustomerId").is_in(set(cust["CustomerId"])))
    assert pins["CustomerId"].to_list() == [
        k["CustomerId"] for k in _bad(manifest, "unknown_customer", "MV_VisitPin")
    ]


def test_planning_inputs_are_plausible(gen: Generated) -> None:
    """Homes near the rep's outlets, visit length and frequency valid and by size, most bars
    with hours (a closed Monday), some shops with split shifts and a closed Sunday, pins in
    the first planned week, exclusions mostly current."""
    t, _, outlets, manifest = gen
    bad_rep = {k["RepId"] for k in _bad(manifest, "invalid_home")}
    homes = t["MV_SetupRep"].filter(~pl.col("RepId").is_in(bad_rep))
    assert homes["HomeLatitude"].null_count() == homes["HomeLongitude"].null_count() == 0
    centres = (
        t["MV_SetupCustomer"]
        .group_by("RepId")
        .agg(pl.col("Latitude").median(), pl.col("Longitude").median())
    )
    near = homes.join(centres, on="RepId").select(
        ((pl.col("HomeLatitude") - pl.col("Latitude")).abs() < 1.0)
        & ((pl.col("HomeLongitude") - pl.col("Longitude")).abs() < 1.5)
    )
    assert near.to_series().all()
    customers = t["MV_SetupCustomer"].join(outlets, on="CustomerId")
    assert customers["VisitMinutes"].is_between(1, MAX_VISIT_MINUTES).all()
    assert customers["VisitEveryWeeks"].is_between(1, MAX_VISIT_EVERY_WEEKS).all()
    by_size = dict(customers.group_by("SizeTier").agg(pl.col("VisitMinutes").mean()).iter_rows())
    assert by_size["large"] > by_size["medium"] > by_size["small"]
    hours = t["MV_OutletHours"].join(
        t["MV_SetupCustomer"].select("CustomerId", "Channel"), on="CustomerId"
    )
    on_trade = t["MV_SetupCustomer"].filter(pl.col("Channel") == "ON_TRADE")
    bars_with_hours = hours.filter(pl.col("Channel") == "ON_TRADE")["CustomerId"].n_unique()
    assert bars_with_hours > 0.6 * on_trade.height
    good = hours.filter(pl.col("Closes") > pl.col("Opens"))
    assert 1 not in good.filter(pl.col("Channel") == "ON_TRADE")["Weekday"].to_list()
    shops = good.filter(pl.col("Channel") == "OFF_TRADE")
    assert 7 not in shops["Weekday"].to_list()
    assert (shops.group_by("CustomerId", "Weekday").len()["len"] == 2).all()  # split shifts
    week = planned_week(SPEC)
    assert week.weekday() == 0 and week > SPEC.end_date
    pins = t["MV_VisitPin"]
    assert pins["VisitDate"].is_between(week, week + timedelta(days=4)).all()
    assert pins["StartTime"].null_count() < pins.height
    until = t["MV_VisitExclusion"]["Until"]
    assert (until >= week).sum() == until.len() - 1  # one exclusion is over


def test_truth_semantics(gen: Generated) -> None:
    t, opps, outlets, _ = gen
    assert outlets.height == SPEC.outlets
    share = opps["CustomerId"].n_unique() / SPEC.outlets
    assert 0.3 <= share <= 0.4
    assert opps.group_by("CustomerId").len()["len"].is_between(1, 4).all()
    assert opps["Factor"].is_between(0.0, 0.2).all()
    assert opps.select("CustomerId", "ItemId").is_unique().all()
    full = opps["StartDate"] == SPEC.start_date
    assert 0.55 <= full.mean() <= 0.85  # type: ignore[operator]
    late = opps.filter(~full)["StartDate"]
    assert (late >= SPEC.end_date - timedelta(weeks=40)).all()
    assert (late <= SPEC.end_date - timedelta(weeks=8) + timedelta(days=1)).all()
    priced = opps.join(t["MV_SetupItem"], on="ItemId")
    gap = priced["PotentialUnitsPerWeek"] * (1 - priced["Factor"]) * priced["UnitPrice"]
    assert ((gap - priced["GapValuePerWeek"]).abs() < 1e-3).all()
    owner = opps.join(t["MV_SetupCustomer"], on="CustomerId")
    assert (owner["RepId"] == owner["RepId_right"]).all()
    assert (owner["AreaId"] == owner["AreaId_right"]).all()
    per_outlet = opps.group_by("CustomerId").agg(pl.col("GapValuePerWeek").sum())
    joined = outlets.join(per_outlet, on="CustomerId", how="left").fill_null(0.0)
    assert ((joined["PlantedValuePerWeek"] - joined["GapValuePerWeek"]).abs() < 1e-2).all()


def _weekly_units(t: dict[str, pl.DataFrame]) -> pl.DataFrame:
    return (
        t["MV_SalesDetail"].drop_nulls().join(t["MV_Sales"].unique(), on="SaleId")
    )  # duplicates removed, ghosts dropped by the outlet join later


def test_planted_pairs_sell_far_less_than_peers(gen: Generated) -> None:
    t, opps, outlets, _ = gen
    lines = _weekly_units(t)
    profile = outlets.join(t["MV_SetupCustomer"].select("CustomerId", "Channel"), on="CustomerId")
    planted = set(opps.select("CustomerId", "ItemId").iter_rows())
    ratios = []
    for cust, item, start in opps.select("CustomerId", "ItemId", "StartDate").iter_rows():
        me = profile.filter(pl.col("CustomerId") == cust).row(0, named=True)
        peers = profile.filter(
            (pl.col("Taste") == me["Taste"])
            & (pl.col("Channel") == me["Channel"])
            & (pl.col("SizeTier") == me["SizeTier"])
            & (pl.col("CustomerId") != cust)
        )["CustomerId"].to_list()
        peers = [p for p in peers if (p, item) not in planted]
        if len(peers) < 3:
            continue
        window = lines.filter(pl.col("SaleDate") >= start)
        totals = window.group_by("CustomerId").agg(
            pl.col("Quantity").sum().alias("all"),
            pl.col("Quantity").filter(pl.col("ItemId") == item).sum().alias("it"),
        )
        # units of the item per unit of everything else the outlet bought (size-free)
        share = totals.with_columns((pl.col("it") / (pl.col("all") - pl.col("it"))).alias("s"))
        mine = share.filter(pl.col("CustomerId") == cust)["s"].to_list() or [0.0]
        peer = share.filter(pl.col("CustomerId").is_in(peers))["s"].to_numpy()
        ratios.append(float(mine[0]) / max(float(np.median(peer)) if len(peer) else 0.0, 1e-9))
    assert len(ratios) >= 0.7 * opps.height
    assert sum(r < 0.5 for r in ratios) >= 0.85 * len(ratios)
    assert sorted(ratios)[len(ratios) // 2] < 0.25


def test_taste_drives_mix(gen: Generated) -> None:
    t, _, outlets, _ = gen
    # price tier as the generator defines it: price tercile within the item's category
    pos = pl.col("UnitPrice").rank("ordinal").over("CategoryId") - 1
    items = (
        t["MV_SetupItem"]
        .join(t["MV_SetupSubCategory"], on="SubCategoryId")
        .with_columns(((3 * pos) // pl.len().over("CategoryId")).clip(0, 2).alias("tier"))
    )
    amount = pl.col("Amount")
    rev = (
        _weekly_units(t)
        .join(items.select("ItemId", "tier"), on="ItemId")
        .group_by("CustomerId")
        .agg(
            (amount.filter(pl.col("tier") == 2).sum() / amount.sum()).alias("premium"),
            (amount.filter(pl.col("tier") == 0).sum() / amount.sum()).alias("value"),
        )
        .join(outlets, on="CustomerId")
        .group_by("Taste")
        .agg(pl.col("premium", "value").mean())
    )
    share = {taste: (p, v) for taste, p, v in rev.iter_rows()}
    assert share["premium"][0] > share["mainstream"][0] > share["value"][0]
    assert share["premium"][0] > max(0.2, 3 * share["value"][0])
    assert share["value"][1] > share["mainstream"][1] > share["premium"][1]


def test_each_rep_owns_one_area(gen: Generated) -> None:
    t, _, _, _ = gen
    cust = t["MV_SetupCustomer"]
    areas = cust.group_by("RepId").agg(
        pl.col("AreaId").n_unique().alias("n"), pl.col("AreaId").first()
    )
    assert (areas["n"] == 1).all() and areas.height == SPEC.reps
    joined = areas.join(t["MV_SetupRep"], on="RepId")
    assert (joined["AreaId"] == joined["AreaId_right"]).all()
    # territories are compact: a rep's outlets are much closer to each other than to the area's
    spread = cust.drop_nulls("Latitude").group_by("RepId").agg(pl.col("Longitude").std())
    area_spread = cust.drop_nulls("Latitude").group_by("AreaId").agg(pl.col("Longitude").std())
    assert spread["Longitude"].mean() < area_spread["Longitude"].mean()  # type: ignore[operator]


def test_order_rhythm_follows_size(gen: Generated) -> None:
    t, _, outlets, _ = gen
    per_week = (
        t["MV_Sales"].unique().group_by("CustomerId").len()
        .join(outlets, on="CustomerId")
        .group_by("SizeTier")
        .agg((pl.col("len") / SPEC.weeks).mean().alias("rate"))
    )  # fmt: skip
    rate = dict(per_week.iter_rows())
    assert rate["large"] > 0.75 > rate["medium"] > rate["small"]
    assert rate["small"] < 0.5
    assert (t["MV_Sales"]["SaleDate"].dt.weekday() <= 5).all()


def test_visits_on_weekdays_within_history(gen: Generated) -> None:
    t, _, outlets, _ = gen
    visits = t["MV_Visit"]
    assert (visits["VisitDate"].dt.weekday() <= 5).all()  # polars: Monday=1 .. Sunday=7
    assert visits["VisitDate"].min() >= SPEC.start_date  # type: ignore[operator]
    assert visits["VisitDate"].max() <= SPEC.end_date  # type: ignore[operator]
    never = 1 - visits["CustomerId"].n_unique() / SPEC.outlets
    assert 0.05 <= never <= 0.15
    owner = visits.join(t["MV_SetupCustomer"], on="CustomerId")
    assert (owner["RepId"] == owner["RepId_right"]).all()
    freq = dict(
        visits.group_by("CustomerId").len().join(outlets, on="CustomerId")
        .group_by("SizeTier").agg(pl.col("len").mean()).iter_rows()
    )  # fmt: skip
    assert freq["large"] > freq["medium"] > freq["small"]


def _read(path: Path, name: str) -> pl.DataFrame:
    if path.suffix == ".csv":
        return pl.read_csv(path, schema=_schema(name))
    return pl.read_parquet(path)


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_write_demo_round_trip(tmp_path: Path, gen: Generated, fmt: str) -> None:
    spec = DemoSpec(**{**SPEC.__dict__, "file_format": fmt})
    summary = write_demo(spec, tmp_path)
    tables, opps, outlets, manifest = gen
    for name, df in tables.items():
        path = tmp_path / f"{name}.{fmt}"
        assert summary.table_paths[name] == path
        assert _read(path, name).equals(df), name
        assert summary.row_counts[name] == df.height
    if fmt == "csv":
        header = (tmp_path / "MV_Sales.csv").read_text(encoding="utf-8").splitlines()[:2]
        assert header[0] == "SaleId,CustomerId,SaleDate,RepId"
        assert header[1].split(",")[2].count("-") == 2  # ISO date
    read_opps = pl.read_csv(tmp_path / "truth" / "opportunities.csv", try_parse_dates=True)
    assert read_opps.equals(opps)
    assert pl.read_csv(tmp_path / "truth" / "outlets.csv").equals(outlets)
    saved = json.loads((tmp_path / "truth" / "bad_rows.json").read_text(encoding="utf-8"))
    assert saved == manifest == summary.bad_rows
    assert summary.planted_opportunities == opps.height
    assert summary.planted_value_per_week == pytest.approx(opps["GapValuePerWeek"].sum(), abs=0.01)


def test_spec_validation() -> None:
    with pytest.raises(ValueError):
        DemoSpec(areas=5, reps=4)
    with pytest.raises(ValueError):
        DemoSpec(outlets=30)


def _dispatched_cpu_features() -> list[str]:
    """numpy's CPU-specific kernels this machine runs (AVX2, AVX-512 ...): empty where numpy
    has none beyond its baseline."""
    return [name for name in umath.__cpu_dispatch__ if umath.__cpu_features__.get(name)]


def test_the_demo_data_are_the_same_with_numpys_cpu_specific_kernels_off(tmp_path: Path) -> None:
    """The same seed writes the same tables on every machine: a generation with numpy's
    CPU-specific kernels switched off (as on an older CPU) equals this process's. With
    numpy's exp/power and its default (AVX-512) sort, an AVX-512 machine wrote other sales
    than an AVX2 one, and the golden documents broke with the machine."""
    spec = DemoSpec(outlets=400, reps=8, skus=40, weeks=60, areas=2, seed=3)
    here = generate_tables(spec)[0]
    script = (
        "import sys; from pathlib import Path; from visitrank.lab.demo_data import *; "
        "write_demo(DemoSpec(outlets=400, reps=8, skus=40, weeks=60, areas=2, seed=3), "
        "Path(sys.argv[1]))"
    )
    env = {**os.environ, "NPY_DISABLE_CPU_FEATURES": " ".join(_dispatched_cpu_features())}
    subprocess.run([sys.executable, "-c", script, str(tmp_path)], env=env, check=True)
    for name in ("MV_SetupCustomer", "MV_Sales", "MV_SalesDetail", "MV_Visit"):
        assert pl.read_parquet(tmp_path / f"{name}.parquet").equals(here[name]), name
