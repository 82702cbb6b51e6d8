"""Cosmos DB store of the proposed-order documents (one per customer and week).

Container layout: partition key ``/customerId``, id ``<customerId>:<weekStart>`` (``order_id``);
a rerun of the week replaces the customer's proposal of that week, a new week writes beside it.
Which week is served is the publication record's (``CosmosSink.read_publication``), so orders
and lists switch to a new week together, and a customer deleted from the ERP has no order in
the new week (the container's default TTL removes the old ones). Same account and database as
the weekly documents; the container name comes from ``VISITRANK_COSMOS_ORDERS_CONTAINER``
(default ``orders``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
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

    def upsert_orders(
        self,
        documents: Iterable[dict[str, Any]],
        on_progress: Callable[[int], None] | None = None,
    ) -> int:
        """Upserts the order documents (id and customerId required) with bounded parallelism
        (``VISITRANK_COSMOS_MAX_WORKERS``, 429 back-off); returns the count (``on_progress``:
        see ``upsert_all``)."""
        items = list(documents)
        for document in items:
            if not isinstance(document.get("id"), str) or "customerId" not in document:
                raise ValueError(
                    "every order document needs a string 'id' and a 'customerId': "
                    f"{document.get('id')!r}"
                )
        return upsert_all(self.container, items, self.max_workers, on_progress)

    def read_order(self, customer_id: int, week_start: str) -> dict[str, Any] | None:
        """The customer's proposed order of the week, None when there is none."""
        return point_read(self.container, order_id(customer_id, week_start), customer_id)


def order_id(customer_id: int, week_start: str) -> str:
    """The id of a customer's order document of one week: a new week's orders never
    overwrite the published week's, so both switch with the lists (see CosmosSink's
    publication record)."""
    return f"{customer_id}:{week_start}"
