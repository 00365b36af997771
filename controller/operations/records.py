"""An operation's events as the store keeps them, and back as the seeds' messages."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from controller.core.catalog import Deployment
from controller.core.statuses import (
    EnvironmentSummary,
    StackState,
    deployment_status,
    running_kind,
    summarize_environment,
)
from controller.store.base import EventRecord, OperationRecord, StackStateRecord, Store

RUNNING = ("pending", "in_progress")
KINDS = ("deploy", "destroy", "preview", "import", "sync", "refresh")
FINAL = ("success", "failed", "cancelled")
Operations = Mapping[tuple[str, str], OperationRecord]


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


@dataclass(frozen=True)
class Recorded:
    """What the store recorded that statuses are derived from: the latest deploy or destroy
    of each deployment environment (to tell what runs now) and each stack's state."""

    operations: Operations = field(default_factory=dict)
    states: Mapping[tuple[str, str], Mapping[str, StackState]] = field(default_factory=dict)

    def running(self, deployment_id: str, environment: str) -> str | None:
        operation = self.operations.get((deployment_id, environment))
        if operation is None:
            return None
        return running_kind(operation.type, operation.status)

    def running_stacks(self, deployment_id: str, environment: str) -> set[str]:
        operation = self.operations.get((deployment_id, environment))
        if operation is None or self.running(deployment_id, environment) is None:
            return set()
        return set(operation.payload.get("toRun") or [])

    def of(self, deployment_id: str, environment: str) -> Mapping[str, StackState]:
        return self.states.get((deployment_id, environment), {})

    @classmethod
    def of_store(cls, store: Store, deployment_id: str | None = None) -> Recorded:
        """Read from the store: the latest operations and the stacks' states (of one
        deployment, or all)."""
        return cls(
            store.latest_operations(),
            stack_states(store.list_stack_states(deployment_id=deployment_id)),
        )

    def summary(self, deployment_id: str, environment: str, *, enabled: bool) -> EnvironmentSummary:
        """An environment's status and counts from its stacks' states and the operation
        running on it (`enabled`: as the manifest says, or is about to)."""
        return summarize_environment(
            self.of(deployment_id, environment),
            enabled=enabled,
            running=self.running(deployment_id, environment),
        )

    def environment(self, deployment: Deployment, name: str) -> EnvironmentSummary:
        enabled = deployment.manifest.environments[name].enabled
        return self.summary(deployment.deployment_id, name, enabled=enabled)

    def deployment_status(self, deployment: Deployment) -> str:
        deployment_id = deployment.deployment_id
        names = list(deployment.manifest.environments)
        return deployment_status(
            [self.of(deployment_id, name) for name in names],
            running=[self.running(deployment_id, name) for name in names],
        )

    def deployment_duration(self, deployment_id: str) -> float | None:
        """Seconds the latest successful deploy of the deployment took (any environment)."""
        done = [
            op
            for (dep, _), op in self.operations.items()
            if dep == deployment_id
            and op.type == "deploy"
            and op.status == "success"
            and op.started_at
            and op.completed_at
        ]
        if not done:
            return None
        newest = max(done, key=lambda op: op.completed_at or "")
        return round(_seconds(newest.started_at, newest.completed_at), 3)

    def last_deployed(self, deployment_id: str) -> tuple[str | None, str | None]:
        """When a stack of the deployment was last deployed, and by whom."""
        latest = max(
            (
                state
                for (dep, _), states in self.states.items()
                if dep == deployment_id
                for state in states.values()
                if state.deployed_at
            ),
            key=lambda state: state.deployed_at or "",
            default=None,
        )
        return (latest.deployed_at, latest.deployed_by) if latest else (None, None)


def _seconds(start: str | None, end: str | None) -> float:
    from datetime import datetime

    def at(stamp: str | None) -> datetime:
        return datetime.fromisoformat(str(stamp).replace("Z", "+00:00"))

    return max(0.0, (at(end) - at(start)).total_seconds())
