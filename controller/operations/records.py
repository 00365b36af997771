"""An operation's events as the store keeps them, and back as the seeds' messages."""

from __future__ import annotations

from typing import Any

from controller.store.base import EventRecord, OperationRecord

RUNNING = ("pending", "in_progress")
KINDS = ("deploy", "destroy", "preview", "import", "sync", "refresh")
FINAL = ("success", "failed", "cancelled")
DONE_STATUSES = {("deploy", "success"): "deployed", ("destroy", "success"): "destroyed"}


def environment_status(enabled: bool, operation: OperationRecord | None) -> str:
    """A deployment environment's status from its latest deploy or destroy."""
    if operation is not None and operation.status in RUNNING:
        return "destroying" if operation.type == "destroy" else "deploying"
    if not enabled:
        return "disabled"
    if operation is None:
        return "ready"
    if operation.status == "failed":
        return "failed"
    return DONE_STATUSES.get((operation.type, operation.status), "ready")


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
