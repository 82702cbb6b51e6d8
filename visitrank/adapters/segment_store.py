"""Where the Azure segmentation keeps its files (Blob) and the CRM's outlet cards (Cosmos DB).

Blob, in the staging container::

    segments/<runId>/<file>      every export of a run (CSV, XLSX, PNG/SVG, JSON)
    segments/latest/<file>       the latest real run: the state the next run matches against
                                 (a dry run writes only its own folder)
    segments/tags.json           the edited names, descriptions and tags (optional)

Cosmos DB, container ``segments`` (``VISITRANK_COSMOS_SEGMENTS_CONTAINER``; partition key
``/pk``, equal to the id, so every read is a 1-RU point read): one document per segment
(id ``segment:<SegmentId>``: name, tags, DNA, top SKU patterns) and one per outlet
(id ``outlet:<CustomerId>``: segment, distance, potential).
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterable
from typing import Any, Final

import polars as pl
from azure.core.exceptions import ResourceNotFoundError
from azure.cosmos import ContainerProxy
from azure.storage.blob import ContainerClient

from visitrank.adapters.app_settings import Settings
from visitrank.adapters.cosmos_sink import container_proxy, delete_missing, upsert_all

SEGMENTS_PREFIX: Final = "segments"
LATEST: Final = f"{SEGMENTS_PREFIX}/latest"
TAGS_BLOB: Final = f"{SEGMENTS_PREFIX}/tags.json"
SEGMENTS_CONTAINER: Final = "segments"
PARTITION_KEY_PATH: Final = "/pk"


class BlobSegmentStore:
    """The segmentation's files in the staging container."""

    def __init__(self, container: ContainerClient, *, update_latest: bool = True) -> None:
        self.container = container
        self.update_latest = update_latest

    def write_files(self, run_id: str, files: dict[str, bytes]) -> list[str]:
        """Writes every file under the run's folder and (unless ``update_latest`` is off, as
        for a dry run) under latest/; returns the run paths."""
        paths = []
        for name, data in sorted(files.items()):
            path = f"{SEGMENTS_PREFIX}/{run_id}/{name}"
            self.container.upload_blob(path, data, overwrite=True)
            if self.update_latest:
                self.container.upload_blob(f"{LATEST}/{name}", data, overwrite=True)
            paths.append(path)
        return paths

    def read_bytes(self, path: str) -> bytes | None:
        """The blob at ``path``, or None when there is none."""
        try:
            return bytes(self.container.download_blob(path).readall())
        except ResourceNotFoundError:
            return None

    def read_json(self, path: str) -> dict[str, Any] | None:
        data = self.read_bytes(path)
        return None if data is None else dict(json.loads(data))

    def read_frame(self, path: str) -> pl.DataFrame | None:
        data = self.read_bytes(path)
        return None if data is None else pl.read_parquet(io.BytesIO(data))


class CosmosSegmentSink:
    """Upserts the segment and outlet documents (bounded parallelism, 429 backoff)."""

    def __init__(self, container: ContainerProxy, max_workers: int = 8) -> None:
        self.container = container
        self.max_workers = max(1, max_workers)

    @classmethod
    def from_settings(
        cls, settings: Settings, container: str | None = None, *, create: bool = False
    ) -> CosmosSegmentSink:
        """Key when given (emulator), otherwise managed identity; the container defaults to
        ``settings.cosmos_segments_container``."""
        container = container or settings.cosmos_segments_container
        proxy = container_proxy(settings, container, PARTITION_KEY_PATH, create=create)
        return cls(proxy, settings.cosmos_max_workers)

    def upsert(self, documents: Iterable[dict[str, Any]]) -> int:
        """Upserts the segment and outlet documents; returns the count."""
        return upsert_all(self.container, documents, self.max_workers)

    def withdraw_missing(self, keep_ids: set[str]) -> list[str]:
        """Deletes the segment and outlet documents whose id is not in ``keep_ids`` (after a
        complete segmentation: outlets deleted or no longer segmented, retired segments);
        returns their ids."""
        return [doc_id for doc_id, _ in delete_missing(self.container, keep_ids, "pk")]
