"""Drift as the store remembers it: the last check of each stack, and what it found.

A drift check is a refresh operation (preview-only, or one that took the cloud's values
into the state); each refreshed stack's `stack.completed` event carries its finding
(`drift`: in sync, drifted with the resources and properties, or gone). So the last
check of a stack is the newest such event, whoever ran it: `cloud drift`, `cloud refresh`,
`POST …/stacks/{stack}/refresh`. Stack status, `GET /deployments/{id}` and `cloud status`
read it from here.
"""

from __future__ import annotations

from typing import Any

from controller.core import events
from controller.store.base import Store

KIND = "refresh"
SCANNED = 200  # refresh operations looked through for a stack's last check
_ALL_BUT_RESULTS = tuple(kind for kind in events.EVENT_TYPES if kind != events.STACK_COMPLETED)


def latest_drift(store: Store, deployment_id: str, environment: str) -> dict[str, dict[str, Any]]:
    """`{stack: {driftDetected, status, checkedAt, resources, operationId}}` of the newest
    check of each stack of the environment that was ever checked."""
    found: dict[str, dict[str, Any]] = {}
    operations = store.list_operations(
        deployment_id=deployment_id, environment=environment, limit=SCANNED * 4
    )
    for operation in [op for op in operations if op.type == KIND][:SCANNED]:
        for event in store.list_events(
            operation_id=operation.id, exclude_types=_ALL_BUT_RESULTS, limit=10_000
        ):
            stack = event.payload.get("stackName")
            drift = event.payload.get("drift")
            if not stack or not isinstance(drift, dict) or stack in found:
                continue
            found[stack] = {
                "driftDetected": bool(drift.get("driftDetected")),
                "status": drift.get("status"),
                "checkedAt": event.at,
                "resources": drift.get("resources", []),
                "operationId": operation.id,
                "previewOnly": bool(operation.payload.get("request", {}).get("previewOnly")),
                "summary": event.payload.get("reason", ""),
            }
    return found


def refreshed_drift(checks: dict[str, dict[str, Any]]) -> dict[str, tuple[str, str]]:
    """Stacks whose last check was a refresh that took drift into their state: `{stack:
    (when, what)}`. Until deployed after that, their state is not what they declare, so a
    deploy must run them even though nothing changed in Git."""
    return {
        stack: (check["checkedAt"], check["summary"] or "drift")
        for stack, check in checks.items()
        if check["driftDetected"] and not check["previewOnly"]
    }


def environment_drift(checks: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """An environment's drift from its stacks' last checks (None: never checked)."""
    if not checks:
        return {"driftDetected": None, "checkedAt": None, "driftedStacks": []}
    drifted = sorted(stack for stack, check in checks.items() if check["driftDetected"])
    return {
        "driftDetected": bool(drifted),
        "checkedAt": max(check["checkedAt"] for check in checks.values()),
        "driftedStacks": drifted,
    }
