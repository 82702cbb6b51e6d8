"""How far the publish step of a run has got: documents written of how many.

The publish activity cannot set the orchestration's custom status (only the orchestrator can,
and it waits for the activity), so it writes its progress to a small JSON blob beside the run's
staged files, ``runs/<runId>/publish_progress.json``; ``GET /api/runs/{id}`` adds it to the
status while the run publishes and after (a publish that failed every attempt shows how far
its last attempt got). Written at most every ``EVERY_SECONDS`` and when a part completes.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Final

from azure.core.exceptions import ResourceNotFoundError

from visitrank.adapters.blob_staging import RUNS_PREFIX, BlobStaging

PROGRESS_FILE: Final = "publish_progress.json"
EVERY_SECONDS: Final = 2.0


def progress_path(run_id: str) -> str:
    """The progress blob of one run."""
    return f"{RUNS_PREFIX}/{run_id}/{PROGRESS_FILE}"


class PublishProgress:
    """Writes ``{"orders": {"written", "of"}, "lists": {"written", "of"}, "done"}`` (and
    ``error`` when an attempt failed; the next attempt starts a new state)."""

    def __init__(
        self,
        staging: BlobStaging,
        run_id: str,
        documents: int,
        orders: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.staging = staging
        self.path = progress_path(run_id)
        self.clock = clock
        self.state: dict[str, Any] = {
            "orders": {"written": 0, "of": orders},
            "lists": {"written": 0, "of": documents},
            "done": False,
        }
        self.last_write = -EVERY_SECONDS
        self.write()

    def orders(self, written: int) -> None:
        """Progress callback of the order documents' upserts."""
        self.advance("orders", written)

    def lists(self, written: int) -> None:
        """Progress callback of the rep documents' upserts."""
        self.advance("lists", written)

    def advance(self, part: str, written: int) -> None:
        self.state[part]["written"] = written
        if written == self.state[part]["of"] or self.clock() - self.last_write >= EVERY_SECONDS:
            self.write()

    def done(self) -> None:
        """Everything is written and the publication recorded."""
        self.state["done"] = True
        self.write()

    def failed(self, error: str) -> None:
        """The attempt failed (it will be retried): how far it got, and why."""
        self.state["error"] = error
        self.write()

    def write(self) -> None:
        self.staging.write_json(self.path, self.state)
        self.last_write = self.clock()


def read_progress(staging: BlobStaging, run_id: str) -> dict[str, Any] | None:
    """The run's publish progress, None before publish started (or for a dry run)."""
    try:
        progress: dict[str, Any] = staging.read_json(progress_path(run_id))
    except ResourceNotFoundError:
        return None
    return progress
