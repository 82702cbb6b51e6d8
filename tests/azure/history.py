"""Orchestration histories as the Durable extension sends them, for replay tests.

Builds the JSON context the worker hands to an orchestrator function (``history`` of events,
``instanceId``, ``input``) so the SDK's real replay machinery (TaskOrchestrationExecutor) runs
the registered orchestrator. Modelled on ContextBuilder in the azure-functions-durable-python
test suite; SDK 1.7 reads ``Version`` from the ExecutionStarted event.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

from azure.durable_functions.constants import DATETIME_STRING_FORMAT
from azure.durable_functions.models.history.HistoryEventType import HistoryEventType as Ev

import function_app


class History:
    """An orchestration history under construction, one episode after another."""

    def __init__(self, name: str, input_: Any, instance_id: str, started: datetime) -> None:
        self.name = name
        self.instance_id = instance_id
        self.input = input_
        self.clock = started
        self.events: list[dict[str, Any]] = []
        self.add(Ev.ORCHESTRATOR_STARTED)
        self.add(
            Ev.EXECUTION_STARTED,
            IsPlayed=True,
            Name=name,
            Version="",
            Input=json.dumps(input_),
            OrchestrationInstance={"InstanceId": instance_id, "ExecutionId": "e1"},
        )

    def add(self, event_type: Ev, event_id: int = -1, **fields: Any) -> History:
        """Append one event; each event is one second after the previous one."""
        self.clock += timedelta(seconds=1)
        self.events.append(
            {
                "EventType": int(event_type),
                "EventId": event_id,
                "IsPlayed": fields.pop("IsPlayed", False),
                "Timestamp": self.clock.strftime(DATETIME_STRING_FORMAT),
                **fields,
            }
        )
        return self

    def new_episode(self) -> History:
        """The orchestrator yielded; the next events arrive in a new invocation."""
        return self.add(Ev.ORCHESTRATOR_COMPLETED).add(Ev.ORCHESTRATOR_STARTED)

    def activity_scheduled(self, task_id: int, name: str) -> History:
        return self.add(Ev.TASK_SCHEDULED, task_id, Name=name, Version="")

    def activity_completed(self, task_id: int, result: Any) -> History:
        return self.add(Ev.TASK_COMPLETED, TaskScheduledId=task_id, Result=json.dumps(result))

    def activity_failed(self, task_id: int, reason: str, details: str) -> History:
        return self.add(Ev.TASK_FAILED, TaskScheduledId=task_id, Reason=reason, Details=details)

    def timer_fired(self, timer_id: int) -> History:
        fire_at = self.clock.strftime(DATETIME_STRING_FORMAT)
        self.add(Ev.TIMER_CREATED, timer_id, FireAt=fire_at)
        return self.add(Ev.TIMER_FIRED, TimerId=timer_id, FireAt=fire_at)

    def sub_created(self, task_id: int, name: str, instance_id: str) -> History:
        return self.add(
            Ev.SUB_ORCHESTRATION_INSTANCE_CREATED, task_id, Name=name, InstanceId=instance_id
        )

    def sub_completed(self, task_id: int, result: Any) -> History:
        return self.add(
            Ev.SUB_ORCHESTRATION_INSTANCE_COMPLETED,
            TaskScheduledId=task_id,
            Result=json.dumps(result),
        )

    def context_json(self) -> str:
        """The orchestration trigger payload the extension sends to the worker."""
        return json.dumps(
            {
                "history": self.events,
                "instanceId": self.instance_id,
                "input": json.dumps(self.input),
                "isReplaying": False,
                "parentInstanceId": None,
                "upperSchemaVersion": 0,
            }
        )


@cache
def indexed_functions() -> dict[str, Any]:
    """The app's functions by name, indexed once as the worker does (``get_functions`` may
    only be called once per app: it validates that names are unique across calls)."""
    return {f.get_function_name(): f for f in function_app.app.get_functions()}


def registered(name: str) -> Any:
    """The user function of a registered function, as the worker calls it."""
    return indexed_functions()[name].get_user_function()


def replay(history: History, orchestrator: str) -> dict[str, Any]:
    """Run the registered orchestrator on ``history``; returns the decoded orchestrator state
    (isDone, actions, output, error, customStatus)."""
    state = registered(orchestrator)(history.context_json())
    result: dict[str, Any] = json.loads(state)
    return result


def flat_actions(state: dict[str, Any]) -> list[dict[str, Any]]:
    """Every action of the state, in order (V1 schema: a list of lists)."""
    return [action for group in state["actions"] for action in group]


START = datetime(2026, 11, 23, 5, 0, tzinfo=UTC)
