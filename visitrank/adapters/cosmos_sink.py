"""Cosmos DB sink of the weekly rep documents: idempotent, parallel, throttling-aware.

Container layout (the CRM's contract): partition key ``/repId``, id ``<repId>:<weekStart>``,
one document per rep per week. A rerun of the same week upserts the same ids, so it overwrites
and never duplicates.

Reps with no list any more: when a rerun of a week no longer produces a document for a rep that
has one from an earlier run (rep left, territory moved), the old document is *withdrawn*, not
deleted: it is overwritten with an empty ``visits`` list, ``withdrawn: true`` and the new run
id. The CRM's point read then returns an explicit empty week instead of a stale plan, and the
container's default TTL removes it with the other old weeks. (A delete would make the CRM show
"no plan yet", indistinguishable from a run that has not happened.)
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Final, TypeVar

from azure.cosmos import ContainerProxy, CosmosClient, PartitionKey, exceptions
from azure.identity import DefaultAzureCredential

from visitrank.adapters.app_settings import Settings

log = logging.getLogger("visitrank.cosmos")

PARTITION_KEY_PATH: Final = "/repId"
THROTTLED: Final = 429
T = TypeVar("T")


def with_backoff(
    call: Callable[[], T],
    *,
    attempts: int = 8,
    base_seconds: float = 0.1,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Run ``call``, retrying on HTTP 429 with the server's retry-after or exponential backoff.

    The SDK already retries throttling a few times; this outer loop covers sustained 429s on
    a small provisioned throughput during a big fan-in. Other errors propagate at once.
    """
    for attempt in range(1, attempts + 1):
        try:
            return call()
        except exceptions.CosmosHttpResponseError as error:
            if error.status_code != THROTTLED or attempt == attempts:
                raise
            retry_after = _retry_after_seconds(error)
            delay = retry_after if retry_after is not None else base_seconds * 2 ** (attempt - 1)
            sleep(max(delay, 0.0) + random.uniform(0, base_seconds))
    raise AssertionError("unreachable")  # pragma: no cover


def container_proxy(
    settings: Settings, name: str, partition_key_path: str, *, create: bool = False
) -> ContainerProxy:
    """A container of the configured database: by key when one is set (emulator, local),
    otherwise by managed identity. ``create=True`` creates database and container if missing
    (local and tests; in Azure the Bicep template creates them, the identity has data-plane
    rights only)."""
    credential: Any = settings.cosmos_key
    if not credential:
        credential = DefaultAzureCredential()
    client = CosmosClient(
        settings.require_cosmos(),
        credential=credential,
        connection_verify=settings.cosmos_verify_tls,
    )
    if create:
        database = client.create_database_if_not_exists(settings.cosmos_database)
        return database.create_container_if_not_exists(
            name, partition_key=PartitionKey(path=partition_key_path)
        )
    return client.get_database_client(settings.cosmos_database).get_container_client(name)


def upsert_all(
    container: ContainerProxy, documents: Iterable[dict[str, Any]], max_workers: int
) -> int:
    """Upsert every document with bounded parallelism and 429 back-off; returns the count.
    All writes are attempted; the first failure is then re-raised."""
    items = list(documents)
    if not items:
        return 0
    with ThreadPoolExecutor(max_workers=min(max_workers, len(items))) as pool:
        list(pool.map(lambda item: with_backoff(lambda: container.upsert_item(item)), items))
    return len(items)


def point_read(
    container: ContainerProxy, item_id: str, partition_key: Any
) -> dict[str, Any] | None:
    """One document by id and partition key (1 RU), None when absent."""
    try:
        item: dict[str, Any] = with_backoff(
            lambda: container.read_item(item_id, partition_key=partition_key)
        )
    except exceptions.CosmosResourceNotFoundError:
        return None
    return item


def _retry_after_seconds(error: exceptions.CosmosHttpResponseError) -> float | None:
    headers = getattr(error, "headers", None) or {}
    raw = headers.get("x-ms-retry-after-ms")
    try:
        return float(raw) / 1000.0 if raw is not None else None
    except (TypeError, ValueError):
        return None


class CosmosSink:
    """Upserts, reads and withdraws the weekly rep documents of one container."""

    def __init__(self, container: ContainerProxy, max_workers: int = 8) -> None:
        self.container = container
        self.max_workers = max(1, max_workers)

    @classmethod
    def from_settings(cls, settings: Settings, *, create: bool = False) -> CosmosSink:
        """Key when given (emulator, local), otherwise managed identity.

        ``create=True`` creates the database and container if missing (local and tests; in
        Azure the Bicep template creates them, and the identity has data-plane rights only).
        """
        container = container_proxy(
            settings, settings.cosmos_container, PARTITION_KEY_PATH, create=create
        )
        return cls(container, settings.cosmos_max_workers)

    def upsert_documents(self, documents: Iterable[dict[str, Any]]) -> int:
        """Upsert every document with bounded parallelism; returns how many were written."""
        items = list(documents)
        for item in items:
            if not isinstance(item.get("id"), str) or "repId" not in item:
                raise ValueError("every document needs a string 'id' and a 'repId'")
        return upsert_all(self.container, items, self.max_workers)

    def read_document(self, rep_id: int, week_start: str) -> dict[str, Any] | None:
        """The CRM's read: a point read by id ``<repId>:<weekStart>`` in partition ``repId``."""
        return point_read(self.container, f"{rep_id}:{week_start}", rep_id)

    def week_document_refs(self, week_start: str) -> list[tuple[str, int]]:
        """(id, repId) of every document of the week (a cross-partition query)."""
        rows = self.container.query_items(
            "SELECT c.id, c.repId FROM c WHERE c.weekStart = @week",
            parameters=[{"name": "@week", "value": week_start}],
            enable_cross_partition_query=True,
        )
        return sorted((row["id"], row["repId"]) for row in rows)

    def week_document_customers(self, week_start: str) -> dict[str, tuple[int, set[int]]]:
        """id -> (repId, the customers its visits name) of every document of the week."""
        rows = self.container.query_items(
            "SELECT c.id, c.repId, ARRAY(SELECT VALUE v.customerId FROM v IN c.visits) "
            "AS customers FROM c WHERE c.weekStart = @week",
            parameters=[{"name": "@week", "value": week_start}],
            enable_cross_partition_query=True,
        )
        return {
            row["id"]: (row["repId"], {c for c in row.get("customers") or [] if c is not None})
            for row in rows
        }

    def withdraw_missing(
        self,
        week_start: str,
        keep_ids: set[str],
        run_id: str,
        generated_at: str,
        *,
        within: set[int] | None = None,
    ) -> list[int]:
        """Withdraw the week's documents whose id is not in ``keep_ids``; returns their repIds.

        ``within``: after a rerun of some regions, only the documents that list a customer of
        those regions (``within``) are withdrawn: their rep got no list from the rerun, so the
        outlets moved to another rep (or were deleted) and would otherwise sit in two lists;
        the documents of the other regions' reps stay. None: every missing document goes.
        Idempotent: withdrawing again rewrites the same empty document.
        """
        if within is None:
            refs = self.week_document_refs(week_start)
        else:
            refs = [
                (doc_id, rep)
                for doc_id, (rep, customers) in self.week_document_customers(week_start).items()
                if customers & within
            ]
        stale = [(doc_id, rep) for doc_id, rep in refs if doc_id not in keep_ids]
        withdrawn = [
            withdrawn_document(doc_id, rep, week_start, run_id, generated_at)
            for doc_id, rep in stale
        ]
        self.upsert_documents(withdrawn)
        return [rep for _, rep in stale]


def withdrawn_document(
    doc_id: str, rep_id: int, week_start: str, run_id: str, generated_at: str
) -> dict[str, Any]:
    """The document that replaces a rep's list when the rep has no list this week any more."""
    return {
        "id": doc_id,
        "repId": rep_id,
        "weekStart": week_start,
        "runId": run_id,
        "generatedAt": generated_at,
        "withdrawn": True,
        "visits": [],
        "summary": {"visits": 0},
    }
