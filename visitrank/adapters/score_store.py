"""Where the kept week scores live (`visitrank.pipeline.score_history`): `KeptScores` keeps,
lists and reads them by the shared layout over a few storage primitives; `FolderScores` stores
them under a local folder (OUT/score_history), `visitrank.adapters.blob_scores.BlobScores` in
the Azure staging container (its own module: the local run does not load the Azure SDK)."""

from __future__ import annotations

import json
import logging
import shutil
from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import polars as pl

from scoring.orders.development import WeekScores, calibration_date
from visitrank.pipeline.score_history import (
    KEPT_WEEKS,
    complete_weeks,
    expired,
    kept_paths,
    region_folder,
)

log = logging.getLogger("visitrank")


class KeptScores(ABC):
    """Keeps, lists and reads one region's week scores; paths are relative to the history's
    root (`kept_paths`)."""

    @abstractmethod
    def _list(self, under: str) -> list[str]:
        """Every stored path under the folder `under` ("" for all)."""

    @abstractmethod
    def _write_frame(self, path: str, frame: pl.DataFrame) -> None: ...

    @abstractmethod
    def _read_frame(self, path: str) -> pl.DataFrame: ...

    @abstractmethod
    def _write_json(self, path: str, data: dict[str, Any]) -> None: ...

    @abstractmethod
    def _read_json(self, path: str) -> Any: ...

    @abstractmethod
    def _delete(self, path: str) -> None:
        """Removes `path`; nothing when it does not exist."""

    def keep(self, scores: WeekScores, area_id: int, fingerprint: str) -> None:
        """Writes one region's scores of the week `scores.as_of`. The meta file goes first and
        comes back last, so a half-written week is never read (nor a mix of two rewrites)."""
        if scores.as_of is None:
            raise ValueError("kept week scores need their as_of date")
        paths = kept_paths(scores.as_of, area_id)
        self._delete(paths["meta"])
        self._write_frame(paths["gaps"], scores.gaps)
        self._write_frame(paths["segments"], scores.segments)
        self._write_json(paths["meta"], {"fingerprint": fingerprint})

    def weeks(self, area_id: int, fingerprint: str) -> list[date]:
        """The as-of dates of the region's complete kept scores made with `fingerprint`; a
        week whose meta cannot be read counts as not kept."""
        out = []
        for week in complete_weeks(self._list(region_folder(area_id)), area_id):
            meta = kept_paths(week, area_id)["meta"]
            try:
                made_with = self._read_json(meta).get("fingerprint")
            except Exception as error:  # gone, cut short, not JSON: as if not kept
                log.warning("kept scores %s unreadable, ignored: %s", meta, error)
                continue
            if made_with == fingerprint:
                out.append(week)
        return out

    def read(self, as_of: date, area_id: int) -> WeekScores:
        paths = kept_paths(as_of, area_id)
        return WeekScores(
            self._read_frame(paths["gaps"]), self._read_frame(paths["segments"]), as_of
        )

    def calibration_scores(
        self, area_id: int, as_of: date, calibration_weeks: int, fingerprint: str
    ) -> WeekScores | None:
        """The region's kept scores a proposal as of `as_of` calibrates on
        (`calibration_date` among the weeks made with `fingerprint`); None when there are
        none or they cannot be read (an optimisation only: the region is scored instead)."""
        week = calibration_date(as_of, calibration_weeks, self.weeks(area_id, fingerprint))
        if week is None:
            return None
        try:
            return self.read(week, area_id)
        except Exception as error:
            log.warning("kept scores of region %s as of %s unreadable: %s", area_id, week, error)
            return None


@dataclass(frozen=True)
class FolderScores(KeptScores):
    """The kept week scores under a local folder."""

    root: Path

    def _list(self, under: str) -> list[str]:
        folder = self.root / under
        if not folder.is_dir():
            return []
        return [p.relative_to(self.root).as_posix() for p in folder.rglob("*") if p.is_file()]

    def _write_frame(self, path: str, frame: pl.DataFrame) -> None:
        (self.root / path).parent.mkdir(parents=True, exist_ok=True)
        frame.write_parquet(self.root / path)

    def _read_frame(self, path: str) -> pl.DataFrame:
        return pl.read_parquet(self.root / path)

    def _write_json(self, path: str, data: dict[str, Any]) -> None:
        (self.root / path).write_text(json.dumps(data), encoding="utf-8")

    def _read_json(self, path: str) -> Any:
        return json.loads((self.root / path).read_text("utf-8"))

    def _delete(self, path: str) -> None:
        (self.root / path).unlink(missing_ok=True)

    def prune(self, as_of: date, kept_weeks: int = KEPT_WEEKS) -> None:
        """Removes the week folders older than `kept_weeks` before `as_of` (in Azure a
        lifecycle rule does it)."""
        for path in expired(self._list(""), as_of, kept_weeks):
            folder = (self.root / path).parent
            if folder.is_dir():
                shutil.rmtree(folder)
