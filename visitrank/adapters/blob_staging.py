"""Blob staging of a run's intermediate frames: one folder per run, Parquet per region.

Why Blob and not activity payloads: Durable Functions activity inputs and outputs are kept in
the orchestration history, so they must stay small JSON. A region's scores (thousands of rows)
are written here and only their blob paths and counts travel through the orchestration.

Layout inside the staging container::

    runs/<runId>/region=<areaId>/outlets.parquet
    runs/<runId>/region=<areaId>/skus.parquet
    runs/<runId>/region=<areaId>/reps.parquet
    runs/<runId>/region=<areaId>/learned_steps.json     the learned steps' verdicts
    runs/<runId>/region=<areaId>/order_lines.parquet
    runs/<runId>/region=<areaId>/order_customers.parquet
    runs/<runId>/region=<areaId>/quarantine/<table>.parquet
    runs/<runId>/routes/<chunk>/visits.parquet              a chunk of reps' planned weeks
    runs/<runId>/routes/<chunk>/days.parquet
    runs/<runId>/routes/<chunk>/left_out.parquet            (timed planner only)

The run never deletes its folder: a lifecycle rule on the container (infra/main.bicep) removes
blobs some days after they were written, so a failed run can still be inspected.
"""

from __future__ import annotations

import contextlib
import io
import json
from typing import Any, Final

import polars as pl
from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError
from azure.identity import DefaultAzureCredential
from azure.storage.blob import BlobServiceClient, ContainerClient

from visitrank.adapters.app_settings import Settings, SettingsError

RUNS_PREFIX: Final = "runs"


def region_prefix(run_id: str, area_id: int) -> str:
    """The blob folder of one region's staged frames in one run."""
    return f"{RUNS_PREFIX}/{run_id}/region={area_id}"


def region_paths(run_id: str, area_id: int, files: dict[str, str]) -> dict[str, str]:
    """key -> blob path of each of ``files`` (key -> file name) in the region's folder: the
    steps that stage files and the step that reads them agree on the paths without passing
    them through the orchestration."""
    prefix = region_prefix(run_id, area_id)
    return {key: f"{prefix}/{name}" for key, name in files.items()}


def route_paths(run_id: str, chunk: int, files: dict[str, str]) -> dict[str, str]:
    """key -> blob path of each of ``files`` in the folder of one route chunk of the run (the
    chunk's planned weeks, written by the route step and read by publish)."""
    return {key: f"{RUNS_PREFIX}/{run_id}/routes/{chunk}/{name}" for key, name in files.items()}


class BlobStaging:
    """Writes and reads Parquet frames in the staging container."""

    def __init__(self, container: ContainerClient) -> None:
        self.container = container

    @classmethod
    def from_settings(cls, settings: Settings) -> BlobStaging:
        """Connection string when given (Azurite, local), otherwise managed identity."""
        if settings.blob_connection_string:
            service = BlobServiceClient.from_connection_string(settings.blob_connection_string)
        elif settings.blob_account_url:
            service = BlobServiceClient(
                settings.blob_account_url, credential=DefaultAzureCredential()
            )
        else:
            raise SettingsError(
                "no staging storage: set VISITRANK_BLOB_CONNECTION_STRING, "
                "VISITRANK_BLOB_ACCOUNT_URL or AzureWebJobsStorage"
            )
        return cls(service.get_container_client(settings.staging_container))

    def ensure_container(self) -> None:
        """Create the container if it does not exist (idempotent; Bicep creates it in Azure)."""
        with contextlib.suppress(ResourceExistsError):
            self.container.create_container()

    def write_frame(self, path: str, frame: pl.DataFrame) -> str:
        """Write ``frame`` as Parquet to ``path`` (overwriting) and return the path."""
        buffer = io.BytesIO()
        frame.write_parquet(buffer, compression="zstd")
        self.container.upload_blob(path, buffer.getvalue(), overwrite=True)
        return path

    def read_frame(self, path: str) -> pl.DataFrame:
        """Read the Parquet blob at ``path``."""
        data = self.container.download_blob(path, max_concurrency=2).readall()
        return pl.read_parquet(io.BytesIO(data))

    def write_json(self, path: str, data: Any) -> str:
        """Write ``data`` as JSON to ``path`` (overwriting) and return the path."""
        self.container.upload_blob(path, json.dumps(data).encode(), overwrite=True)
        return path

    def read_json(self, path: str) -> Any:
        """Read the JSON blob at ``path``."""
        return json.loads(self.container.download_blob(path).readall())

    def read_frames(self, paths: list[str]) -> pl.DataFrame:
        """Read and concatenate several Parquet blobs (columns unified, types relaxed)."""
        frames = [self.read_frame(path) for path in paths]
        if not frames:
            return pl.DataFrame()
        return pl.concat(frames, how="diagonal_relaxed")

    def delete_path(self, path: str) -> None:
        """Delete the blob at ``path``; nothing when it does not exist."""
        with contextlib.suppress(ResourceNotFoundError):
            self.container.delete_blob(path)

    def list_paths(self, prefix: str) -> list[str]:
        """Sorted blob names under ``prefix``."""
        return sorted(blob.name for blob in self.container.list_blobs(name_starts_with=prefix))
