"""Segment evidence on the visit lists, on hand-made frames and through the local run."""

import json
from pathlib import Path

import polars as pl
import pytest

from scoring.config import ScoringConfig
from scoring.segmentation import Segmentation
from scoring.segmentation_config import SegmentationConfig
from tests.conftest import LocalRun
from visitrank.local.run import run_local
from visitrank.pipeline.segment_support import (
    attach_segment_support,
    support_frames,
    support_summary,
)


def segmentation() -> Segmentation:
    empty = pl.DataFrame()
    return Segmentation(
        outlets=pl.DataFrame({"CustomerId": [1, 2, 3], "SegmentId": ["S1", "S2", "inactive"]}),
        segments=pl.DataFrame({"SegmentId": ["S1", "S2"], "Name": ["Premium", "Value"]}),
        dna=empty,
        patterns=empty,
        potential=pl.DataFrame(
            {
                "CustomerId": [1, 1, 2],
                "SegmentId": ["S1", "S1", "S2"],
                "ItemId": [10, 12, 10],
                "ItemName": ["a", "c", "a"],
                "Actual": [0.0, 1.0, 0.0],
                "Expected": [5.0, 4.0, 2.0],
                "GapValue": [5.0, 3.0, 2.0],
                "SegmentCarry": [0.9, 0.75, 0.6],
                "SegmentLift": [1.2, 1.1, 1.0],
                "PotentialRank": [1, 2, 1],
            }
        ),
        mix=empty,
    )


def documents() -> list[dict]:
    visit = {"reason": "2 SKU(s) below potential", "skus": [{"itemId": 10}, {"itemId": 11}]}
    return [
        {
            "repId": 7,
            "visits": [
                {"customerId": 1, **json.loads(json.dumps(visit))},
                {"customerId": 3, "reason": "x", "skus": [{"itemId": 10}]},
            ],
        }
    ]


def test_support_frames_name_the_segments_and_drop_inactive_outlets() -> None:
    outlets, skus = support_frames(segmentation())
    assert outlets.rows() == [(1, "S1", "Premium"), (2, "S2", "Value")]
    assert skus.rows() == [
        (1, 10, "S1", "Premium", 0.9, 5.0),
        (1, 12, "S1", "Premium", 0.75, 3.0),
        (2, 10, "S2", "Value", 0.6, 2.0),
    ]


def test_each_pushed_sku_carries_the_segment_evidence() -> None:
    original = documents()
    out = attach_segment_support(original, *support_frames(segmentation()))
    first, second = out[0]["visits"]
    assert first["behaviourSegment"] == {"segmentId": "S1", "name": "Premium"}
    assert first["skus"][0]["segmentSupport"] == {
        "segmentId": "S1",
        "segmentName": "Premium",
        "segmentCarry": 0.9,
        "segmentGapValue": 5.0,
    }
    assert first["skus"][1]["segmentSupport"] is None  # item 11: not in the segment potential
    assert first["reason"].endswith("; 1 of 2 also below its segment 'Premium'")
    # an inactive outlet has no segment, and its SKUs no evidence; its reason is unchanged
    assert second["behaviourSegment"] is None
    assert second["skus"][0]["segmentSupport"] is None
    assert second["reason"] == "x"
    assert "behaviourSegment" not in original[0]["visits"][0]  # inputs are not modified
    assert support_summary(out) == {
        "pushedSkus": 3,
        "segmentConfirmedSkus": 1,
        "visitsWithSegment": 1,
    }


def test_local_run_attaches_the_segment_evidence(
    demo_dir: Path, local_run: LocalRun, tmp_path: Path
) -> None:
    result = run_local(
        demo_dir, tmp_path / "out", ScoringConfig(), segment_config=SegmentationConfig()
    )
    docs = [json.loads(line) for line in result.lists_path.read_text().splitlines()]
    visits = [v for d in docs for v in d["visits"]]
    skus = [s for v in visits for s in v["skus"]]
    # the evidence is added to the same lists: visits and SKUs are those of the run without it
    assert [(v["customerId"], [s["itemId"] for s in v["skus"]]) for v in visits] == [
        (v["customerId"], [s["itemId"] for s in v["skus"]])
        for d in local_run.documents
        for v in d["visits"]
    ]
    potential = pl.read_csv(tmp_path / "out" / "segments" / "segment_potential.csv")
    listed = set(zip(potential["CustomerId"], potential["ItemId"], strict=True))
    pushed = {(v["customerId"], s["itemId"]): s for v in visits for s in v["skus"]}
    # a pushed SKU has evidence exactly when the exported segment potential lists it
    assert {key for key, s in pushed.items() if s["segmentSupport"] is not None} == (
        listed & set(pushed)
    )
    assert result.summary["segments"]["status"] == "ok"
    counts = result.summary["segments"]["evidence"]
    assert counts["pushedSkus"] == len(skus)
    assert 0 < counts["segmentConfirmedSkus"] < len(skus)
    assert (tmp_path / "out" / "segments" / "segments.xlsx").is_file()


def test_run_without_segmentation_has_no_segment_evidence(local_run: LocalRun) -> None:
    visits = [v for d in local_run.documents for v in d["visits"]]
    assert visits and all("behaviourSegment" not in v for v in visits)
    assert local_run.result.summary["segments"]["status"] == "skipped"
    assert local_run.result.summary["segments"]["evidence"]["visitsWithSegment"] == 0
    assert not (local_run.out_dir / "segments").exists()


def test_a_failing_segmentation_never_blocks_the_lists(
    demo_dir: Path, local_run: LocalRun, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Fault injection: the segmentation step raises; the lists are those of a run without it."""

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("segmentation exploded")

    monkeypatch.setattr("visitrank.local.run.segment_and_export", broken)
    result = run_local(
        demo_dir, tmp_path / "out", ScoringConfig(), segment_config=SegmentationConfig()
    )
    assert result.status == "partial"  # as in Azure: the lists are complete, the evidence is not
    assert result.summary["failedRegions"] == []
    assert result.summary["segments"]["status"] == "failed"
    assert result.summary["segments"]["error"] == "RuntimeError: segmentation exploded"
    docs = [json.loads(line) for line in result.lists_path.read_text().splitlines()]
    assert [d["visits"] for d in docs] == [d["visits"] for d in local_run.documents]


def test_staged_rows_give_the_same_segmentation_inputs_as_the_source(
    demo_dir: Path, tmp_path: Path
) -> None:
    """`visitrank run` segments from its staged clean rows instead of reading the source again:
    the inputs (purchases, customers, catalogue, window) are those `visitrank segments` reads."""
    from visitrank.adapters.file_source import FileSource
    from visitrank.adapters.local_stage import stage_from_source
    from visitrank.local.segments import inputs_from_staged
    from visitrank.pipeline.segments import inputs_from_tables

    config = SegmentationConfig()
    staged = stage_from_source(
        FileSource(demo_dir), tmp_path / "work", tmp_path / "q", None, ScoringConfig(), 7_000
    )
    from_staged = inputs_from_staged(staged, config)
    assert from_staged is not None
    tables = FileSource(demo_dir).read_all()
    from_source = inputs_from_tables(tables, config, staged.window.as_of)
    assert (from_staged.start, from_staged.end) == (from_source.start, from_source.end)
    assert from_staged.purchases.height > 1000
    assert from_staged.purchases.equals(from_source.purchases)
    assert from_staged.customers.equals(from_source.customers)
    assert from_staged.items.equals(from_source.items)
    assert from_staged.quarantined == from_source.quarantined
    # a segmentation looking back further than the staged history reads the source instead
    short = stage_from_source(
        FileSource(demo_dir),
        tmp_path / "work2",
        tmp_path / "q2",
        None,
        ScoringConfig(history_weeks=26, lookback_weeks=26),
    )
    assert inputs_from_staged(short, SegmentationConfig(lookback_weeks=26)) is not None
    assert inputs_from_staged(short, SegmentationConfig(lookback_weeks=27)) is None
