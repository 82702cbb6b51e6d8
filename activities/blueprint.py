"""The activity functions as the Functions worker sees them (Python v2 model blueprint).

Each activity takes and returns small JSON (the worker decodes the input and encodes the
output); settings are read once per process by ``app_settings()``.
"""

from __future__ import annotations

from typing import Any

import azure.durable_functions as df

from activities.orders import propose_region_orders
from activities.plan import plan_run
from activities.publish import publish_run
from activities.route import route_chunk_activity
from activities.score import score_region_activity
from visitrank.adapters.app_settings import app_settings

PLAN = "plan_run"
SCORE = "score_region"
PUBLISH = "publish_run"
ORDERS = "propose_orders"
ROUTE = "route_chunk"

bp = df.Blueprint()


@bp.function_name(PLAN)
@bp.activity_trigger(input_name="payload")
def plan_run_activity(payload: dict[str, Any]) -> dict[str, Any]:
    """List the regions, fix the week and its as-of date, echo the scoring config."""
    return plan_run(payload, app_settings())


@bp.function_name(SCORE)
@bp.activity_trigger(input_name="payload")
def score_region_fn(payload: dict[str, Any]) -> dict[str, Any]:
    """Score one region and stage its frames in Blob."""
    return dict(score_region_activity(payload, app_settings()))


@bp.function_name(ROUTE)
@bp.activity_trigger(input_name="payload")
def route_chunk_fn(payload: dict[str, Any]) -> dict[str, Any]:
    """Plan the weeks of one chunk of reps and stage them in Blob."""
    return dict(route_chunk_activity(payload, app_settings()))


@bp.function_name(PUBLISH)
@bp.activity_trigger(input_name="payload")
def publish_run_activity(payload: dict[str, Any]) -> dict[str, Any]:
    """Join the reps' planned weeks (planning the chunks not routed), build and upsert the
    documents."""
    return publish_run(payload, app_settings())


@bp.function_name(ORDERS)
@bp.activity_trigger(input_name="payload")
def propose_orders_activity(payload: dict[str, Any]) -> dict[str, Any]:
    """Propose one region's orders and stage them in Blob."""
    return dict(propose_region_orders(payload, app_settings()))
