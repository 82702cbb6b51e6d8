"""The kept week scores: the calibration date among them, their layout, the local folder."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import polars as pl
import pytest

from scoring.config import ScoringConfig
from scoring.orders.development import PUSHED_SCHEMA, SEGMENT_SCHEMA, WeekScores, calibration_date
from visitrank.adapters.score_store import FolderScores
from visitrank.pipeline.score_history import (
    complete_weeks,
    expired,
    kept_paths,
    scoring_fingerprint,
)

AS_OF = date(2026, 11, 15)  # a Sunday; 8 weeks earlier: 2026-09-20


def test_calibration_date_is_the_kept_week_nearest_the_target_within_three_days() -> None:
    target = AS_OF - timedelta(weeks=8)
    assert calibration_date(AS_OF, 8, [target]) == target
    # the weekly runs' as-of dates move with the last sales day: one or two days off is fine
    assert calibration_date(AS_OF, 8, [target - timedelta(days=2)]) == target - timedelta(days=2)
    assert calibration_date(AS_OF, 8, [target + timedelta(days=3)]) == target + timedelta(days=3)
    assert calibration_date(AS_OF, 8, [target - timedelta(days=4)]) is None
    # the nearest wins; between two as near, the earlier
    near = [target - timedelta(days=3), target + timedelta(days=1), target - timedelta(days=7)]
    assert calibration_date(AS_OF, 8, near) == target + timedelta(days=1)
    tie = [target + timedelta(days=2), target - timedelta(days=2)]
    assert calibration_date(AS_OF, 8, tie) == target - timedelta(days=2)
    assert calibration_date(AS_OF, 8, []) is None
    # never a week at or after the proposal's own date
    assert calibration_date(AS_OF, 0, [AS_OF, AS_OF + timedelta(days=1)]) is None


def test_layout_lists_complete_weeks_of_one_region_and_expires_old_ones() -> None:
    paths = [
        "region=3/as_of=2026-09-20/gaps.parquet",
        "region=3/as_of=2026-09-20/segments.parquet",
        "region=3/as_of=2026-09-20/scoring.json",
        "region=3/as_of=2026-09-27/gaps.parquet",  # no meta: being written, or broken
        "region=13/as_of=2026-10-04/scoring.json",
        "region=3/as_of=2026-05-03/scoring.json",
    ]
    assert complete_weeks(paths, 3) == [date(2026, 5, 3), date(2026, 9, 20)]
    assert complete_weeks(paths, 13) == [date(2026, 10, 4)]
    assert complete_weeks(paths, 1) == []
    # 26 weeks before 2026-11-15 is 2026-05-17: only the May week goes
    assert expired(paths, AS_OF) == ["region=3/as_of=2026-05-03/scoring.json"]
    assert kept_paths(date(2026, 9, 20), 3) == {
        "gaps": "region=3/as_of=2026-09-20/gaps.parquet",
        "segments": "region=3/as_of=2026-09-20/segments.parquet",
        "meta": "region=3/as_of=2026-09-20/scoring.json",
    }


def _scores(as_of: date, customer: int) -> WeekScores:
    gaps = pl.DataFrame(
        {
            "CustomerId": [customer],
            "ItemId": [7],
            "IndexScore": [30.0],
            "Actual": [1.0],
            "Expected": [4.0],
            "GapValue": [3.0],
            "SkuRank": [1],
            "Peers": [20],
            "Basis": ["peers"],
        },
        schema=PUSHED_SCHEMA,
    )
    segments = pl.DataFrame({"CustomerId": [customer], "Segment": ["s"]}, schema=SEGMENT_SCHEMA)
    return WeekScores(gaps, segments, as_of)


def test_folder_keeps_reads_and_prunes_by_region_and_configuration(tmp_path: Path) -> None:
    kept = FolderScores(tmp_path / "history")
    config = scoring_fingerprint(ScoringConfig())
    other = scoring_fingerprint(ScoringConfig(min_peers=20))
    assert config != other and config == scoring_fingerprint(ScoringConfig())
    assert kept.weeks(1, config) == []  # nothing kept yet, no folder
    week = date(2026, 9, 20)
    kept.keep(_scores(week, 101), 1, config)
    kept.keep(_scores(week, 201), 2, other)
    kept.keep(_scores(date(2026, 4, 5), 102), 1, config)
    assert kept.weeks(1, config) == [date(2026, 4, 5), week]
    assert kept.weeks(2, config) == []  # made with another configuration
    assert kept.weeks(2, other) == [week]
    back = kept.read(week, 1)
    assert back.as_of == week
    assert back.gaps.equals(_scores(week, 101).gaps)
    assert back.segments.equals(_scores(week, 101).segments)
    # a rewrite of the same week replaces it
    kept.keep(_scores(week, 103), 1, config)
    assert kept.read(week, 1).gaps["CustomerId"].to_list() == [103]
    kept.prune(AS_OF)
    assert kept.weeks(1, config) == [week]
    assert not (tmp_path / "history" / "region=1" / "as_of=2026-04-05").exists()
    with pytest.raises(ValueError, match="as_of"):
        kept.keep(WeekScores(back.gaps, back.segments), 1, config)


def test_an_unreadable_kept_week_is_ignored(tmp_path: Path) -> None:
    """A meta file cut short (a crash while writing it) is as if that week were not kept."""
    kept = FolderScores(tmp_path)
    config = scoring_fingerprint(ScoringConfig())
    kept.keep(_scores(date(2026, 9, 20), 101), 1, config)
    kept.keep(_scores(date(2026, 9, 27), 101), 1, config)
    (tmp_path / kept_paths(date(2026, 9, 27), 1)["meta"]).write_text('{"fingerp', "utf-8")
    assert kept.weeks(1, config) == [date(2026, 9, 20)]
