"""Cosmos DB store of the proposed-order documents (one per customer, the latest proposal).

Container layout: partition key ``/customerId``, id ``str(customerId)``; an upsert replaces the
customer's previous proposal. Same account and database as the weekly documents; the container
name comes from ``VISITRANK_COSMOS_ORDERS_CONTAINER`` (default ``orders``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Final

from azure.cosmos import ContainerProxy

from visitrank.adapters.app_settings import Settings
from visitrank.adapters.cosmos_sink import container_proxy, point_read, upsert_all

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
