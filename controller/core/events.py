"""The operation events of the API seeds, as plain dicts.

`operation.started`, `stack.started`, `stack.progress`, `stack.completed`, `stack.failed`,
`operation.completed` and `log` (the seeds' seven), and ours: `stack.skipped` for a stack
that did not run (unchanged, blocked by a failed upstream, cancelled), with its reason (a
`stack.completed` is only sent for a stack that ran, and always says how long it took and
what it created), and `drift.detected` (a refresh found a stack's resources not as
recorded). The executor emits them, the CLI shows them, the service
stores them and relays them over WebSocket and SSE. Each carries the deployment, the
operation and (where it applies) the stack and environment, so any subscriber can route
it to the seeds' channels. The caller passes the timestamp: no clock here.
A purely computational module.
"""

from __future__ import annotations

from typing import Any

OPERATION_STARTED = "operation.started"
STACK_STARTED = "stack.started"
STACK_PROGRESS = "stack.progress"
STACK_COMPLETED = "stack.completed"
STACK_FAILED = "stack.failed"
STACK_SKIPPED = "stack.skipped"
OPERATION_COMPLETED = "operation.completed"
LOG = "log"
DRIFT_DETECTED = "drift.detected"  # ours: a refresh found a stack's cloud not as recorded
EVENT_TYPES = (
    OPERATION_STARTED,
    STACK_STARTED,
    STACK_PROGRESS,
    STACK_COMPLETED,
    STACK_FAILED,
    STACK_SKIPPED,
    OPERATION_COMPLETED,
    LOG,
    DRIFT_DETECTED,
)
# What a CI runner may report of a stack event besides its type and stack (seeds/004):
# the runner sends only these, and the service keeps only these
RUNNER_DATA_KEYS = (
    "layer",
    "reason",
    "duration",
    "resourcesProcessed",
    "resourcesTotal",
    "resourcesCreated",
    "currentResource",
    "counts",
    "outputs",
    "error",
    "simulated",
)
RUNNER_TOKEN_HEADER = "X-Cloud-Runner-Token"


def event(kind: str, timestamp: str, **data: Any) -> dict[str, Any]:
    """`{"type", "timestamp", "data"}` with None-valued fields left out."""
    if kind not in EVENT_TYPES:
        raise ValueError(f"unknown event type {kind!r}")
    return {
        "type": kind,
        "timestamp": timestamp,
        "data": {key: value for key, value in data.items() if value is not None},
    }


def channels_of(message: dict[str, Any]) -> list[str]:
    """The seeds' WebSocket channels a message belongs to."""
    data = message.get("data", {})
    deployment = data.get("deploymentId")
    if not deployment:
        return []
    found = [f"deployments/{deployment}"]
    if data.get("operationId"):
        found.append(f"deployments/{deployment}/operations/{data['operationId']}")
    if data.get("stackName"):
        found.append(f"deployments/{deployment}/stacks/{data['stackName']}")
    if data.get("environment"):
        found.append(f"deployments/{deployment}/environments/{data['environment']}")
    return found
