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

import contextlib
import logging
import random
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Final, TypeVar

from azure.core import MatchConditions
from azure.cosmos import ContainerProxy, CosmosClient, PartitionKey, exceptions
from azure.identity import DefaultAzureCredential

from visitrank.adapters.app_settings import Settings

log = logging.getLogger("visitrank.cosmos")

PARTITION_KEY_PATH: Final = "/repId"
PUBLICATION_ID: Final = "published"
"""Id (and partition key value) of the publication record in the rep documents' container."""
WEEKS_RECORDED: Final = 12
RECORD_ATTEMPTS: Final = 10
CONFLICT: Final = 409
PRECONDITION_FAILED: Final = 412
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
    container: ContainerProxy,
    documents: Iterable[dict[str, Any]],
    max_workers: int,
    on_progress: Callable[[int], None] | None = None,
) -> int:
    """Upsert every document with bounded parallelism and 429 back-off; returns the count.
    ``on_progress`` gets the number written so far after each write (in the calling
    thread). All writes are attempted; the first failure is then re-raised."""
    items = list(documents)
    if not items:
        return 0
    with ThreadPoolExecutor(max_workers=min(max_workers, len(items))) as pool:
        writes = pool.map(lambda item: with_backoff(lambda: container.upsert_item(item)), items)
        for written, _ in enumerate(writes, start=1):
            if on_progress is not None:
                on_progress(written)
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


def delete_missing(
    container: ContainerProxy, keep_ids: set[str], partition_field: str, where: str = ""
) -> list[tuple[str, Any]]:
    """Deletes the documents (``where``: an extra SQL condition on ``c``) whose id is not in
    ``keep_ids``; returns their (id, partition key value). One cross-partition query of ids,
    then one point delete each: run once a week after a complete run. Idempotent: a document
    already gone is skipped."""
    condition = f" WHERE {where}" if where else ""
    rows = container.query_items(
        f"SELECT c.id, c.{partition_field} AS pk FROM c{condition}",
        enable_cross_partition_query=True,
    )
    stale = sorted(((row["id"], row["pk"]) for row in rows if row["id"] not in keep_ids), key=str)
    for doc_id, partition in stale:
        _delete(container, doc_id, partition)
    return stale


def _delete(container: ContainerProxy, doc_id: str, partition: Any) -> None:
    # already gone: deleting is idempotent
    with contextlib.suppress(exceptions.CosmosResourceNotFoundError):
        with_backoff(lambda: container.delete_item(doc_id, partition_key=partition))


def _retry_after_seconds(error: exceptions.CosmosHttpResponseError) -> float | None:
    headers = getattr(error, "headers", None) or {}
    raw = headers.get("x-ms-retry-after-ms")
    try:
        return float(raw) / 1000.0 if raw is not None else None
    except (TypeError, ValueError):
        return None


def publication_record(
    current: dict[str, Any] | None, week_start: str, entry: dict[str, Any]
) -> dict[str, Any]:
    """The publication record with ``week_start`` recorded (see ``record_publication``)."""
    weeks = {**((current or {}).get("weeks") or {}), week_start: entry}
    kept = dict(sorted(weeks.items())[-WEEKS_RECORDED:])
    return {
        "id": PUBLICATION_ID,
        "repId": PUBLICATION_ID,
        "type": "publication",
        "latestWeek": max(kept),
        "weeks": kept,
    }


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

    def upsert_documents(
        self,
        documents: Iterable[dict[str, Any]],
        on_progress: Callable[[int], None] | None = None,
    ) -> int:
        """Upsert every document with bounded parallelism; returns how many were written
        (``on_progress``: see ``upsert_all``)."""
        items = list(documents)
        for item in items:
            if not isinstance(item.get("id"), str) or "repId" not in item:
                raise ValueError(
                    f"every document needs a string 'id' and a 'repId': {item.get('id')!r}"
                )
        return upsert_all(self.container, items, self.max_workers, on_progress)

    def read_document(self, rep_id: int, week_start: str) -> dict[str, Any] | None:
        """The CRM's read: a point read by id ``<repId>:<weekStart>`` in partition ``repId``."""
        return point_read(self.container, f"{rep_id}:{week_start}", rep_id)

    def read_publication(self) -> dict[str, Any] | None:
        """The publication record (``record_publication``), None before the first publish."""
        return point_read(self.container, PUBLICATION_ID, PUBLICATION_ID)

    def published_week(self) -> str | None:
        """The latest week whose lists and orders were completely written (ISO date), None
        before the first publish: what the read endpoints serve by default."""
        record = self.read_publication()
        return None if record is None else str(record["latestWeek"])

    def record_publication(self, week_start: str, entry: dict[str, Any]) -> dict[str, Any]:
        """Records that ``week_start``'s lists and orders are completely written (``entry``:
        runId, generatedAt, counts), written *last* by publish: readers switch to a new
        week's lists and orders together, when this lands, or not at all. The latest week
        never moves back (a rerun of an older week records itself without becoming the
        latest); the last ``WEEKS_RECORDED`` weeks are kept. Idempotent, and safe against
        a concurrent publish of another week (optimistic concurrency on the record's etag:
        a lost race reads the record again)."""
        for _ in range(RECORD_ATTEMPTS):
            current = self.read_publication()
            document = publication_record(current, week_start, entry)
            try:
                self._write_record(current, document)
            except exceptions.CosmosHttpResponseError as error:
                if error.status_code not in (CONFLICT, PRECONDITION_FAILED):
                    raise
                continue  # another publish wrote the record in between: merge with it
            return document
        raise RuntimeError(
            f"the publication record of week {week_start} lost {RECORD_ATTEMPTS} races in a row"
        )

    def _write_record(self, current: dict[str, Any] | None, document: dict[str, Any]) -> None:
        """Creates the record, or replaces ``current`` only if nobody changed it since."""
        if current is None:
            with_backoff(lambda: self.container.create_item(document))
            return
        with_backoff(
            lambda: self.container.replace_item(
                PUBLICATION_ID,
                document,
                etag=current["_etag"],
                match_condition=MatchConditions.IfNotModified,
            )
        )

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
