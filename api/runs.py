"""Client functions: the Monday timer, the run API and the CRM's read of a rep's week.

* Timer (``%VISITRANK_SCHEDULE%``, hourly on Mondays from 05:00 UTC by default) starts the
  week's full run under a deterministic instance id (``visitrank-<ISO year>-W<week>``) unless it
  is running or done, and reruns it (at most 3 runs) when it failed; it never starts a
  duplicate.
* ``POST /api/runs`` (function key): ad-hoc run ``{weekStart?, regions?, dryRun?, force?}``;
  400 on a bad body, 409 while the week's run is active (or finished, without force),
  202 with the run id and this API's status route (never the Durable management URLs: they
  carry the host's system key).
* ``GET /api/runs/{instanceId}``: runtime status, per-region progress, documents published
  of how many (``published``: ``visitrank.adapters.publish_progress``), summary.
* ``GET /api/reps/{repId}/visits?weekStart=``: the rep's document by point read (id
  ``<repId>:<weekStart>``, partition ``repId``), of the latest published week by default (the
  publication record, ``CosmosSink.record_publication``: lists and orders switch together);
  404 when absent or when the week asked for is later than the latest published one.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from datetime import UTC, date, datetime
from functools import cache
from typing import Any, Final
from urllib.parse import quote

import azure.durable_functions as df
import azure.functions as func

from api.access import AccessDeniedError, caller_of, check_rep
from api.run_requests import (
    RunRequestError,
    conflict,
    instance_id_for,
    is_full_run,
    parse_run_request,
    subset_conflict,
    timer_decision,
)
from orchestrators.weekly_run import WEEKLY_RUN
from visitrank.adapters.app_settings import app_settings
from visitrank.adapters.blob_staging import BlobStaging
from visitrank.adapters.cosmos_sink import CosmosSink
from visitrank.adapters.publish_progress import read_progress
from visitrank.pipeline.week import week_instance_id, week_monday

log = logging.getLogger("visitrank.api")
JSON: Final = "application/json"
INSTANCE_ID: Final = re.compile(r"visitrank-\d{4}-W\d{2}(-(dryrun|regions)-[0-9a-f]{8})?")
"""The ids this app gives its runs (``instance_id_for``): anything else is refused before it
reaches the Durable extension's URL."""

bp = df.Blueprint()


def json_response(body: Any, status: int) -> func.HttpResponse:
    """A JSON HttpResponse."""
    return func.HttpResponse(json.dumps(body, default=str), status_code=status, mimetype=JSON)


def error_response(message: str, status: int) -> func.HttpResponse:
    """A JSON error body ``{"error": message}``."""
    return json_response({"error": message}, status)


def runtime_status_of(status: Any) -> str | None:
    """The runtime status name of a DurableOrchestrationStatus, None when the instance is
    unknown (the client returns an empty status for a 404)."""
    runtime = getattr(status, "runtime_status", None) if status is not None else None
    if runtime is None:
        return None
    return str(getattr(runtime, "value", runtime))


def utc_today() -> date:
    """Today in UTC (client functions may read the clock; orchestrators may not)."""
    return datetime.now(UTC).date()


@bp.function_name("weekly_timer")
@bp.timer_trigger(schedule="%VISITRANK_SCHEDULE%", arg_name="timer", use_monitor=True)
@bp.durable_client_input(client_name="client")
async def weekly_timer(timer: func.TimerRequest, client: df.DurableOrchestrationClient) -> None:
    """Start this week's full run unless it is running or done; rerun it (bounded) when the
    last one failed. Runs of some regions and dry runs have ids of their own and never make
    the timer skip the week."""
    week = week_monday(utc_today())
    instance_id = week_instance_id(week)
    status = await client.get_status(instance_id)
    existing = runtime_status_of(status)
    action, attempt = timer_decision(
        existing, getattr(status, "output", None), getattr(status, "input_", None)
    )
    if action == "skip":
        log.info("week %s: run %s is %s, not started", week, instance_id, existing)
        return
    run_input = {"weekStart": week.isoformat(), "attempt": attempt}
    try:
        await client.start_new(WEEKLY_RUN, instance_id, run_input)
    except Exception:  # another starter won the race: the week is running
        log.warning("week %s: run %s could not be started (already started?)", week, instance_id)
        return
    log.info(
        "%s weekly run %s (attempt %s, past due: %s)", action, instance_id, attempt, timer.past_due
    )


@bp.function_name("start_run")
@bp.route(route="runs", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
@bp.durable_client_input(client_name="client")
async def start_run(
    req: func.HttpRequest, client: df.DurableOrchestrationClient
) -> func.HttpResponse:
    """Validate the body, refuse a duplicate (409), start the run and return 202."""
    try:
        raw = req.get_body()
        body = json.loads(raw) if raw.strip() else None
    except (ValueError, UnicodeDecodeError):
        return error_response("body is not valid JSON", 400)
    except RecursionError:
        return error_response("body is nested too deeply", 400)
    try:
        request = parse_run_request(body, utc_today())
    except RunRequestError as error:
        return error_response(str(error), 400)
    instance_id = instance_id_for(request, uuid.uuid4().hex[:8])
    full_id = week_instance_id(date.fromisoformat(request["weekStart"]))
    full_status = runtime_status_of(await client.get_status(full_id))
    if is_full_run(request):
        reason = conflict(full_status, force=request["force"])
    else:
        reason = None if request.get("dryRun") else subset_conflict(full_status)
    if reason is not None:
        return json_response({"error": reason, "instanceId": full_id}, 409)
    orchestration_input = {k: v for k, v in request.items() if k != "force"}
    try:
        await client.start_new(WEEKLY_RUN, instance_id, orchestration_input)
    except Exception as error:  # host.json refuses to start over a running instance
        log.warning("run %s not started: %s", instance_id, error)
        return json_response(
            {"error": "the run of this week was started meanwhile", "instanceId": instance_id},
            409,
        )
    log.info("started run %s: %s", instance_id, orchestration_input)
    return accepted(instance_id)


def accepted(instance_id: str) -> func.HttpResponse:
    """202 with the run's id and this API's own status route. Not the Durable management
    URLs of ``create_check_status_response``: they carry the host's system key, which would
    let any caller of this API terminate or purge any orchestration."""
    status_url = f"/api/runs/{quote(instance_id, safe='')}"
    response = json_response({"id": instance_id, "statusUrl": status_url}, 202)
    response.headers["Location"] = status_url
    return response


@bp.function_name("get_run")
@bp.route(route="runs/{instanceId}", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
@bp.durable_client_input(client_name="client")
async def get_run(
    req: func.HttpRequest, client: df.DurableOrchestrationClient
) -> func.HttpResponse:
    """Status, per-region progress (custom status) and summary (output) of a run."""
    instance_id = req.route_params.get("instanceId", "")
    if not INSTANCE_ID.fullmatch(instance_id):
        return error_response(f"not a run id: {instance_id[:100]!r}", 400)
    status = await client.get_status(instance_id)
    runtime = runtime_status_of(status)
    if runtime is None:
        return error_response(f"no run {instance_id!r}", 404)
    return json_response(
        {
            "instanceId": instance_id,
            "runtimeStatus": runtime,
            "createdTime": status.created_time,
            "lastUpdatedTime": status.last_updated_time,
            "progress": status.custom_status,
            "published": publish_progress(instance_id),
            "summary": status.output,
        },
        200,
    )


@cache
def staging_reader() -> BlobStaging:
    """The process-wide client of the staging container (the runs' publish progress)."""
    return BlobStaging.from_settings(app_settings())


def publish_progress(instance_id: str) -> dict[str, Any] | None:
    """Documents written of how many by the run's publish step (its last attempt), None
    before it started, for a dry run, or when the progress cannot be read (logged: the
    status answer never fails for it)."""
    try:
        return read_progress(staging_reader(), instance_id)
    except Exception:
        log.exception("publish progress of %s not read", instance_id)
        return None


@cache
def document_reader() -> CosmosSink:
    """The process-wide Cosmos client for the read endpoint."""
    return CosmosSink.from_settings(app_settings())


class ReadRequestError(ValueError):
    """A read request that cannot be answered: the message and the HTTP status."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


def rep_and_week(req: func.HttpRequest) -> tuple[int, date | None]:
    """The rep id of the route and the ``weekStart`` asked for (None: not given); 400 when
    either does not read or the week is not a Monday."""
    raw_rep = req.route_params.get("repId", "")
    try:
        rep_id = int(raw_rep)
    except ValueError:
        raise ReadRequestError(f"repId {raw_rep!r} is not an integer", 400) from None
    raw_week = req.params.get("weekStart")
    try:
        asked = date.fromisoformat(raw_week) if raw_week else None
    except ValueError:
        raise ReadRequestError(f"weekStart {raw_week!r} is not a date (YYYY-MM-DD)", 400) from None
    if asked is not None and asked.weekday() != 0:
        raise ReadRequestError(f"weekStart {asked.isoformat()} is not a Monday", 400)
    return rep_id, asked


def served_week(asked: date | None, published: str | None) -> str:
    """The week to serve: the one asked for, else the latest published one; 404 before the
    first publication and for a week later than the latest published (its run is still
    writing, or failed: its documents are not all there)."""
    if published is None:
        raise ReadRequestError("no week has been published yet", 404)
    week = asked.isoformat() if asked is not None else published
    if week > published:
        raise ReadRequestError(f"week {week} is not published yet (latest: {published})", 404)
    return week


@bp.function_name("get_rep_visits")
@bp.route(route="reps/{repId}/visits", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
def get_rep_visits(req: func.HttpRequest) -> func.HttpResponse:
    """The rep's weekly document by point read (``served_week``); 404 when there is none."""
    try:
        rep_id, asked = rep_and_week(req)
        check_rep(caller_of(req.headers, app_settings().read_access), rep_id)
        reader = document_reader()
        week = served_week(asked, reader.published_week())
    except (ReadRequestError, AccessDeniedError) as refused:
        return error_response(str(refused), refused.status)
    document = reader.read_document(rep_id, week)
    if document is None:
        return error_response(f"no visit list for rep {rep_id} in week {week}", 404)
    return json_response({k: v for k, v in document.items() if not k.startswith("_")}, 200)
