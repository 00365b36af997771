"""What is deployed, per stack: the engine's backend and the store, read together.

A stack's status is what its state says (deployed, needs repair, not deployed), or the
operation running on it; its last deploy comes from the record kept with its state and
the operation that wrote it; its drift from the last drift check recorded in the store.
`GET /deployments/:id/stacks/:stack/status` and `cloud status` both answer from here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from controller.core import events
from controller.core.catalog import Deployment
from controller.core.state_views import pending_operations, state_resources
from controller.engines.base import Engine, mask_outputs
from controller.execution.specs import stack_spec
from controller.operations.drift import latest_drift
from controller.operations.records import RUNNING
from controller.store.base import Store


def stack_status(
    engine: Engine,
    store: Store,
    deployment: Deployment,
    stack: str,
    environment: str,
    *,
    repo_root: Path,
    drift: dict[str, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """`StackStatus` data (EngineError when the backend cannot be read). `drift`: the
    environment's last drift checks, when the caller already read them."""
    spec = stack_spec(deployment, stack, environment, repo_root=repo_root)
    status = "not_deployed"
    record = None
    outputs: dict[str, Any] = {}
    resources: list[dict[str, Any]] = []
    pending = 0
    if engine.exists(spec):
        record = engine.record(spec)
        values, secret = engine.outputs(spec)
        outputs = mask_outputs(values, secret)
        checkpoint = engine.export_state(spec)
        resources = state_resources(checkpoint)
        pending = len(pending_operations(checkpoint))
        status = "needs_repair" if pending else "deployed"
    lock = store.get_lock(deployment.deployment_id, environment)
    if lock is not None:
        running = store.get_operation(lock.operation_id)
        planned = {s["name"] for s in (running.payload.get("stacks", []) if running else [])}
        if running is not None and running.status in RUNNING and stack in planned:
            status = {"destroy": "destroying", "refresh": "refreshing"}.get(
                running.type, "deploying"
            )
    operation = store.get_operation(record.operation_id) if record and record.operation_id else None
    duration = None
    if operation is not None:
        for event in store.list_events(operation_id=operation.id, stack=stack, limit=100_000):
            if event.type == events.STACK_COMPLETED:
                duration = event.payload.get("duration")
    if drift is None:
        drift = latest_drift(store, deployment.deployment_id, environment)
    checked = drift.get(stack)
    return {
        "deploymentId": deployment.deployment_id,
        "stackName": stack,
        "environment": environment,
        "status": status,
        "lastDeployedAt": record.deployed_at if record else None,
        "lastDeployedBy": operation.created_by if operation else None,
        "lastOperationId": record.operation_id if record else None,
        "commit": record.commit if record else None,
        "outputs": outputs,
        "resources": resources,
        "resourceCount": len(resources),
        "deploymentDuration": duration,
        "driftDetected": checked["driftDetected"] if checked else None,
        "driftCheckedAt": checked["checkedAt"] if checked else None,
        "pendingOperations": pending,
        "simulated": engine.simulated,
    }
