"""The visitrank Azure Functions app (Python v2 programming model, Durable Functions).

Blueprints: the activities (plan, score a region, propose a region's orders, route a chunk of
reps, publish; the segmentation in its own), the orchestrators (weekly run; one region's
scoring, the segmentation, one region's orders and one chunk's routing, each with retries) and
the client functions (timer, run API, the CRM's reads of visit lists and proposed orders). See
docs/azure.md for deployment, settings and the local ``func start``.
"""

from __future__ import annotations

import azure.durable_functions as df
import azure.functions as func

from activities.blueprint import bp as activities
from activities.segments import bp as segment_activities
from api.orders import bp as order_api
from api.runs import bp as starters
from orchestrators.weekly_run import bp as orchestrations

app = df.DFApp(http_auth_level=func.AuthLevel.FUNCTION)
app.register_functions(activities)
app.register_functions(orchestrations)
app.register_functions(starters)
app.register_functions(order_api)
app.register_functions(segment_activities)
