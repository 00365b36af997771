"""Views of Pulumi stack state and of an operation history, for the state and monitoring
endpoints: secrets redacted, resources listed, metrics over a period.

Pulumi's checkpoint marks a secret value with the signature key
`4dabf18193072939515e22adb298388d` = `1b47061264138c4ac30d75fd1eb44270` beside its
`plaintext` or `ciphertext`; a redacted copy keeps the marker and replaces the value, so
it is plain to see that a secret was there and that this copy cannot be imported back.
A purely computational module.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from controller.core.events import STACK_COMPLETED, STACK_FAILED

SIGNATURE = "4dabf18193072939515e22adb298388d"
SECRET_SIGNATURE = "1b47061264138c4ac30d75fd1eb44270"
REDACTED = "[secret]"
PERIODS = {"1h": timedelta(hours=1), "24h": timedelta(days=1), "7d": timedelta(days=7),
           "30d": timedelta(days=30)}  # fmt: skip


def redact_secrets(value: Any) -> Any:
    """A copy of a state document with every secret's value replaced by `[secret]`."""
    if isinstance(value, Mapping):
        if value.get(SIGNATURE) == SECRET_SIGNATURE:
            return {SIGNATURE: SECRET_SIGNATURE, "redacted": REDACTED}
        return {key: redact_secrets(item) for key, item in value.items()}
    if isinstance(value, list):
        return [redact_secrets(item) for item in value]
    return value


def holds_redacted_secrets(value: Any) -> bool:
    if isinstance(value, Mapping):
        if value.get(SIGNATURE) == SECRET_SIGNATURE and "redacted" in value:
            return True
        return any(holds_redacted_secrets(item) for item in value.values())
    if isinstance(value, list):
        return any(holds_redacted_secrets(item) for item in value)
    return False


def state_resources(state: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The cloud resources a checkpoint holds (not the stack itself nor providers)."""
    found = []
    for resource in (state.get("deployment") or {}).get("resources") or []:
        kind = str(resource.get("type", ""))
        if kind.startswith("pulumi:"):
            continue  # the stack resource, providers
        urn = str(resource.get("urn", ""))
        found.append(
            {
                "urn": urn,
                "type": kind,
                "name": urn.rsplit("::", 1)[-1],
                "id": resource.get("id"),
                "status": "created",
                "parent": resource.get("parent"),
            }
        )
    return found


def pending_operations(state: Mapping[str, Any]) -> list[dict[str, Any]]:
    return list((state.get("deployment") or {}).get("pending_operations") or [])


# The only events `metrics` reads: a caller need not load the others
METRIC_EVENTS = (STACK_COMPLETED, STACK_FAILED)


def metrics(
    operations: Iterable[Mapping[str, Any]],
    events: Callable[[str], list[Mapping[str, Any]]],
    *,
    now: datetime,
    period: str,
    total_resources: int = 0,
    estimated_monthly: float | None = None,
) -> dict[str, Any]:
    """Deploys and resources over `period` (an operation counts if it started in it).

    `operations`: dicts with id, type, status, startedAt, completedAt; `events`: an
    operation's messages (`{type, timestamp, data}`) by its id, asked only for the
    operations in `period` and only for their `METRIC_EVENTS`. `total_resources` is what
    the deployed stacks hold now, `estimated_monthly` what they are estimated to cost.
    `resources.failed` counts the stack updates that failed (each left at least one
    resource change undone).
    """
    since = now - PERIODS[period]
    chosen = [op for op in operations if _at(op.get("startedAt")) >= since]
    deploys = [op for op in chosen if op.get("type") == "deploy"]
    ended = [op for op in deploys if op.get("completedAt")]
    durations = [(_at(op["completedAt"]) - _at(op["startedAt"])).total_seconds() for op in ended]
    counts = {"create": 0, "update": 0, "delete": 0, "same": 0, "replace": 0}
    failed_stacks = 0
    per_stack: dict[str, dict[str, Any]] = {}
    for op in chosen:
        for event in events(str(op["id"])):
            data = event.get("data", {})
            name = data.get("stackName")
            if event.get("type") == STACK_COMPLETED:
                for kind, number in (data.get("counts") or {}).items():
                    counts[kind] = counts.get(kind, 0) + int(number)
                if name and data.get("status") in ("deployed", "destroyed"):
                    row = per_stack.setdefault(name, {"runs": 0, "ok": 0, "durations": []})
                    row["runs"] += 1
                    row["ok"] += 1
                    if data.get("duration") is not None:
                        row["durations"].append(float(data["duration"]))
            elif event.get("type") == STACK_FAILED and name:
                failed_stacks += 1
                row = per_stack.setdefault(name, {"runs": 0, "ok": 0, "durations": []})
                row["runs"] += 1
    return {
        "deployments": {
            "total": len(deploys),
            "successful": sum(op.get("status") == "success" for op in deploys),
            "failed": sum(op.get("status") == "failed" for op in deploys),
            "cancelled": sum(op.get("status") == "cancelled" for op in deploys),
            "averageDuration": round(sum(durations) / len(durations)) if durations else None,
        },
        "destroys": sum(op.get("type") == "destroy" for op in chosen),
        "resources": {
            "total": total_resources,
            "created": counts["create"],
            "updated": counts["update"] + counts.get("replace", 0),
            "deleted": counts["delete"],
            "unchanged": counts["same"],
            "failed": failed_stacks,
            "failedStacks": failed_stacks,
        },
        "costs": {
            "estimatedMonthly": estimated_monthly,
            "currency": "USD",
            "basis": "the stack definitions' estimatedMonthlyCost of what is deployed",
            "trend": None,  # the controller keeps no cost history; see your cloud's billing
        },
        "stacks": [
            {
                "name": name,
                "deployments": row["runs"],
                "averageDuration": round(sum(row["durations"]) / len(row["durations"]), 1)
                if row["durations"]
                else None,
                "successRate": round(100 * row["ok"] / row["runs"]) if row["runs"] else None,
            }
            for name, row in sorted(per_stack.items())
        ],
    }


def _at(stamp: Any) -> datetime:
    return datetime.fromisoformat(str(stamp).replace("Z", "+00:00"))


def system_metrics(
    operations: Iterable[Mapping[str, Any]],
    events: Callable[[str], list[Mapping[str, Any]]],
    *,
    now: datetime,
    period: str,
    requests: int,
    errors: int,
) -> dict[str, Any]:
    """seeds/002 5.2's system metrics over `period`: deploys started, completed and failed,
    stacks deployed, the average deploy time, API requests and errors. `operations` as for
    `metrics`; `events(id)` an operation's `stack.completed` messages."""
    since = now - PERIODS[period]
    chosen = [op for op in operations if _at(op.get("startedAt")) >= since]
    deploys = [op for op in chosen if op.get("type") == "deploy"]
    done = [op for op in deploys if op.get("status") == "success" and op.get("completedAt")]
    durations = [(_at(op["completedAt"]) - _at(op["startedAt"])).total_seconds() for op in done]
    stacks = sum(
        1
        for op in deploys
        for event in events(str(op["id"]))
        if event.get("type") == STACK_COMPLETED
        and (event.get("data") or {}).get("status") == "deployed"
    )
    return {
        "deploymentsStarted": len(deploys),
        "deploymentsCompleted": sum(op.get("status") == "success" for op in deploys),
        "deploymentsFailed": sum(op.get("status") == "failed" for op in deploys),
        "stacksDeployed": stacks,
        "averageDeploymentTimeSeconds": round(sum(durations) / len(durations))
        if durations
        else None,
        "apiRequests": requests,
        "apiErrors": errors,
    }
