"""Cosmos DB store of the proposed-order documents (one per customer, the latest proposal).

Container layout: partition key ``/customerId``, id ``str(customerId)``; an upsert replaces the
customer's previous proposal. Same account and database as the weekly documents; the container
name comes from ``VISITRANK_COSMOS_ORDERS_CONTAINER`` (default ``orders``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from typing import Any, Final

from azure.cosmos import ContainerProxy, exceptions

from visitrank.adapters.app_settings import Settings
from visitrank.adapters.cosmos_sink import container_proxy, point_read, upsert_all, with_backoff

PARTITION_KEY_PATH: Final = "/customerId"
DEFAULT_CONTAINER: Final = "orders"


class OrderStore:
    """Upserts and point-reads the order documents of one container."""

    def __init__(self, container: ContainerProxy, max_workers: int = 8) -> None:
        self.container = container
        self.max_workers = max(1, max_workers)

    @classmethod
    def from_settings(
        cls, settings: Settings, *, container: str | None = None, create: bool = False
    ) -> OrderStore:
        """Key when given (emulator), otherwise managed identity (like CosmosSink)."""
        name = container or settings.cosmos_orders_container or DEFAULT_CONTAINER
        proxy = container_proxy(settings, name, PARTITION_KEY_PATH, create=create)
        return cls(proxy, settings.cosmos_max_workers)

    def upsert_orders(self, documents: Iterable[dict[str, Any]]) -> int:
        """Upserts the order documents (id and customerId required) with bounded parallelism
        (``VISITRANK_COSMOS_MAX_WORKERS``, 429 back-off); returns the count."""
        items = list(documents)
        for document in items:
            if not isinstance(document.get("id"), str) or "customerId" not in document:
                raise ValueError("every order document needs a string 'id' and a 'customerId'")
        return upsert_all(self.container, items, self.max_workers)

    def read_order(self, customer_id: int) -> dict[str, Any] | None:
        """The customer's latest proposed order, None when there is none."""
        return point_read(self.container, str(customer_id), customer_id)

    def withdraw_missing(self, keep_ids: set[str]) -> list[int]:
        """Deletes the order documents whose id is not in ``keep_ids`` (customers deleted
        from the ERP, or no longer proposed anything); returns their customer ids. Called
        after a run that proposed the orders of every region, so nothing is deleted on a
        partial or subset run. Idempotent: a document already gone is skipped."""
        rows = self.container.query_items(
            "SELECT c.id, c.customerId FROM c", enable_cross_partition_query=True
        )
        stale = sorted((row["id"], row["customerId"]) for row in rows if row["id"] not in keep_ids)
        for doc_id, customer_id in stale:
            self._delete(doc_id, customer_id)
        return [customer_id for _, customer_id in stale]

    def _delete(self, doc_id: str, customer_id: int) -> None:
        # already gone: withdrawing is idempotent
        with contextlib.suppress(exceptions.CosmosResourceNotFoundError):
            with_backoff(lambda: self.container.delete_item(doc_id, partition_key=customer_id))
