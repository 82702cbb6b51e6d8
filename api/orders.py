"""``GET /api/customers/{customerId}/order``: the customer's proposed order (point read)."""

from __future__ import annotations

import json
from functools import cache
from typing import Any

import azure.durable_functions as df
import azure.functions as func

from visitrank.adapters.app_settings import app_settings
from visitrank.adapters.order_store import OrderStore

bp = df.Blueprint()


def _json(body: Any, status: int) -> func.HttpResponse:
    return func.HttpResponse(
        json.dumps(body, default=str), status_code=status, mimetype="application/json"
    )


@cache
def order_reader() -> OrderStore:
    """The process-wide Cosmos client of the order documents."""
    return OrderStore.from_settings(app_settings())


@bp.function_name("get_customer_order")
@bp.route(route="customers/{customerId}/order", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
def get_customer_order(req: func.HttpRequest) -> func.HttpResponse:
    """The customer's order document; 400 on a non-integer id, 404 when there is none."""
    raw = req.route_params.get("customerId", "")
    try:
        customer_id = int(raw)
    except ValueError:
        return _json({"error": f"customerId {raw!r} is not an integer"}, 400)
    document = order_reader().read_order(customer_id)
    if document is None:
        return _json({"error": f"no proposed order for customer {customer_id}"}, 404)
    return _json({k: v for k, v in document.items() if not k.startswith("_")}, 200)
