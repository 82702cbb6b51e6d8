"""Where the kept week scores live (`visitrank.pipeline.score_history`): a local folder
(`FolderScores`, OUT/score_history) or the Azure staging container (`BlobScores`,
scores/history). Both keep, list, read and prune by the same layout."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Final

import polars as pl

from scoring.orders.development import WeekScores
from visitrank.adapters.blob_staging import BlobStaging
from visitrank.pipeline.score_history import (
    complete_weeks,
    expired,
    kept_paths,
    region_folder,
)

BLOB_PREFIX: Final = "scores/history"


@dataclass(frozen=True)
class FolderScores:
    """The kept week scores under a local folder."""

    root: Path

    def keep(self, scores: WeekScores, area_id: int, fingerprint: str) -> None:
        """Writes one region's scores of the week `scores.as_of`; the meta file last."""
        if scores.as_of is None:
            raise ValueError("kept week scores need their as_of date")
        paths = {key: self.root / path for key, path in kept_paths(scores.as_of, area_id).items()}
        paths["meta"].unlink(missing_ok=True)
        paths["gaps"].parent.mkdir(parents=True, exist_ok=True)
        scores.gaps.write_parquet(paths["gaps"])
        scores.segments.write_parquet(paths["segments"])
        paths["meta"].write_text(json.dumps({"fingerprint": fingerprint}), encoding="utf-8")

    def _relative(self, under: str = "") -> list[str]:
        folder = self.root / under
        if not folder.is_dir():
            return []
        return [p.relative_to(self.root).as_posix() for p in folder.rglob("*") if p.is_file()]

    def weeks(self, area_id: int, fingerprint: str) -> list[date]:
        """The as-of dates of the region's complete kept scores made with `fingerprint`."""
        out = []
        for week in complete_weeks(self._relative(region_folder(area_id)), area_id):
            meta = self.root / kept_paths(week, area_id)["meta"]
            if json.loads(meta.read_text("utf-8")).get("fingerprint") == fingerprint:
                out.append(week)
        return out

    def read(self, as_of: date, area_id: int) -> WeekScores:
        paths = kept_paths(as_of, area_id)
        return WeekScores(
            pl.read_parquet(self.root / paths["gaps"]),
            pl.read_parquet(self.root / paths["segments"]),
            as_of,
        )

    def prune(self, as_of: date) -> None:
        """Removes the week folders older than `KEPT_WEEKS` before `as_of`."""
        for path in expired(self._relative(), as_of):
            folder = (self.root / path).parent
            if folder.is_dir():
                shutil.rmtree(folder)


@dataclass(frozen=True)
class BlobScores:
    """The kept week scores in the staging container, under `BLOB_PREFIX`."""

    staging: BlobStaging

    def keep(self, scores: WeekScores, area_id: int, fingerprint: str) -> None:
        """Writes one region's scores of the week `scores.as_of`; the meta blob last."""
        if scores.as_of is None:
            raise ValueError("kept week scores need their as_of date")
        paths = {k: f"{BLOB_PREFIX}/{p}" for k, p in kept_paths(scores.as_of, area_id).items()}
        self.staging.write_frame(paths["gaps"], scores.gaps)
        self.staging.write_frame(paths["segments"], scores.segments)
        self.staging.write_json(paths["meta"], {"fingerprint": fingerprint})

    def weeks(self, area_id: int, fingerprint: str) -> list[date]:
        """The as-of dates of the region's complete kept scores made with `fingerprint`."""
        listed = self.staging.list_paths(f"{BLOB_PREFIX}/{region_folder(area_id)}/")
        relative = [path.removeprefix(f"{BLOB_PREFIX}/") for path in listed]
        return [
            week
            for week in complete_weeks(relative, area_id)
            if (
                self.staging.read_json(f"{BLOB_PREFIX}/{kept_paths(week, area_id)['meta']}") or {}
            ).get("fingerprint")
            == fingerprint
        ]

    def read(self, as_of: date, area_id: int) -> WeekScores:
        paths = {k: f"{BLOB_PREFIX}/{p}" for k, p in kept_paths(as_of, area_id).items()}
        return WeekScores(
            self.staging.read_frame(paths["gaps"]),
            self.staging.read_frame(paths["segments"]),
            as_of,
        )
