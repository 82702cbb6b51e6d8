"""The function app as the worker indexes it, and its HTTP functions called with real
``azure.functions.HttpRequest`` objects.

The durable client is faked in the HTTP tests, and only there: the real
DurableOrchestrationClient talks to the Durable Task extension of the .NET Functions host,
which cannot run on this machine. The Cosmos read endpoint uses the real emulator.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
from datetime import date
from pathlib import Path
from typing import Any

import azure.functions as func
import pytest

from api import runs as starters
from visitrank.adapters.app_settings import Settings
from visitrank.adapters.cosmos_sink import CosmosSink

from .history import indexed_functions, registered

ROOT = Path(__file__).resolve().parents[2]


def bindings(name: str) -> dict[str, dict[str, Any]]:
    """Binding type → its JSON (as written to the worker's function metadata)."""
    function = indexed_functions()[name]
    raw = [json.loads(b) for b in function.get_raw_bindings()]
    return {binding["type"]: binding for binding in raw}


def test_every_function_is_indexed_with_its_trigger() -> None:
    triggers = {
        name: next(
            b["type"] for b in map(json.loads, f.get_raw_bindings()) if "Trigger" in b["type"]
        )
        for name, f in indexed_functions().items()
    }
    assert triggers == {
        "plan_run": "activityTrigger",
        "score_region": "activityTrigger",
        "publish_run": "activityTrigger",
        "segment_outlets": "activityTrigger",
        "propose_orders": "activityTrigger",
        "route_chunk": "activityTrigger",
        "weekly_run": "orchestrationTrigger",
        "region_run": "orchestrationTrigger",
        "segment_run": "orchestrationTrigger",
        "order_run": "orchestrationTrigger",
        "route_run": "orchestrationTrigger",
        "weekly_timer": "timerTrigger",
        "start_run": "httpTrigger",
        "get_run": "httpTrigger",
        "get_rep_visits": "httpTrigger",
        "get_customer_order": "httpTrigger",
    }


@pytest.mark.parametrize(
    ("name", "trigger", "parameter"),
    [
        ("propose_orders", "activityTrigger", "payload"),
        ("segment_outlets", "activityTrigger", "payload"),
        ("segment_run", "orchestrationTrigger", "context"),
        ("order_run", "orchestrationTrigger", "context"),
        ("route_chunk", "activityTrigger", "payload"),
        ("route_run", "orchestrationTrigger", "context"),
    ],
)
def test_new_functions_bindings(name: str, trigger: str, parameter: str) -> None:
    raw = bindings(name)
    assert list(raw) == [trigger]  # the trigger only: no output or client binding
    assert raw[trigger]["name"] == parameter
    assert raw[trigger]["direction"].lower() == "in"


def test_timer_schedule_comes_from_the_app_setting() -> None:
    timer = bindings("weekly_timer")
    assert timer["timerTrigger"]["schedule"] == "%VISITRANK_SCHEDULE%"
    assert "durableClient" in timer


@pytest.mark.parametrize(
    ("name", "route", "method", "client"),
    [
        ("start_run", "runs", "POST", True),
        ("get_run", "runs/{instanceId}", "GET", True),
        ("get_rep_visits", "reps/{repId}/visits", "GET", False),
        ("get_customer_order", "customers/{customerId}/order", "GET", False),
    ],
)
def test_http_routes_need_a_function_key(name: str, route: str, method: str, client: bool) -> None:
    raw = bindings(name)
    trigger = raw["httpTrigger"]
    assert trigger["route"] == route
    assert [m.upper() for m in trigger["methods"]] == [method]
    assert trigger["authLevel"].lower() == "function"
    assert raw["http"]["direction"].lower() == "out"
    assert ("durableClient" in raw) is client


class FakeStatus:
    def __init__(
        self, runtime: str | None, output: Any = None, custom: Any = None, input_: Any = None
    ) -> None:
        self.runtime_status = runtime
        self.output = output
        self.custom_status = custom
        self.input_ = input_
        self.created_time = "2026-11-23T05:00:00Z"
        self.last_updated_time = "2026-11-23T05:03:00Z"


class FakeDurableClient:
    """Stands in for the .NET host's Durable Task extension (not runnable here)."""

    def __init__(
        self, statuses: dict[str, FakeStatus] | None = None, *, refuse_running: bool = False
    ) -> None:
        self.statuses = statuses or {}
        self.started: list[tuple[str, str, Any]] = []
        self.refuse_running = refuse_running

    async def get_status(self, instance_id: str) -> FakeStatus:
        return self.statuses.get(instance_id, FakeStatus(None))

    async def start_new(self, name: str, instance_id: str, client_input: Any) -> str:
        # host.json's overridableExistingInstanceStates = NonRunningStates: the extension
        # refuses, atomically, to start over a running instance (the SDK raises its message)
        running = self.statuses.get(instance_id, FakeStatus(None)).runtime_status == "Running"
        if self.refuse_running and running:
            raise Exception("An Orchestration instance with the status Running already exists.")
        self.started.append((name, instance_id, client_input))
        self.statuses[instance_id] = FakeStatus("Running", input_=client_input)
        return instance_id


def client_function(name: str) -> Any:
    """The user code behind a durable-client function (the SDK wraps it to build the client)."""
    return registered(name).client_function


def post_runs(body: Any, client: FakeDurableClient) -> func.HttpResponse:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    request = func.HttpRequest("POST", "http://localhost/api/runs", body=data)
    response: func.HttpResponse = asyncio.run(client_function("start_run")(request, client))
    return response


def test_post_runs_starts_the_week_and_returns_202(monkeypatch: pytest.MonkeyPatch) -> None:
    client = FakeDurableClient()
    response = post_runs({"weekStart": "2026-11-23"}, client)
    assert response.status_code == 202
    assert json.loads(response.get_body())["id"] == "visitrank-2026-W48"
    assert client.started == [
        ("weekly_run", "visitrank-2026-W48", {"weekStart": "2026-11-23", "dryRun": False})
    ]


def test_a_rerun_of_some_regions_has_its_own_id_and_never_blocks_the_week() -> None:
    """A subset POST before Monday's timer used to take the week's instance id, and the timer,
    finding it, skipped the full run."""
    client = FakeDurableClient()
    response = post_runs({"weekStart": "2026-11-23", "regions": [2, 1]}, client)
    assert response.status_code == 202
    ((_, subset_id, run_input),) = client.started
    assert subset_id.startswith("visitrank-2026-W48-regions-")
    assert run_input == {"weekStart": "2026-11-23", "regions": [1, 2], "dryRun": False}
    client.statuses[subset_id] = FakeStatus("Completed", {"status": "complete"})
    run_timer(client, date(2026, 11, 23))
    assert client.started[-1][1] == "visitrank-2026-W48"  # the full run still starts


def test_a_rerun_of_some_regions_waits_for_the_full_run() -> None:
    client = FakeDurableClient({"visitrank-2026-W48": FakeStatus("Running")})
    response = post_runs({"weekStart": "2026-11-23", "regions": [1]}, client)
    assert response.status_code == 409
    assert "full run of this week is running" in json.loads(response.get_body())["error"]
    assert client.started == []


def test_concurrent_posts_start_the_week_once() -> None:
    """Two POSTs that both passed the status check: the second start_new is refused by the
    extension (host.json: overridableExistingInstanceStates = NonRunningStates) and answered
    409, never a second 202 over the same instance. The extension itself cannot run here: the
    fake client refuses as it does."""
    client = FakeDurableClient(refuse_running=True)

    async def both() -> list[func.HttpResponse]:
        function = client_function("start_run")
        requests = [
            func.HttpRequest(
                "POST", "http://localhost/api/runs", body=b'{"weekStart": "2026-11-23"}'
            )
            for _ in range(2)
        ]
        statuses = {**client.statuses}

        async def get_status(instance_id: str) -> FakeStatus:  # both see "no run yet"
            return statuses.get(instance_id, FakeStatus(None))

        client.get_status = get_status  # type: ignore[method-assign]
        return list(await asyncio.gather(*(function(r, client) for r in requests)))

    codes = sorted(response.status_code for response in asyncio.run(both()))
    assert codes == [202, 409]
    assert len(client.started) == 1
    host = json.loads((ROOT / "host.json").read_text(encoding="utf-8"))
    durable = host["extensions"]["durableTask"]
    assert durable["overridableExistingInstanceStates"] == "NonRunningStates"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{not json", "not valid JSON"),
        ([1, 2], "JSON object"),
        ({"weekStart": "2026-11-24"}, "not a Monday"),
        ({"weekStart": "23/11/2026"}, "not a date"),
        ({"regions": []}, "non-empty list"),
        ({"regions": [1, "2"]}, "positive integer"),
        ({"regions": [1, 1]}, "repeat"),
        ({"dryRun": "yes"}, "dryRun must be"),
        ({"week": "2026-11-23"}, "unknown field"),
    ],
)
def test_post_runs_rejects_bad_bodies(body: Any, message: str) -> None:
    client = FakeDurableClient()
    response = post_runs(body, client)
    assert response.status_code == 400
    assert message in json.loads(response.get_body())["error"]
    assert client.started == []


@pytest.mark.parametrize(
    ("existing", "force", "expected"),
    [
        ("Running", False, 409),
        ("Pending", True, 409),  # force never duplicates an active run
        ("Completed", False, 409),
        ("Completed", True, 202),
        ("Failed", True, 202),
    ],
)
def test_post_runs_one_run_per_week(existing: str, force: bool, expected: int) -> None:
    client = FakeDurableClient({"visitrank-2026-W48": FakeStatus(existing)})
    response = post_runs({"weekStart": "2026-11-23", "force": force}, client)
    assert response.status_code == expected
    assert len(client.started) == (1 if expected == 202 else 0)


def test_dry_run_gets_its_own_instance() -> None:
    client = FakeDurableClient({"visitrank-2026-W48": FakeStatus("Running")})
    response = post_runs({"weekStart": "2026-11-23", "dryRun": True}, client)
    assert response.status_code == 202
    assert client.started[0][1].startswith("visitrank-2026-W48-dryrun-")


def test_get_run_returns_progress_and_summary() -> None:
    status = FakeStatus("Running", None, {"stage": "scoring", "regions": {"1": "ok"}})
    client = FakeDurableClient({"visitrank-2026-W48": status})
    function = client_function("get_run")
    request = func.HttpRequest(
        "GET",
        "http://localhost/api/runs/x",
        body=b"",
        route_params={"instanceId": "visitrank-2026-W48"},
    )
    response = asyncio.run(function(request, client))
    assert response.status_code == 200
    body = json.loads(response.get_body())
    assert body["runtimeStatus"] == "Running"
    assert body["progress"]["regions"] == {"1": "ok"}
    missing = func.HttpRequest(
        "GET",
        "http://localhost/api/runs/y",
        body=b"",
        route_params={"instanceId": "visitrank-2026-W47"},
    )
    assert asyncio.run(function(missing, client)).status_code == 404


class Timer:
    past_due = False


def run_timer(client: FakeDurableClient, today: date) -> None:
    original = starters.utc_today
    starters.utc_today = lambda: today  # type: ignore[assignment]
    try:
        asyncio.run(client_function("weekly_timer")(Timer(), client))
    finally:
        starters.utc_today = original  # type: ignore[assignment]


def test_timer_starts_once_per_week() -> None:
    client = FakeDurableClient()
    run_timer(client, date(2026, 11, 25))
    week = {"weekStart": "2026-11-23", "attempt": 1}
    assert client.started == [("weekly_run", "visitrank-2026-W48", week)]
    run_timer(client, date(2026, 11, 25))  # running: not started again
    client.statuses["visitrank-2026-W48"] = FakeStatus("Completed", {"status": "complete"})
    run_timer(client, date(2026, 11, 25))
    assert len(client.started) == 1


@pytest.mark.parametrize(
    ("runtime", "output"),
    [
        ("Failed", None),  # e.g. the plan failed every attempt
        ("Terminated", None),
        ("Completed", {"status": "failed", "error": "publish failed after 3 attempts"}),
    ],
)
def test_timer_reruns_a_failed_week_at_most_three_times(runtime: str, output: Any) -> None:
    """The timer used to treat a Failed week as done: only a manual force recovered it."""
    client = FakeDurableClient(
        {"visitrank-2026-W48": FakeStatus(runtime, output, input_={"weekStart": "2026-11-23"})}
    )
    run_timer(client, date(2026, 11, 23))
    assert client.started == [
        ("weekly_run", "visitrank-2026-W48", {"weekStart": "2026-11-23", "attempt": 2})
    ]
    client.statuses["visitrank-2026-W48"] = FakeStatus(
        runtime, output, input_=client.started[-1][2]
    )
    run_timer(client, date(2026, 11, 23))
    assert client.started[-1][2]["attempt"] == 3
    client.statuses["visitrank-2026-W48"] = FakeStatus(
        runtime, output, input_=client.started[-1][2]
    )
    run_timer(client, date(2026, 11, 23))
    assert len(client.started) == 2  # bounded: the third failure waits for a person


def test_timer_losing_the_race_to_a_post_does_not_fail() -> None:
    client = FakeDurableClient({"visitrank-2026-W48": FakeStatus(None)}, refuse_running=True)

    async def started_meanwhile(instance_id: str) -> FakeStatus:
        return FakeStatus(None)  # the timer saw no run; a POST starts it before start_new

    client.get_status = started_meanwhile  # type: ignore[method-assign]
    client.statuses["visitrank-2026-W48"] = FakeStatus("Running")
    run_timer(client, date(2026, 11, 23))
    assert client.started == []


def get_visits(rep: str, week: str | None) -> func.HttpResponse:
    params = {"weekStart": week} if week else {}
    request = func.HttpRequest(
        "GET",
        f"http://localhost/api/reps/{rep}/visits",
        body=b"",
        params=params,
        route_params={"repId": rep},
    )
    response: func.HttpResponse = registered("get_rep_visits")(request)
    return response


def test_get_rep_visits_point_read(fresh_database: Settings) -> None:
    sink = CosmosSink.from_settings(fresh_database)
    week = "2031-06-02"
    sink.upsert_documents(
        [{"id": f"42:{week}", "repId": 42, "weekStart": week, "visits": [{"rank": 1}]}]
    )
    # written but not recorded as published (its run is still writing): not served
    unpublished = get_visits("42", week)
    assert unpublished.status_code == 404
    assert "no week has been published yet" in json.loads(unpublished.get_body())["error"]
    sink.record_publication(week, {"runId": "r1"})
    found = get_visits("42", week)
    assert found.status_code == 200
    body = json.loads(found.get_body())
    assert body["id"] == f"42:{week}"
    assert not any(key.startswith("_") for key in body)  # no Cosmos system fields
    assert json.loads(get_visits("42", None).get_body())["id"] == f"42:{week}"  # the latest
    assert get_visits("43", week).status_code == 404
    later = get_visits("42", "2031-06-09")
    assert later.status_code == 404
    assert "not published yet (latest: 2031-06-02)" in json.loads(later.get_body())["error"]
    assert get_visits("abc", week).status_code == 400
    assert get_visits("42", "2031-06-03").status_code == 400


def test_functions_doctor_has_no_failure_and_only_explained_warnings() -> None:
    """azure-functions-doctor must not fail; each warning it still gives is explained in
    docs/azure.md under its rule id (so a new warning makes this test fail)."""
    doctor = ROOT / ".venv" / "bin" / "azure-functions-doctor"
    if not doctor.exists():
        pytest.fail("azure-functions-doctor missing from .venv: pip install -e '.[dev]'")
    result = subprocess.run(
        [str(doctor), "doctor", "--path", str(ROOT), "--format", "json"],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    items = [item for section in json.loads(result.stdout)["results"] for item in section["items"]]
    assert len(items) > 10
    failed = [item["rule_id"] for item in items if item["status"] == "fail"]
    assert failed == []
    explained = (ROOT / "docs" / "azure.md").read_text()
    unexplained = [
        item["rule_id"]
        for item in items
        if item["status"] == "warn" and f"`{item['rule_id']}`" not in explained
    ]
    assert unexplained == []


def test_the_202_carries_no_system_key_and_points_at_this_api() -> None:
    """create_check_status_response handed callers the Durable management URLs, which carry
    the host's system key."""
    response = post_runs({"weekStart": "2026-11-23"}, FakeDurableClient())
    body = json.loads(response.get_body())
    assert body == {"id": "visitrank-2026-W48", "statusUrl": "/api/runs/visitrank-2026-W48"}
    assert response.headers["Location"] == "/api/runs/visitrank-2026-W48"
    assert "code=" not in response.get_body().decode() and "systemKey" not in body


@pytest.mark.parametrize(
    "instance_id", ["../admin", "visitrank-2026-W48?x=1", "a" * 300, "visitrank-2026-W48/terminate"]
)
def test_get_run_refuses_what_is_not_a_run_id(instance_id: str) -> None:
    client = FakeDurableClient()
    request = func.HttpRequest(
        "GET", "http://localhost/api/runs/x", body=b"", route_params={"instanceId": instance_id}
    )
    response = asyncio.run(client_function("get_run")(request, client))
    assert response.status_code == 400
    assert len(response.get_body()) < 300


def test_a_deeply_nested_body_is_a_400_not_a_500() -> None:
    response = post_runs(b"[" * 100_000 + b"]" * 100_000, FakeDurableClient())
    assert response.status_code == 400
    assert "nested" in json.loads(response.get_body())["error"]
