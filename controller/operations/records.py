"""An operation's events as the store keeps them, and back as the seeds' messages."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from controller.core.statuses import (
    EnvironmentSummary,
    StackState,
    running_kind,
    summarize_environment,
)
from controller.store.base import EventRecord, OperationRecord, StackStateRecord, Store

RUNNING = ("pending", "in_progress")
KINDS = ("deploy", "destroy", "preview", "import", "sync", "refresh")
FINAL = ("success", "failed", "cancelled")


def environment_summary(
    store: Store | None, deployment_id: str, environment: str, *, enabled: bool
) -> EnvironmentSummary:
    """A deployment environment's status and counts from its stacks' recorded states and
    the operation running on it (`core.statuses`); no store: nothing ever ran there."""
    if store is None:
        return summarize_environment({}, enabled=enabled)
    states = stack_states(store.list_stack_states(deployment_id=deployment_id))
    operation = store.latest_operations().get((deployment_id, environment))
    running = running_kind(operation.type, operation.status) if operation else None
    return summarize_environment(
        states.get((deployment_id, environment), {}), enabled=enabled, running=running
    )


def event_record(message: dict[str, Any]) -> EventRecord:
    """A `{type, timestamp, data}` message (core.events) as a store record."""
    data = message["data"]
    return EventRecord(
        operation_id=data["operationId"],
        deployment_id=data["deploymentId"],
        environment=data["environment"],
        type=message["type"],
        at=message["timestamp"],
        status=data.get("status"),
        payload=data,
    )


def message_of(record: EventRecord) -> dict[str, Any]:
    """A stored event as the message subscribers receive (`id` for SSE's Last-Event-ID)."""
    return {"type": record.type, "timestamp": record.at, "data": record.payload, "id": record.id}


def operation_view(operation: OperationRecord) -> dict[str, Any]:
    """The fields `core.operations.summarize` reads, from a stored operation."""
    payload = operation.payload
    return {
        "operationId": operation.id,
        "deploymentId": operation.deployment_id,
        "environment": operation.environment,
        "type": operation.type,
        "status": operation.status,
        "startedAt": operation.started_at or operation.created_at,
        "completedAt": operation.completed_at,
        "startedBy": operation.created_by,
        "stacks": payload.get("stacks", []),
    }


def event_data(record: EventRecord) -> dict[str, Any]:
    """The `data` of an event's message: its payload, with the ids the store recorded.

    The record's deployment and operation are authoritative (set by the service, not by
    whoever sent the payload), so an event can only ever reach its own deployment's
    channels. A purely computational function.
    """
    return {
        **record.payload,
        "deploymentId": record.deployment_id,
        "operationId": record.operation_id,
    }


def stack_state_of(record: StackStateRecord) -> StackState:
    details = record.details
    return StackState(
        status=record.status,
        at=record.at,
        operation_id=record.operation_id,
        deployed_at=details.get("deployedAt"),
        deployed_by=details.get("deployedBy"),
        duration=details.get("duration"),
        resource_count=int(details.get("resourceCount") or 0),
        outputs=details.get("outputs") or {},
        error=details.get("error"),
    )


def stack_state_record(
    deployment_id: str, environment: str, stack: str, state: StackState
) -> StackStateRecord:
    details = {
        "deployedAt": state.deployed_at,
        "deployedBy": state.deployed_by,
        "duration": state.duration,
        "resourceCount": state.resource_count,
        "outputs": dict(state.outputs),
        "error": dict(state.error) if state.error else None,
    }
    return StackStateRecord(
        deployment_id,
        environment,
        stack,
        state.status,
        state.at,
        state.operation_id,
        {key: value for key, value in details.items() if value is not None},
    )


def stack_states(
    records: Iterable[StackStateRecord],
) -> dict[tuple[str, str], dict[str, StackState]]:
    """`{(deployment, environment): {stack: state}}` of stored stack states."""
    found: dict[tuple[str, str], dict[str, StackState]] = {}
    for record in records:
        key = (record.deployment_id, record.environment)
        found.setdefault(key, {})[record.stack] = stack_state_of(record)
    return found
