"""The kept week scores: each weekly run keeps every region's SKUs to push and segments, so a
later run can calibrate its proposed orders on them instead of scoring the region again.

The orders' calibration needs the region's scores `calibration_weeks` (8) before the as-of date
(`scoring.orders.proposal`): the scores the weekly run of that week made. Kept, they cost a
read; scored again, they cost as much as the week's own scoring (the largest part of the orders'
time). They are used only when they were made with the same scoring configuration
(`scoring_fingerprint`); data corrected since are not seen (the calibration learns from the
scores the lists actually had then). A dry run keeps nothing. They only save work: a failure
to keep or read them is logged and the region is scored instead.

The layout is one folder per as-of date and region, the same under the local output folder
(`OUT/score_history/`) and in the Azure staging container (`scores/history/`):
`region=<areaId>/as_of=<YYYY-MM-DD>/{gaps,segments}.parquet` and `scoring.json`
({"fingerprint": ...}), the last written, so a folder with it is complete. Region first: a
region's step lists its own weeks only.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from datetime import date, timedelta
from typing import Final

from scoring.config import ScoringConfig

KEPT_WEEKS: Final = 26
"""Week scores older than this many weeks before a run's as-of date are removed by that run."""
FILES: Final = {"gaps": "gaps.parquet", "segments": "segments.parquet"}
META: Final = "scoring.json"
_FOLDER = re.compile(r"region=(-?\d+)/as_of=(\d{4}-\d{2}-\d{2})/")


def scoring_fingerprint(config: ScoringConfig) -> str:
    """A short digest of the scoring configuration: kept scores made with another one are not
    used."""
    return hashlib.sha256(config.model_dump_json().encode("utf-8")).hexdigest()[:16]


def region_folder(area_id: int) -> str:
    """The folder of one region's kept scores (relative to the history's root)."""
    return f"region={area_id}"


def kept_folder(as_of: date, area_id: int) -> str:
    """The folder of one region's kept scores of one week (relative to the history's root)."""
    return f"{region_folder(area_id)}/as_of={as_of.isoformat()}"


def kept_paths(as_of: date, area_id: int) -> dict[str, str]:
    """key -> path (relative to the history's root) of the frames and of the meta file."""
    folder = kept_folder(as_of, area_id)
    return {key: f"{folder}/{name}" for key, name in {**FILES, "meta": META}.items()}


def complete_weeks(paths: Iterable[str], area_id: int) -> list[date]:
    """The as-of dates with a complete folder (its meta file) for `area_id`, among `paths`
    (relative to the history's root), oldest first."""
    found = set()
    for path in paths:
        match = _FOLDER.match(path)
        if match and int(match.group(1)) == area_id and path.endswith(f"/{META}"):
            found.add(date.fromisoformat(match.group(2)))
    return sorted(found)


def expired(paths: Iterable[str], as_of: date, kept_weeks: int = KEPT_WEEKS) -> list[str]:
    """The paths of `paths` in week folders older than `kept_weeks` before `as_of`."""
    oldest = as_of - timedelta(days=7 * kept_weeks)
    out = []
    for path in paths:
        match = _FOLDER.match(path)
        if match and date.fromisoformat(match.group(2)) < oldest:
            out.append(path)
    return out
