"""``GET /api/customers/{customerId}/order``: the customer's proposed order of the latest
published week (the publication record, then a point read), scoped by
``VISITRANK_READ_ACCESS`` (api/access.py): with ``principal``, a caller without the ReadAll
role reads the orders of the customers on its reps' lists of that week."""

from __future__ import annotations

import json
from functools import cache
from typing import Any

import azure.durable_functions as df
import azure.functions as func

from api.access import MAX_REPS_CHECKED, AccessDeniedError, Caller, caller_of, check_customer
from visitrank.adapters.app_settings import app_settings
from visitrank.adapters.cosmos_sink import CosmosSink
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


@cache
def list_reader() -> CosmosSink:
    """The process-wide Cosmos client of the rep documents (to scope a caller's orders)."""
    return CosmosSink.from_settings(app_settings())


def caller_lists(caller: Caller, week: str) -> list[dict[str, Any]]:
    """The week's documents of the caller's reps (at most ``MAX_REPS_CHECKED`` of them)."""
    reader = list_reader()
    documents = (reader.read_document(rep, week) for rep in sorted(caller.reps)[:MAX_REPS_CHECKED])
    return [document for document in documents if document is not None]


@bp.function_name("get_customer_order")
@bp.route(route="customers/{customerId}/order", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
def get_customer_order(req: func.HttpRequest) -> func.HttpResponse:
    """The customer's order document of the latest published week (the week whose lists
    the reps see); 400 on a non-integer id, 404 when there is none."""
    raw = req.route_params.get("customerId", "")
    try:
        customer_id = int(raw)
    except ValueError:
        return _json({"error": f"customerId {raw!r} is not an integer"}, 400)
    week = list_reader().published_week()
    try:
        caller = caller_of(req.headers, app_settings().read_access)
        if not caller.read_all:
            check_customer(caller, customer_id, caller_lists(caller, week) if week else [])
    except AccessDeniedError as denied:
        return _json({"error": str(denied)}, denied.status)
    if week is None:
        return _json({"error": "no week has been published yet"}, 404)
    document = order_reader().read_order(customer_id, week)
    if document is None:
        return _json({"error": f"no proposed order for customer {customer_id}"}, 404)
    return _json({k: v for k, v in document.items() if not k.startswith("_")}, 200)
