"""The proposed order inside the weekly rep document: a compact `proposedOrder` per visit."""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from typing import Any


def compact_order(order: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The order document's lines as {itemId, quantity, kind, probability} (names and
    reasons stay in the order document, readable at /api/customers/{id}/order)."""
    return [
        {
            "itemId": line["itemId"],
            "quantity": line["quantity"],
            "kind": line["kind"],
            "probability": line["probability"],
        }
        for line in order.get("lines", [])
    ]


def attach_proposed_orders(
    documents: Iterable[dict[str, Any]], orders: Iterable[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """Copies of the weekly rep documents with `visits[].proposedOrder` (the compact lines of
    the visit's customer's order document; [] when it has none). Inputs are not modified."""
    by_customer = {order["customerId"]: compact_order(order) for order in orders}
    out = []
    for document in documents:
        doc = copy.deepcopy(document)
        for visit in doc.get("visits", []):
            visit["proposedOrder"] = by_customer.get(visit["customerId"], [])
        out.append(doc)
    return out
