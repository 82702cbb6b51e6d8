"""Settings, Blob staging and Cosmos sink against Azurite and the Cosmos emulator."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import polars as pl
import pytest
from azure.cosmos import exceptions

from visitrank.adapters.app_settings import DEFAULT_SCHEDULE, Settings, SettingsError
from visitrank.adapters.blob_staging import BlobStaging, region_prefix
from visitrank.adapters.cosmos_sink import CosmosSink, with_backoff
from visitrank.adapters.segment_store import CosmosSegmentSink


def test_settings_defaults_and_overrides() -> None:
    settings = Settings.from_env(
        {
            "VISITRANK_COSMOS_ENDPOINT": "https://acct.documents.azure.com:443/",
            "VISITRANK_SCORING_CONFIG": '{"visits_per_week": 20}',
            "AzureWebJobsStorage__accountName": "stacct",
        }
    )
    assert settings.schedule == DEFAULT_SCHEDULE
    assert settings.cosmos_key is None  # managed identity
    assert settings.blob_connection_string is None
    assert settings.blob_account_url == "https://stacct.blob.core.windows.net"
    assert settings.scoring_config().visits_per_week == 20
    assert settings.order_config().max_lines == 40
    assert (settings.cosmos_orders_container, settings.cosmos_segments_container) == (
        "orders",
        "segments",
    )
    with pytest.raises(AttributeError):
        settings.schedule = "x"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("VISITRANK_SQL_BATCH_SIZE", "lots", "not an integer"),
        ("VISITRANK_COSMOS_VERIFY_TLS", "maybe", "not a boolean"),
        ("VISITRANK_SCORING_CONFIG", "[1]", "JSON object"),
        ("VISITRANK_SCORING_CONFIG", '{"nope": 1}', "not a valid ScoringConfig"),
        ("VISITRANK_ORDER_CONFIG", '{"max_lines": 0}', "not a valid OrderConfig"),
        ("VISITRANK_SEGMENTATION_CONFIG", '{"k_max": "many"}', "not a valid SegmentationConfig"),
        ("VISITRANK_CONFIG", '{"routing": {}}', "unknown config sections"),
        ("VISITRANK_CONFIG", '{"orders": {"max_lines": 0}}', "invalid orders config"),
    ],
)
def test_settings_reject_bad_values(name: str, value: str, message: str) -> None:
    with pytest.raises(SettingsError, match=message) as info:
        Settings.from_env({name: value})
    assert name in str(info.value)


def test_settings_require_names_missing_setting() -> None:
    with pytest.raises(SettingsError, match="VISITRANK_SQL_CONNECTION_STRING"):
        Settings().require_sql()


def test_blob_round_trip_keeps_types(staging: BlobStaging) -> None:
    frame = pl.DataFrame(
        {"CustomerId": [3, 1, 2], "Priority": [0.5, None, 2.25], "Name": ["a", "b", "ü"]}
    )
    path = f"{region_prefix('run-roundtrip', 7)}/outlets.parquet"
    staging.write_frame(path, frame)
    staging.write_frame(path, frame.head(2))  # overwrite, not append
    back = staging.read_frame(path)
    assert back.equals(frame.head(2))
    assert back.schema == frame.schema
    assert staging.list_paths("runs/run-roundtrip/") == [path]


def test_blob_read_frames_concatenates(staging: BlobStaging) -> None:
    paths = []
    for area in (1, 2):
        paths.append(
            staging.write_frame(
                f"{region_prefix('run-concat', area)}/x.parquet", pl.DataFrame({"AreaId": [area]})
            )
        )
    assert staging.read_frames(paths)["AreaId"].to_list() == [1, 2]
    assert staging.read_frames([]).height == 0


def _doc(rep: int, week: str, visits: int) -> dict[str, Any]:
    return {
        "id": f"{rep}:{week}",
        "repId": rep,
        "weekStart": week,
        "runId": "r1",
        "visits": [{"rank": i + 1} for i in range(visits)],
    }


def test_cosmos_upsert_is_idempotent_and_point_readable(sink: CosmosSink) -> None:
    week = "2031-01-06"
    docs = [_doc(rep, week, rep % 3) for rep in range(1, 41)]
    assert sink.upsert_documents(docs) == 40
    rerun = [{**d, "runId": "r2"} for d in docs]
    sink.upsert_documents(rerun)
    refs = sink.week_document_refs(week)
    assert len(refs) == 40  # overwritten, never duplicated
    doc = sink.read_document(17, week)
    assert doc is not None
    assert doc["runId"] == "r2"
    assert len(doc["visits"]) == 17 % 3
    assert sink.read_document(17, "2031-01-13") is None
    assert sink.read_document(999, week) is None


def test_cosmos_upsert_rejects_documents_without_keys(sink: CosmosSink) -> None:
    with pytest.raises(ValueError, match="'id'"):
        sink.upsert_documents([{"repId": 1}])


def test_cosmos_withdraws_reps_without_list(sink: CosmosSink) -> None:
    week = "2031-02-03"
    sink.upsert_documents([_doc(rep, week, 2) for rep in (1, 2, 3)])
    sink.upsert_documents([_doc(9, "2031-02-10", 2)])  # another week: untouched
    withdrawn = sink.withdraw_missing(week, {"1:2031-02-03", "3:2031-02-03"}, "r9", "now")
    assert withdrawn == [2]
    gone = sink.read_document(2, week)
    assert gone is not None
    assert gone["withdrawn"] is True
    assert gone["visits"] == []
    assert gone["runId"] == "r9"
    kept = sink.read_document(1, week)
    assert kept is not None
    assert len(kept["visits"]) == 2
    other = sink.read_document(9, "2031-02-10")
    assert other is not None
    assert "withdrawn" not in other


def test_the_publication_record_never_moves_back_and_stays_bounded(
    fresh_database: Settings,
) -> None:
    sink = CosmosSink.from_settings(fresh_database)
    assert sink.published_week() is None
    sink.record_publication("2031-02-10", {"runId": "a"})
    record = sink.record_publication("2031-02-03", {"runId": "older-rerun"})
    assert record["latestWeek"] == "2031-02-10"  # a rerun of an older week is recorded only
    assert record["weeks"]["2031-02-03"] == {"runId": "older-rerun"}
    assert sink.published_week() == "2031-02-10"
    for day in range(1, 20):
        sink.record_publication(f"2032-01-{day:02d}", {"runId": str(day)})
    record = sink.read_publication() or {}
    assert len(record["weeks"]) == 12 and min(record["weeks"]) == "2032-01-08"
    assert record["latestWeek"] == "2032-01-19"
    # not a week's document: withdrawing a week never touches it
    assert sink.week_document_refs("2032-01-19") == []


def test_concurrent_publications_of_different_weeks_are_all_recorded(
    fresh_database: Settings,
) -> None:
    """The record is read, merged and replaced only if unchanged since (etag): a publish of
    another week writing in between makes the loser merge again, never drop the winner."""
    sink = CosmosSink.from_settings(fresh_database)
    weeks = [f"2033-03-{day:02d}" for day in range(1, 9)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda week: sink.record_publication(week, {"runId": week}), weeks))
    record = sink.read_publication() or {}
    assert sorted(record["weeks"]) == weeks
    assert record["latestWeek"] == weeks[-1]
    stale = sink.read_publication()
    sink.record_publication("2033-04-01", {"runId": "newer"})
    with pytest.raises(exceptions.CosmosHttpResponseError) as lost:
        sink._write_record(stale, {**(stale or {}), "latestWeek": "stale"})
    assert lost.value.status_code == 412


def test_outlet_cards_of_outlets_no_longer_segmented_are_deleted(
    fresh_database: Settings,
) -> None:
    cards = CosmosSegmentSink.from_settings(fresh_database)
    ids = ["segment:S1", "segment:S2", "outlet:1", "outlet:2", "outlet:3"]
    cards.upsert([{"id": doc_id, "pk": doc_id} for doc_id in ids])
    gone = cards.withdraw_missing({"segment:S1", "outlet:1", "outlet:3"})
    assert gone == ["outlet:2", "segment:S2"]
    left = cards.container.query_items(
        "SELECT VALUE c.id FROM c", enable_cross_partition_query=True
    )
    assert sorted(left) == ["outlet:1", "outlet:3", "segment:S1"]
    assert cards.withdraw_missing({"segment:S1", "outlet:1", "outlet:3"}) == []  # idempotent


def test_parallel_upserts_are_fast_enough(sink: CosmosSink) -> None:
    """Guards the emulator's keep-alive setup: 200 upserts must not take ~7 s (30 req/s)."""
    docs = [_doc(rep, "2031-03-03", 1) for rep in range(1000, 1200)]
    started = time.perf_counter()
    sink.upsert_documents(docs)
    assert time.perf_counter() - started < 5.0
    assert len(sink.week_document_refs("2031-03-03")) == 200


def test_backoff_retries_throttling_then_succeeds() -> None:
    calls: list[int] = []
    delays: list[float] = []

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise exceptions.CosmosHttpResponseError(status_code=429, message="throttled")
        return "ok"

    assert with_backoff(flaky, sleep=delays.append, base_seconds=0.01) == "ok"
    assert len(calls) == 3
    assert len(delays) == 2
    assert delays[1] > delays[0] * 1.5 - 0.01  # exponential


def test_backoff_does_not_retry_other_errors() -> None:
    calls: list[int] = []

    def broken() -> None:
        calls.append(1)
        raise exceptions.CosmosHttpResponseError(status_code=400, message="bad")

    with pytest.raises(exceptions.CosmosHttpResponseError):
        with_backoff(broken, sleep=lambda _: None)
    assert len(calls) == 1


def test_proposed_orders_attach_only_to_covered_regions() -> None:
    import polars as pl

    from visitrank.pipeline.fan_in import attach_region_orders

    documents = [{"id": "7:w", "visits": [{"customerId": 1}, {"customerId": 2}, {"customerId": 3}]}]
    outlets = pl.DataFrame({"CustomerId": [1, 2, 3], "AreaId": [1, 1, 2]})
    line = {"itemId": 5, "itemName": "x", "quantity": 2.0, "kind": "usual", "probability": 0.9}
    orders = [{"customerId": 1, "lines": [{**line, "reason": "r"}]}]
    (document,) = attach_region_orders(documents, orders, outlets, [1])
    first, second, third = document["visits"]
    assert first["proposedOrder"] == [
        {k: line[k] for k in ("itemId", "quantity", "kind", "probability")}
    ]
    assert second["proposedOrder"] == []  # region covered, nothing proposed
    assert "proposedOrder" not in third  # region 2's orders failed: no claim either way
    assert "proposedOrder" not in documents[0]["visits"][0]  # inputs untouched
    (bare,) = attach_region_orders(documents, orders, outlets, [])
    assert all("proposedOrder" not in visit for visit in bare["visits"])


def test_settings_carry_the_segmentation_config_to_the_plan() -> None:
    """Azure can set the behaviour segmentation, like the scoring and the orders."""
    settings = Settings.from_env({"VISITRANK_SEGMENTATION_CONFIG": '{"k_max": 5}'})
    assert settings.segmentation_config().k_max == 5
    assert Settings.from_env({}).segmentation_config().k_max == 8


def test_one_run_configuration_setting_then_the_per_section_ones() -> None:
    """`VISITRANK_CONFIG` holds every section, as a config file; a per-section setting wins
    over it for its fields (the same loader as `--config` and `--set`)."""
    settings = Settings.from_env(
        {
            "VISITRANK_CONFIG": '{"scoring": {"visits_per_week": 20, "noise_z": 2.5},'
            ' "orders": {"max_lines": 12}, "segmentation": {"k_max": 4}}',
            "VISITRANK_SCORING_CONFIG": '{"visits_per_week": 25}',
        }
    )
    config = settings.run_config()
    assert (config.scoring.visits_per_week, config.scoring.noise_z) == (25, 2.5)
    assert config.orders.max_lines == 12
    assert settings.segmentation_config().k_max == 4
