"""Statuses of stacks, environments and deployments, derived from what is recorded.

What a deployment's status says must agree with what is deployed: after one stack of
sixteen is destroyed, the environment is still `deployed` (with `stacksDeployed` 15 of
16), not `destroyed`. So statuses are not read off the latest operation: each stack
instance has a recorded state (its latest outcome: `deployed`, `destroyed` or `failed`,
and what its last successful deploy left: when, by whom, its outputs and resource count),
folded here from the stack events of deploys and destroys, and every status is derived
from those states and the operation running now. The enums are the seeds'
(`initialized|deploying|deployed|failed|destroying|destroyed` for a deployment; an
environment adds `ready` and `disabled`, a stack `pending`).

A purely computational module.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from controller.core.events import STACK_COMPLETED, STACK_FAILED

# What a stack's record can say; a stack with none is `pending` (never deployed here).
DEPLOYED, DESTROYED, FAILED = "deployed", "destroyed", "failed"
RUNNING_STATUSES = ("pending", "in_progress")
STATE_CHANGING = ("deploy", "destroy")  # previews, imports and syncs deploy nothing
_KEPT_COUNTS = ("create", "update", "replace", "same")  # resources a stack holds after `up`


@dataclass(frozen=True)
class StackState:
    """The recorded state of one stack instance (deployment, environment, stack)."""

    status: str
    at: str
    operation_id: str
    deployed_at: str | None = None
    deployed_by: str | None = None
    duration: float | None = None
    resource_count: int = 0
    outputs: Mapping[str, Any] = field(default_factory=dict)
    error: Mapping[str, Any] | None = None


def next_state(
    previous: StackState | None,
    event: Mapping[str, Any],
    *,
    operation_type: str,
    started_by: str,
) -> StackState | None:
    """The state after `event` (an API event message), or None when it changes nothing.

    A failed deploy keeps what the last successful one left (the stack may still run with
    it); a destroy clears it.
    """
    if operation_type not in STATE_CHANGING:
        return None
    kind, data = event.get("type"), event.get("data") or {}
    at = str(event.get("timestamp", ""))
    operation_id = str(data.get("operationId", ""))
    base = previous or StackState(FAILED, at, operation_id)
    if kind == STACK_FAILED:
        error = dict(data.get("error") or {}) or {"message": "failed"}
        return replace(base, status=FAILED, at=at, operation_id=operation_id, error=error)
    if kind != STACK_COMPLETED:
        return None
    status = data.get("status")
    if status == DEPLOYED:
        counts = data.get("counts") or {}
        return StackState(
            DEPLOYED,
            at,
            operation_id,
            deployed_at=at,
            deployed_by=started_by,
            duration=data.get("duration"),
            resource_count=sum(int(counts.get(kind, 0)) for kind in _KEPT_COUNTS),
            outputs=dict(data.get("outputs") or {}),
        )
    if status == DESTROYED:
        return StackState(DESTROYED, at, operation_id, deployed_at=base.deployed_at)
    return None


def running_kind(operation_type: str | None, status: str | None) -> str | None:
    """`deploying` / `destroying` while an operation of that type runs, else None."""
    if status not in RUNNING_STATUSES or operation_type not in STATE_CHANGING:
        return None
    return "destroying" if operation_type == "destroy" else "deploying"


def stack_status(state: StackState | None, *, running: str | None = None) -> str:
    """`running` (deploying/destroying) when an operation works on it, else its record."""
    if running is not None:
        return running
    return state.status if state is not None else "pending"


@dataclass(frozen=True)
class EnvironmentSummary:
    status: str
    stacks_deployed: int
    stacks_failed: int
    last_deployed_at: str | None
    last_deployed_by: str | None
    total_resources: int
    endpoints: dict[str, str]


def summarize_environment(
    states: Mapping[str, StackState],
    *,
    enabled: bool,
    running: str | None = None,
) -> EnvironmentSummary:
    """An environment's status from its stacks' states (every recorded stack counts, also
    one the manifest no longer lists: it still runs)."""
    values = list(states.values())
    deployed = [s for s in values if s.status == DEPLOYED]
    failed = [s for s in values if s.status == FAILED]
    if running is not None:
        status = running
    elif not enabled:
        status = "disabled"
    elif failed:
        status = FAILED
    elif deployed:
        status = DEPLOYED
    elif any(s.status == DESTROYED for s in values):
        status = DESTROYED
    else:
        status = "ready"
    latest = max(
        (s for s in values if s.deployed_at), key=lambda s: s.deployed_at or "", default=None
    )
    return EnvironmentSummary(
        status=status,
        stacks_deployed=len(deployed),
        stacks_failed=len(failed),
        last_deployed_at=latest.deployed_at if latest else None,
        last_deployed_by=latest.deployed_by if latest else None,
        total_resources=sum(s.resource_count for s in deployed),
        endpoints=endpoints_of({name: s for name, s in states.items() if s.status == DEPLOYED}),
    )


def deployment_status(
    environments: Iterable[Mapping[str, StackState]], *, running: Iterable[str | None] = ()
) -> str:
    """The deployment's status over all its environments' stack states."""
    active = [kind for kind in running if kind is not None]
    if active:
        return "destroying" if all(kind == "destroying" for kind in active) else "deploying"
    statuses = {state.status for states in environments for state in states.values()}
    for status in (FAILED, DEPLOYED, DESTROYED):
        if status in statuses:
            return status
    return "initialized"


def endpoints_of(states: Mapping[str, StackState]) -> dict[str, str]:
    """The URLs deployed stacks export (`apiUrl: https://…`), by output name (prefixed by
    the stack when two stacks use the same name)."""
    found: dict[str, list[tuple[str, str]]] = {}
    for stack, state in sorted(states.items()):
        for name, value in state.outputs.items():
            if isinstance(value, str) and value.startswith(("https://", "http://")):
                found.setdefault(name, []).append((stack, value))
    endpoints: dict[str, str] = {}
    for name, pairs in sorted(found.items()):
        if len(pairs) == 1:
            endpoints[name] = pairs[0][1]
        else:
            endpoints.update({f"{stack}.{name}": value for stack, value in pairs})
    return endpoints
