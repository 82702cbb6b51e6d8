"""The kept week scores in the Azure staging container (`visitrank.pipeline.score_history`),
under `BLOB_PREFIX`: `KeptScores` over blobs (in its own module: the local run does not load
the Azure SDK for it). Old weeks are deleted by the storage account's lifecycle rule."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

import polars as pl

from visitrank.adapters.blob_staging import BlobStaging
from visitrank.adapters.score_store import KeptScores

BLOB_PREFIX: Final = "scores/history"


@dataclass(frozen=True)
class BlobScores(KeptScores):
    """The kept week scores in the staging container."""

    staging: BlobStaging

    def _blob(self, path: str) -> str:
        return f"{BLOB_PREFIX}/{path}"

    def _list(self, under: str) -> list[str]:
        prefix = f"{BLOB_PREFIX}/"
        listed = self.staging.list_paths(self._blob(f"{under}/" if under else ""))
        return [path.removeprefix(prefix) for path in listed]

    def _write_frame(self, path: str, frame: pl.DataFrame) -> None:
        self.staging.write_frame(self._blob(path), frame)

    def _read_frame(self, path: str) -> pl.DataFrame:
        return self.staging.read_frame(self._blob(path))

    def _write_json(self, path: str, data: dict[str, Any]) -> None:
        self.staging.write_json(self._blob(path), data)

    def _read_json(self, path: str) -> Any:
        return self.staging.read_json(self._blob(path))

    def _delete(self, path: str) -> None:
        self.staging.delete_path(self._blob(path))
