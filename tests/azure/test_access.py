"""Read access: the Easy Auth principal decides which reps' lists and customers' orders a
caller reads (VISITRANK_READ_ACCESS=principal); the documents come from the Cosmos emulator.
App Service Authentication itself (which signs the principal header and strips any a client
sends) is part of the platform and cannot run here: the tests send the header it would."""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Iterator
from datetime import date
from typing import Any

import azure.functions as func
import pytest

from api.access import (
    READ_ALL_ROLE,
    REP_CLAIM,
    AccessDeniedError,
    caller_of,
    check_customer,
    check_rep,
)
from visitrank.adapters.app_settings import Settings, app_settings
from visitrank.adapters.cosmos_sink import CosmosSink
from visitrank.adapters.order_store import OrderStore, order_id
from visitrank.pipeline.week import week_monday

from .history import registered


def principal(*claims: tuple[str, str]) -> dict[str, str]:
    """The X-MS-CLIENT-PRINCIPAL header Easy Auth sends for a caller with these claims."""
    body = {
        "auth_typ": "aad",
        "name_typ": "name",
        "role_typ": "roles",
        "claims": [{"typ": typ, "val": val} for typ, val in claims],
    }
    return {"X-MS-CLIENT-PRINCIPAL": base64.b64encode(json.dumps(body).encode()).decode()}


def test_key_mode_reads_everything_and_principal_mode_needs_a_caller() -> None:
    assert caller_of({}, "key").may_read_rep(7)
    with pytest.raises(AccessDeniedError) as missing:
        caller_of({}, "principal")
    assert missing.value.status == 401
    with pytest.raises(AccessDeniedError) as garbled:
        caller_of({"x-ms-client-principal": "not base64!"}, "principal")
    assert garbled.value.status == 401


def test_a_rep_reads_their_own_list_a_manager_their_team_ops_everything() -> None:
    rep = caller_of(principal((REP_CLAIM, "42"), ("name", "Zoë")), "principal")
    assert (rep.read_all, rep.reps) == (False, frozenset({42}))
    check_rep(rep, 42)
    with pytest.raises(AccessDeniedError) as other:
        check_rep(rep, 43)
    assert other.value.status == 403
    manager = caller_of(principal((REP_CLAIM, "42"), (REP_CLAIM, "43")), "principal")
    check_rep(manager, 43)
    ops = caller_of(principal(("roles", READ_ALL_ROLE)), "principal")
    check_rep(ops, 999)
    lists = [{"visits": [{"customerId": 10001}, {"customerId": 10002}]}]
    check_customer(rep, 10002, lists)
    with pytest.raises(AccessDeniedError):
        check_customer(rep, 10003, lists)
    check_customer(ops, 10003, [])


@pytest.fixture
def principal_mode(settings: Settings) -> Iterator[None]:
    os.environ["VISITRANK_READ_ACCESS"] = "principal"
    app_settings.cache_clear()
    try:
        yield
    finally:
        del os.environ["VISITRANK_READ_ACCESS"]
        app_settings.cache_clear()


def get(function: str, url: str, route: dict[str, str], headers: dict[str, str]) -> Any:
    request = func.HttpRequest("GET", url, body=b"", route_params=route, headers=headers)
    return registered(function)(request)


def test_the_read_endpoints_are_scoped_to_the_callers_reps(
    fresh_database: Settings, principal_mode: None
) -> None:
    """Any function-key holder used to read any rep's list or customer's order."""
    settings, sink = fresh_database, CosmosSink.from_settings(fresh_database)
    week = week_monday(date.today()).isoformat()
    sink.upsert_documents(
        [
            {"id": f"42:{week}", "repId": 42, "weekStart": week, "visits": [{"customerId": 7}]},
            {"id": f"43:{week}", "repId": 43, "weekStart": week, "visits": [{"customerId": 8}]},
        ]
    )
    OrderStore.from_settings(settings).upsert_orders(
        [{"id": order_id(c, week), "customerId": c, "lines": []} for c in (7, 8)]
    )
    sink.record_publication(week, {"runId": "r1"})
    rep_42 = principal((REP_CLAIM, "42"))

    def visits(rep: str, headers: dict[str, str]) -> Any:
        route = {"repId": rep}
        return get("get_rep_visits", f"http://localhost/api/reps/{rep}/visits", route, headers)

    def order(customer: str, headers: dict[str, str]) -> Any:
        route = {"customerId": customer}
        url = f"http://localhost/api/customers/{customer}/order"
        return get("get_customer_order", url, route, headers)

    assert visits("42", rep_42).status_code == 200
    assert visits("43", rep_42).status_code == 403
    assert visits("42", {}).status_code == 401
    assert order("7", rep_42).status_code == 200  # on rep 42's list this week
    assert order("8", rep_42).status_code == 403
    ops = principal(("roles", READ_ALL_ROLE))
    assert visits("43", ops).status_code == 200
    assert order("8", ops).status_code == 200
