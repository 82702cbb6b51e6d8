"""The activities called as the Functions worker calls them, against the emulators.

The input goes through the worker's ActivityTriggerConverter (JSON text → Python), the
registered user function runs with settings read from the environment, and the output goes back
through the converter (Python → JSON), exactly the round trip of a real invocation.
"""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import polars as pl
import pytest
from azure.functions import meta
from azure.functions.durable_functions import ActivityTriggerConverter

from scoring.config import ScoringConfig
from visitrank.adapters.app_settings import Settings
from visitrank.adapters.blob_scores import BLOB_PREFIX, BlobScores
from visitrank.adapters.blob_staging import BlobStaging
from visitrank.adapters.cosmos_sink import CosmosSink
from visitrank.pipeline.payloads import RunPlan
from visitrank.pipeline.score_history import scoring_fingerprint

from .history import registered

WEEK = "2026-11-16"


def call_activity(name: str, payload: dict[str, Any]) -> dict[str, Any]:
    """Invoke activity ``name`` the way the worker does (JSON in, JSON out)."""
    decoded = ActivityTriggerConverter.decode(
        meta.Datum(json.dumps(payload), "json"), trigger_metadata=None
    )
    result = registered(name)(decoded)
    encoded = ActivityTriggerConverter.encode(result, expected_type=None)
    value: dict[str, Any] = json.loads(encoded.value)
    return value


@pytest.fixture(scope="module")
def plan(settings: Settings) -> dict[str, Any]:
    return call_activity(
        "plan_run",
        {"runId": "act-run", "startedAt": "2026-11-16T05:00:03+00:00", "weekStart": WEEK},
    )


def test_plan_lists_regions_and_window(
    plan: dict[str, Any], demo_tables: dict[str, pl.DataFrame]
) -> None:
    assert plan["regions"] == sorted(demo_tables["MV_SetupCustomer"]["AreaId"].unique())
    assert plan["weekStart"] == WEEK
    sales = demo_tables["MV_Sales"].filter(pl.col("SaleDate") < date.fromisoformat(WEEK))
    assert plan["asOf"] == sales["SaleDate"].max().isoformat()  # last sales day before
    assert date.fromisoformat(plan["windowStart"]) < date.fromisoformat(plan["asOf"])
    assert plan["runId"] == "act-run"
    assert RunPlan.from_json(plan).config.scoring.visits_per_week == 30


def test_plan_defaults_to_the_monday_of_the_start(settings: Settings) -> None:
    plan = call_activity("plan_run", {"runId": "r", "startedAt": "2026-11-19T10:00:00+00:00"})
    assert plan["weekStart"] == WEEK


def test_plan_rejects_unknown_regions(settings: Settings) -> None:
    with pytest.raises(ValueError, match=r"\[99\]"):
        call_activity(
            "plan_run", {"runId": "r", "startedAt": "2026-11-16T05:00:00", "regions": [1, 99]}
        )


def test_score_region_stages_parquet_and_returns_counts(
    plan: dict[str, Any], staging: BlobStaging, demo_tables: dict[str, pl.DataFrame]
) -> None:
    payload = {
        **{k: plan[k] for k in ("runId", "weekStart", "asOf", "windowStart", "historyStart")},
        "config": plan["config"],
        "areaId": 2,
    }
    outcome = call_activity("score_region", payload)
    assert outcome["status"] == "ok"
    assert outcome["areaId"] == 2
    outlets = staging.read_frame(outcome["paths"]["outlets"])
    customers = demo_tables["MV_SetupCustomer"].filter(pl.col("AreaId") == 2)
    assert outcome["outlets"] == outlets.height
    assert 0 < outlets.height <= customers.height
    assert set(outlets["AreaId"]) == {2}
    assert {"Priority", "Segment", "PushedSkus"} <= set(outlets.columns)
    skus = staging.read_frame(outcome["paths"]["skus"])
    assert skus.height == outcome["skusToPush"]
    assert set(skus["CustomerId"]) <= set(outlets["CustomerId"])
    reps = staging.read_frame(outcome["paths"]["reps"])
    assert set(reps["RepId"]) == set(outlets["RepId"].drop_nulls())
    # demo data plant customers without GPS: quarantine reports them, per region
    assert sum(outcome["quarantined"]["MV_SetupCustomer"].values()) >= 1
    assert len(json.dumps(outcome)) < 4000  # small JSON, never frames


def test_score_region_keeps_the_week_scores_except_in_a_dry_run(
    plan: dict[str, Any], staging: BlobStaging
) -> None:
    """The region's week scores are kept for the orders' calibration of later weeks, under a
    fresh meta blob; a dry run keeps nothing (a later real run must not read its scores)."""
    prefix = f"{BLOB_PREFIX}/region=2/"
    for blob in staging.list_paths(prefix):
        staging.delete_path(blob)
    payload = {
        **{k: plan[k] for k in ("runId", "weekStart", "asOf", "windowStart", "historyStart")},
        "config": plan["config"],
        "areaId": 2,
    }
    call_activity("score_region", {**payload, "dryRun": True})
    assert staging.list_paths(prefix) == []
    outcome = call_activity("score_region", payload)
    kept = BlobScores(staging)
    fingerprint = scoring_fingerprint(ScoringConfig.model_validate(plan["config"]))
    as_of = date.fromisoformat(plan["asOf"])
    assert kept.weeks(2, fingerprint) == [as_of]
    scores = kept.read(as_of, 2)
    staged = staging.read_frame(outcome["paths"]["skus"])
    assert scores.gaps.height == staged.filter(pl.col("ItemId") > 0).height > 0
    assert set(scores.segments["CustomerId"]) == set(
        staging.read_frame(outcome["paths"]["outlets"])["CustomerId"]
    )


def test_score_region_failure_raises_for_the_retry_policy(plan: dict[str, Any]) -> None:
    payload = {**plan, "areaId": 1, "config": {"visits_per_week": -1}}
    with pytest.raises(ValueError):
        call_activity("score_region", payload)


def test_publish_dry_run_writes_nothing(
    plan: dict[str, Any], sink: CosmosSink, settings: Settings
) -> None:
    base = {k: plan[k] for k in ("runId", "weekStart", "asOf", "windowStart", "historyStart")}
    outcome = call_activity(
        "score_region", {**base, "config": plan["config"], "areaId": 1, "runId": "dry"}
    )
    result = call_activity(
        "publish_run",
        {
            **plan,
            "runId": "dry",
            "weekStart": "2026-11-16",
            "dryRun": True,
            "complete": True,
            "regions": [outcome["areaId"]],
        },
    )
    assert result["documents"] > 0
    assert result["written"] == 0
    assert result["publishedWeek"] is None
    assert sink.week_document_refs("2026-11-16") == [] or all(
        (sink.read_document(rep, "2026-11-16") or {}).get("runId") != "dry"
        for _, rep in sink.week_document_refs("2026-11-16")
    )


def order_payload(plan: dict[str, Any], area: int, run_id: str, dry_run: bool) -> dict[str, Any]:
    keys = ("weekStart", "asOf", "windowStart", "historyStart", "config", "orderConfig")
    return {**{k: plan[k] for k in keys}, "runId": run_id, "areaId": area, "dryRun": dry_run}


def test_propose_orders_stages_one_region_and_feeds_back(
    plan: dict[str, Any], staging: BlobStaging, demo_tables: dict[str, pl.DataFrame]
) -> None:
    history = "orders/history/region=2.parquet"
    if history in staging.list_paths("orders/history/"):  # left by a weekly run of another test
        staging.container.delete_blob(history)
    dry = call_activity("propose_orders", order_payload(plan, 2, "orders-dry", True))
    assert dry["status"] == "ok" and dry["areaId"] == 2
    assert history not in staging.list_paths("orders/history/")  # a dry run keeps no feedback
    outcome = call_activity("propose_orders", order_payload(plan, 2, "orders-act", False))
    assert len(json.dumps(outcome)) < 2000  # small JSON, never frames
    lines = staging.read_frame(outcome["paths"]["lines"])
    customers = staging.read_frame(outcome["paths"]["customers"])
    region = demo_tables["MV_SetupCustomer"].filter(pl.col("AreaId") == 2)["CustomerId"]
    assert lines.height == outcome["lines"] > 0
    assert set(lines["CustomerId"]) <= set(region)
    assert set(customers["CustomerId"]) <= set(region)
    assert outcome["orders"] == lines["CustomerId"].n_unique()
    assert sum(outcome["kinds"].values()) == lines.height
    assert {"ItemId", "Quantity", "Kind", "Probability", "Reason", "Rank"} <= set(lines.columns)
    assert outcome["paths"]["lines"].startswith("runs/orders-act/region=2/")
    feedback = staging.read_frame(history)
    assert feedback.height == lines.height
    assert set(feedback["AsOf"]) == {date.fromisoformat(plan["asOf"])}
    # a rerun of the same as-of replaces its lines (and uses no feedback from itself)
    again = call_activity("propose_orders", order_payload(plan, 2, "orders-act", False))
    assert again["lines"] == outcome["lines"]
    assert staging.read_frame(history).height == lines.height


def test_propose_orders_failure_raises_for_the_retry_policy(plan: dict[str, Any]) -> None:
    payload = {**order_payload(plan, 1, "bad", True), "orderConfig": {"max_lines": 0}}
    with pytest.raises(ValueError):
        call_activity("propose_orders", payload)


def test_segment_dry_run_keeps_latest_and_cosmos(
    plan: dict[str, Any], staging: BlobStaging
) -> None:
    def latest() -> dict[str, str]:
        return {
            blob.name: blob.etag
            for blob in staging.container.list_blobs(name_starts_with="segments/latest/")
        }

    before = latest()
    payload = {k: plan[k] for k in ("weekStart", "asOf", "windowStart", "historyStart")}
    outcome = call_activity("segment_outlets", {**payload, "runId": "seg-dry", "dryRun": True})
    assert outcome["status"] == "ok"
    assert outcome["written"] == 0
    assert outcome["potentialPath"] == "segments/seg-dry/segment_potential.parquet"
    potential = staging.read_frame(outcome["potentialPath"])
    assert potential.height == outcome["potentialRows"]
    support = staging.read_frame(outcome["supportPaths"]["skus"])
    assert support.height == potential.height  # every potential row, with its segment's name
    assert support["SegmentName"].null_count() == 0
    outlets = staging.read_frame(outcome["supportPaths"]["outlets"])
    assert set(potential["SegmentId"]) <= set(outlets["SegmentId"])
    assert "inactive" not in set(outlets["SegmentId"])  # only outlets with an active segment
    assert outlets["CustomerId"].is_unique().all()
    assert latest() == before
    assert len(json.dumps(outcome)) < 4000


def test_publish_evidence_comes_from_this_run_or_the_latest_segmentation(
    staging: BlobStaging,
) -> None:
    """`segment_evidence` against Azurite: this run's frames, else the latest ones (a rerun
    of some regions keeps the evidence), none when no segmentation ever ran, and a reported
    error (the lists still go out) when this run's frames cannot be read."""
    from activities.publish import LATEST_SUPPORT_PATHS, segment_evidence
    from visitrank.pipeline.segment_support import attach_segment_support

    docs = [{"repId": 7, "visits": [{"customerId": 1, "reason": "r", "skus": [{"itemId": 10}]}]}]
    outlets = pl.DataFrame({"CustomerId": [1], "SegmentId": ["S1"], "SegmentName": ["Premium"]})
    skus = pl.DataFrame(
        {
            "CustomerId": [1],
            "ItemId": [10],
            "SegmentId": ["S1"],
            "SegmentName": ["Premium"],
            "SegmentCarry": [0.9],
            "SegmentGap": [4.0],
        }
    )

    def clear_latest() -> None:
        for path in LATEST_SUPPORT_PATHS.values():
            if path in staging.list_paths(path):
                staging.container.delete_blob(path)

    clear_latest()
    try:
        # no segmentation has run yet: the documents as they are, no error
        assert segment_evidence(staging, None) == (None, None)
        # this run's paths cannot be read: lists unchanged, the error reported
        missing = {"outlets": "segments/none/o.parquet", "skus": "segments/none/s.parquet"}
        frames, error = segment_evidence(staging, missing)
        assert frames is None and error is not None and "ResourceNotFoundError" in error
        # a run that did not segment uses the latest segmentation's frames
        staging.write_frame(LATEST_SUPPORT_PATHS["outlets"], outlets)
        staging.write_frame(LATEST_SUPPORT_PATHS["skus"], skus)
        frames, error = segment_evidence(staging, None)
        assert error is None and frames is not None
        attached = attach_segment_support(docs, *frames)
        (visit,) = attached[0]["visits"]
        assert visit["behaviourSegment"] == {"segmentId": "S1", "name": "Premium"}
        assert visit["skus"][0]["segmentSupport"]["segmentGapValue"] == 4.0
    finally:
        clear_latest()
