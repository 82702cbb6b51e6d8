"""Outlet segmentation by purchase mix: clusters, DNA, potential, identity across re-runs,
exports, the command and the Azure activity (with in-memory fakes)."""

from __future__ import annotations

import argparse
import io
import json
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
from sklearn.metrics import adjusted_rand_score

from activities.segments import segment_run
from scoring.segmentation import WarmStart, bhattacharyya, previous_labels, warm_fit
from scoring.segmentation_config import SegmentationConfig
from visitrank.local import cli_segments
from visitrank.pipeline.segments import (
    SHEETS,
    TABLE_FILES,
    XLSX_FILE,
    SegmentInputs,
    export_files,
    machine_names,
    segment_with_history,
    table_frames,
)

TASTES = {  # SKU revenue weights of three obvious tastes over 9 SKUs
    "value": [8, 6, 5, 1, 1, 0, 0, 0, 0],
    "mainstream": [1, 1, 0, 8, 6, 5, 1, 0, 0],
    "premium": [0, 0, 0, 1, 1, 0, 8, 6, 5],
}


def hand_made(per_taste: int = 30, seed: int = 0, scale_noise: float = 0.15) -> SegmentInputs:
    """Outlets of three tastes, random sizes (x1..x50) and channels, jittered shares."""
    rng = np.random.default_rng(seed)
    customers, purchases, truth = [], [], []
    cid = 1
    for taste, weights in TASTES.items():
        for _ in range(per_taste):
            size = rng.uniform(1, 50)
            channel = "ON_TRADE" if rng.random() < 0.5 else "OFF_TRADE"
            customers.append((cid, f"Outlet {cid}", 1 + cid % 2, channel))
            for sku, weight in enumerate(weights):
                if weight:
                    revenue = size * weight * rng.uniform(1 - scale_noise, 1 + scale_noise)
                    purchases.append((cid, 100 + sku, round(revenue * 26, 2)))
            truth.append((cid, taste))
            cid += 1
    items = pl.DataFrame(
        {
            "ItemId": [100 + s for s in range(9)],
            "ItemName": [f"SKU {s}" for s in range(9)],
            "UnitPrice": [1.0, 1.2, 1.1, 2.0, 2.2, 2.1, 4.0, 4.4, 4.2],
            "BrandId": [1, 1, 2, 2, 3, 3, 4, 4, 5],
            "BrandName": ["A", "A", "B", "B", "C", "C", "D", "D", "E"],
            "SubCategoryId": [1] * 9,
            "SubCategoryName": ["Gin"] * 9,
            "CategoryId": [1] * 9,
            "CategoryName": ["Spirits"] * 9,
        }
    )
    inputs = SegmentInputs(
        customers=pl.DataFrame(
            customers, schema=["CustomerId", "CustomerName", "AreaId", "Channel"], orient="row"
        ),
        purchases=pl.DataFrame(purchases, schema=["CustomerId", "ItemId", "Revenue"], orient="row"),
        items=items,
        areas=pl.DataFrame({"AreaId": [1, 2], "AreaName": ["North", "South"]}),
        start=date(2026, 1, 5),
        end=date(2026, 7, 5),
        quarantined={},
    )
    hand_made.truth = pl.DataFrame(truth, schema=["CustomerId", "Taste"], orient="row")  # type: ignore[attr-defined]
    return inputs


CONFIG = SegmentationConfig.model_validate({"sample_size": 500, "k_sample": 500})


@pytest.fixture(scope="module")
def first() -> tuple[Any, dict[str, Any], SegmentInputs]:
    inputs = hand_made()
    result, state = segment_with_history(inputs, CONFIG, None, None, None)
    return result, state, inputs


def test_obvious_clusters_recovered_with_k_chosen(first: Any) -> None:
    result, _, _ = first
    assert result.info["k"] == 3
    joined = result.outlets.join(hand_made.truth, on="CustomerId")  # type: ignore[attr-defined]
    assert adjusted_rand_score(joined["Taste"], joined["SegmentId"]) == pytest.approx(1.0)
    assert set(result.segments["Status"]) == {"new"}
    assert result.segments["SegmentId"].to_list() == ["S1", "S2", "S3"]


def test_size_does_not_drive_segments_and_dna_sums_to_one(first: Any) -> None:
    result, _, _ = first
    sums = result.dna.group_by("SegmentId").agg(pl.col("Share").sum())
    assert sums["Share"].to_list() == pytest.approx([1.0, 1.0, 1.0])
    premium = result.outlets.join(hand_made.truth, on="CustomerId").filter(  # type: ignore[attr-defined]
        pl.col("Taste") == "premium"
    )
    segment = premium["SegmentId"][0]
    row = result.segments.filter(pl.col("SegmentId") == segment).row(0, named=True)
    assert "#premium" in row["Tags"].split()
    assert row["PriceIndex"] > 1.1
    top = result.dna.filter(pl.col("SegmentId") == segment).sort("Index", descending=True)
    assert top["KeyName"][0] in {"SKU 6", "SKU 7", "SKU 8"}
    assert top["Index"][0] > 250


def test_fixed_k_and_deterministic() -> None:
    inputs = hand_made()
    a, _ = segment_with_history(inputs, CONFIG.model_copy(update={"segments": 2}), None, None, None)
    b, _ = segment_with_history(inputs, CONFIG.model_copy(update={"segments": 2}), None, None, None)
    assert a.info["k"] == 2
    assert a.outlets.equals(b.outlets)


def test_potential_names_missing_sku_with_money() -> None:
    inputs = hand_made()
    victim = 1  # a value outlet: drop its best SKU (100)
    before = inputs.purchases.filter(pl.col("CustomerId") == victim).sort("ItemId")
    cut = SegmentInputs(
        **{
            **inputs.__dict__,
            "purchases": inputs.purchases.filter(
                ~((pl.col("CustomerId") == victim) & (pl.col("ItemId") == 100))
            ),
        }
    )
    result, _ = segment_with_history(cut, CONFIG, None, None, None)
    mine = result.potential.filter(pl.col("CustomerId") == victim)
    assert mine["ItemId"][0] == 100
    assert mine["Actual"][0] == 0.0
    weeks = 182 / 7
    rest = float(before.filter(pl.col("ItemId") != 100)["Revenue"].sum()) / weeks
    typical = result.patterns.filter(
        (pl.col("SegmentId") == mine["SegmentId"][0]) & (pl.col("ItemId") == 100)
    )["TypicalShare"][0]
    assert mine["GapValue"][0] == pytest.approx(rest * typical / (1 - typical))
    outlet = result.outlets.filter(pl.col("CustomerId") == victim).row(0, named=True)
    assert outlet["PotentialValue"] >= mine["GapValue"][0]
    # the other outlets of the segment buy it: nobody else is told to push SKU 100 at full gap
    others = result.potential.filter((pl.col("ItemId") == 100) & (pl.col("Actual") == 0))
    assert others["CustomerId"].to_list() == [victim]


def test_rerun_keeps_ids_names_and_edited_tags(first: Any) -> None:
    result, state, _ = first
    edits = {"S2": {"name": "Premium lovers", "description": "bars", "tags": ["#premium", "#vip"]}}
    shuffled = hand_made(seed=5)  # same tastes, other sizes, jitter and channels
    again, state2 = segment_with_history(
        shuffled, CONFIG, state, result.outlets.select("CustomerId", "SegmentId"), edits
    )
    assert set(again.segments["Status"]) == {"same"}
    for segment in ("S1", "S2", "S3"):
        old = result.outlets.filter(pl.col("SegmentId") == segment)["CustomerId"]
        new = again.outlets.filter(pl.col("CustomerId").is_in(old.implode()))["SegmentId"]
        assert set(new) == {segment}
    s2 = again.segments.filter(pl.col("SegmentId") == "S2").row(0, named=True)
    assert (s2["Name"], s2["Description"], s2["Tags"]) == (
        "Premium lovers",
        "bars",
        "#premium #vip",
    )
    # edits travel on: a third run without the tags file keeps them from the state
    third, _ = segment_with_history(
        hand_made(seed=9), CONFIG, state2, again.outlets.select("CustomerId", "SegmentId"), None
    )
    assert third.segments.filter(pl.col("SegmentId") == "S2")["Tags"][0] == "#premium #vip"


def test_merge_and_split_are_reported(first: Any) -> None:
    result, state, inputs = first
    previous = result.outlets.select("CustomerId", "SegmentId")
    merged, state2 = segment_with_history(
        inputs, CONFIG.model_copy(update={"segments": 2}), state, previous, None
    )
    statuses = dict(zip(merged.segments["SegmentId"], merged.segments["Status"], strict=True))
    assert sorted(statuses.values()) == ["merged", "same"]
    merged_row = merged.segments.filter(pl.col("Status") == "merged").row(0, named=True)
    assert len(merged_row["PreviousIds"].split()) == 2
    # previous segments that did not survive as such are retired, and named as merge sources
    assert set(merged.info["retired"]) <= set(merged_row["PreviousIds"].split())
    split, _ = segment_with_history(
        inputs, CONFIG, state2, merged.outlets.select("CustomerId", "SegmentId"), None
    )
    assert sorted(split.segments["Status"]) == ["same", "same", "split"] or sorted(
        split.segments["Status"]
    ) == ["same", "split", "split"]
    new_ids = set(split.segments["SegmentId"]) - set(merged.segments["SegmentId"])
    assert new_ids and all(int(i[1:]) >= 4 for i in new_ids)  # ids are never reused


def test_bhattacharyya_bounds() -> None:
    assert bhattacharyya({"a": 0.5, "b": 0.5}, {"a": 0.5, "b": 0.5}) == pytest.approx(1.0)
    assert bhattacharyya({"a": 1.0}, {"b": 1.0}) == 0.0


def test_exports_read_back_with_the_same_numbers(first: Any) -> None:
    result, state, _ = first
    files = export_files(result, state, {"k": 3})
    frames = table_frames(result)
    for key, name in TABLE_FILES.items():
        back = pl.read_csv(io.BytesIO(files[name]), schema=frames[key].schema)
        assert back.equals(frames[key]), name
    for key, sheet in SHEETS.items():
        frame = frames[key]
        back = machine_names(
            pl.read_excel(io.BytesIO(files[XLSX_FILE]), sheet_name=sheet, engine="openpyxl"),
            frame.columns,
        )
        assert back.columns == frame.columns
        for column, dtype in frame.schema.items():
            if dtype.is_numeric():
                nan = float("nan")
                assert back[column].cast(pl.Float64).fill_null(nan).to_list() == pytest.approx(
                    frame[column].cast(pl.Float64).fill_null(nan).to_list(),
                    rel=1e-5,
                    abs=1e-9,
                    nan_ok=True,
                ), (key, column)
            else:
                assert (
                    back[column].cast(pl.String).fill_null("").to_list()
                    == frame[column].cast(pl.String).fill_null("").to_list()
                )
    assert files["segment_dna.png"].startswith(b"\x89PNG")
    assert b"<svg" in files["segment_dna.svg"][:500]
    tags = json.loads(files["segment_tags.json"])
    assert sorted(tags) == ["S1", "S2", "S3"]


def test_command_writes_everything_and_keeps_tags(demo_dir: Path, tmp_path: Path) -> None:
    parser = argparse.ArgumentParser()
    cli_segments.add_parser(parser.add_subparsers(dest="command"))
    out = tmp_path / "seg"
    truth = demo_dir / "truth" / "outlets.csv"
    args = parser.parse_args(
        ["segments", "--source", str(demo_dir), "--out", str(out), "--truth", str(truth)]
    )
    assert cli_segments.run(args) == 0
    summary = json.loads((out / "segments_summary.json").read_text())
    assert summary["ariVsTruth"]["overall"] >= 0.7  # small test demo; 0.95 on the default
    tags = json.loads((out / "segment_tags.json").read_text())
    first = sorted(tags)[0]
    tags[first]["tags"] = ["#edited"]
    (out / "segment_tags.json").write_text(json.dumps(tags))
    assert cli_segments.run(args) == 0
    again = pl.read_csv(out / "segments.csv")
    assert again.filter(pl.col("SegmentId") == first)["Tags"][0] == "#edited"
    assert set(again["Status"]) == {"same"}
    for name in [*TABLE_FILES.values(), XLSX_FILE, "segment_dna.png", "segment_dna.svg"]:
        assert (out / name).stat().st_size > 0
    bad = parser.parse_args(["segments", "--source", str(tmp_path / "nope"), "--out", str(out)])
    assert cli_segments.run(bad) == 2


class FakeSource:
    def __init__(self, inputs: SegmentInputs) -> None:
        self.inputs = inputs

    def regions(self) -> list[int]:
        return [1, 2]

    def read_region(
        self, area_id: int, history_start: date, before: date
    ) -> dict[str, pl.DataFrame]:
        from visitrank.contract.tables import TABLES

        customers = self.inputs.customers.filter(pl.col("AreaId") == area_id)
        ids = customers["CustomerId"]
        lines = self.inputs.purchases.filter(pl.col("CustomerId").is_in(ids.implode()))
        sales = lines.select("CustomerId").unique().sort("CustomerId").with_row_index("SaleId")
        sales = sales.with_columns(
            pl.col("SaleId").cast(pl.Int64) + 1000 * area_id,
            SaleDate=pl.lit(date(2026, 6, 1)),
            RepId=pl.lit(1, dtype=pl.Int64),
        )
        detail = lines.join(sales.select("SaleId", "CustomerId"), on="CustomerId").select(
            "SaleId", "ItemId", Quantity=pl.lit(1.0), Amount="Revenue"
        )
        items = self.inputs.items
        tables = {
            "MV_SetupArea": self.inputs.areas,
            "MV_SetupCity": pl.DataFrame({"CityId": [1], "CityName": ["X"], "AreaId": [1]}),
            "MV_SetupRep": pl.DataFrame({"RepId": [1], "RepName": ["R"], "AreaId": [1]}),
            "MV_SetupCustomer": customers.with_columns(
                CityId=pl.lit(1), Latitude=pl.lit(45.0), Longitude=pl.lit(5.0), RepId=pl.lit(1)
            ),
            "MV_SetupCategory": pl.DataFrame({"CategoryId": [1], "CategoryName": ["Spirits"]}),
            "MV_SetupSubCategory": pl.DataFrame(
                {"SubCategoryId": [1], "SubCategoryName": ["Gin"], "CategoryId": [1]}
            ),
            "MV_SetupBrand": items.select("BrandId", "BrandName").unique().sort("BrandId"),
            "MV_SetupItem": items.select(
                "ItemId", "ItemName", "BrandId", "SubCategoryId", "UnitPrice"
            ),
            "MV_Sales": sales.select("SaleId", "CustomerId", "SaleDate", "RepId"),
            "MV_SalesDetail": detail,
            "MV_Visit": pl.DataFrame(
                schema={
                    "VisitId": pl.Int64,
                    "CustomerId": pl.Int64,
                    "RepId": pl.Int64,
                    "VisitDate": pl.Date,
                }
            ),
        }
        return {
            name: tables[name].select([pl.col(c).cast(t) for c, t in spec.columns.items()])
            for name, spec in TABLES.items()
        }


class MemoryStore:
    def __init__(self) -> None:
        self.blobs: dict[str, bytes] = {}

    def write_files(self, run_id: str, files: dict[str, bytes]) -> list[str]:
        for name, data in files.items():
            self.blobs[f"segments/{run_id}/{name}"] = data
            self.blobs[f"segments/latest/{name}"] = data
        return [f"segments/{run_id}/{name}" for name in files]

    def read_json(self, path: str) -> dict[str, Any] | None:
        return json.loads(self.blobs[path]) if path in self.blobs else None

    def read_frame(self, path: str) -> pl.DataFrame | None:
        return pl.read_parquet(io.BytesIO(self.blobs[path])) if path in self.blobs else None


class MemorySink:
    def __init__(self) -> None:
        self.docs: dict[str, dict[str, Any]] = {}

    def upsert(self, documents: list[dict[str, Any]]) -> int:
        self.docs |= {doc["id"]: doc for doc in documents}
        return len(documents)

    def withdraw_missing(self, keep_ids: set[str]) -> list[str]:
        stale = sorted(set(self.docs) - keep_ids)
        for doc_id in stale:
            del self.docs[doc_id]
        return stale


def test_azure_activity_stores_exports_and_outlet_cards() -> None:
    source, store, sink = FakeSource(hand_made()), MemoryStore(), MemorySink()
    # the card of an outlet deleted from the ERP since the last run, and a retired segment
    sink.upsert([{"id": "outlet:999", "pk": "outlet:999"}, {"id": "segment:S9", "pk": "x"}])
    payload = {
        "runId": "visitrank-2026-W28",
        "weekStart": "2026-07-06",
        "asOf": "2026-07-05",
        "windowStart": "2026-01-05",
        "historyStart": "2025-01-06",
        "segmentation": {"sample_size": 500, "k_sample": 500},
    }
    out = segment_run(payload, source, store, sink)
    assert out["k"] == 3 and out["outlets"] == 90
    assert out["withdrawn"] == 2 and {"outlet:999", "segment:S9"}.isdisjoint(sink.docs)
    assert len(sink.docs) == out["written"] == 90 + 3
    assert out["potentialPath"] in store.blobs
    assert "segments/latest/segments_state.json" in store.blobs
    card = sink.docs["outlet:1"]
    assert card["segmentId"] in {"S1", "S2", "S3"}
    segment = sink.docs[f"segment:{card['segmentId']}"]
    assert segment["dna"] and segment["tags"]
    json.dumps(list(sink.docs.values()))  # documents are plain JSON
    again = segment_run({**payload, "runId": "r2", "dryRun": True}, source, store, MemorySink())
    assert [s["Status"] for s in again["segments"]] == ["same"] * 3
    assert again["written"] == 0


def test_a_rerun_starts_from_the_previous_segments_and_keeps_their_k(first: Any) -> None:
    result, state, inputs = first
    assert result.info["kChosenBy"] == "stability"
    assert state["clustering"] == {"searchedOn": inputs.end.isoformat()}
    again, state2 = segment_with_history(
        hand_made(seed=5), CONFIG, state, result.outlets.select("CustomerId", "SegmentId"), None
    )
    assert (again.info["k"], again.info["kChosenBy"]) == (3, "previous")
    joined = again.outlets.join(hand_made.truth, on="CustomerId")  # type: ignore[attr-defined]
    assert adjusted_rand_score(joined["Taste"], joined["SegmentId"]) == pytest.approx(1.0)
    # the search date travels on while k is kept
    assert state2["clustering"] == {"searchedOn": inputs.end.isoformat()}
    assert again.info["kSearchedOn"] == inputs.end.isoformat()


def test_k_is_searched_again_when_the_fit_drifts(first: Any) -> None:
    """Previous segments that the data no longer support (outlets dealt into them at random:
    the warm fit cannot agree with them) make the run search k again."""
    result, state, inputs = first
    rng = np.random.default_rng(0)
    dealt = result.outlets.select(
        "CustomerId",
        SegmentId=pl.Series([f"S{1 + i}" for i in rng.integers(0, 3, result.outlets.height)]),
    )
    again, state2 = segment_with_history(inputs, CONFIG, state, dealt, None)
    assert (again.info["k"], again.info["kChosenBy"]) == (3, "stability")
    assert state2["clustering"] == {"searchedOn": inputs.end.isoformat()}


def test_k_is_searched_again_after_research_weeks_or_without_warm_start(first: Any) -> None:
    result, state, inputs = first
    previous = result.outlets.select("CustomerId", "SegmentId")
    later = SegmentInputs(**{**inputs.__dict__, "end": inputs.end + timedelta(weeks=13)})
    again, state2 = segment_with_history(later, CONFIG, state, previous, None)
    assert again.info["kChosenBy"] == "stability"
    assert state2["clustering"] == {"searchedOn": later.end.isoformat()}
    off = CONFIG.model_copy(update={"warm_start": False})
    assert segment_with_history(inputs, off, state, previous, None)[0].info["kChosenBy"] == (
        "stability"
    )
    # one week short of research_weeks, k is kept
    sooner = SegmentInputs(**{**inputs.__dict__, "end": inputs.end + timedelta(weeks=12)})
    assert segment_with_history(sooner, CONFIG, state, previous, None)[0].info["kChosenBy"] == (
        "previous"
    )


def test_a_fixed_k_is_not_a_search(first: Any) -> None:
    _, state, inputs = first
    fixed, state2 = segment_with_history(
        inputs, CONFIG.model_copy(update={"segments": 2}), state, None, None
    )
    assert fixed.info["kChosenBy"] == "fixed" and state2["clustering"] == {}


def test_the_warm_fit_holds_only_on_previous_segments_the_data_support() -> None:
    rng = np.random.default_rng(1)
    blobs = np.vstack([rng.normal(0, 0.1, (40, 2)), rng.normal(3, 0.1, (40, 2))])
    truth = np.repeat([0, 1], 40)
    model = warm_fit(blobs, truth, CONFIG)
    assert model is not None and model.n_clusters == 2
    assert adjusted_rand_score(truth, model.labels_) == pytest.approx(1.0)
    unknown = truth.copy()
    unknown[:10] = -1  # outlets new since the previous run do not count
    assert warm_fit(blobs, unknown, CONFIG) is not None
    assert warm_fit(blobs, rng.integers(0, 2, 80), CONFIG) is None  # drifted
    assert warm_fit(blobs, np.zeros(80, dtype=np.int64), CONFIG) is None  # one segment
    assert warm_fit(blobs, np.where(truth == 1, 2, 0), CONFIG) is None  # segment 1 empty


def test_previous_labels_follow_the_outlets() -> None:
    warm = WarmStart(pl.DataFrame({"CustomerId": [5, 6, 7], "SegmentId": ["S9", "S2", "S9"]}))
    labels = previous_labels(pl.Series([7, 8, 6, 5]), warm)
    assert labels.tolist() == [1, -1, 0, 1]  # S2 -> 0, S9 -> 1; outlet 8 is new
