"""An operation's state, folded from its events: what the status endpoint and retry need.

Events (`stack.started`, `stack.progress`, `stack.completed`, `stack.skipped`,
`stack.failed`, `log`,
`operation.*`) are the record; progress counts, the stacks running now, the stacks done,
the latest log lines and an estimate of the time left are all derived from them, the same
way whether the events came from the local executor, from a runner's callbacks or from
GitHub's webhooks. A purely computational module.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

DONE = {"deployed", "destroyed", "previewed", "skipped", "succeeded"}
UNFINISHED = {"failed", "blocked", "cancelled"}


@dataclass
class StackProgress:
    name: str
    layer: int = 0
    estimated_duration: int = 0
    status: str = "pending"
    started_at: str | None = None
    completed_at: str | None = None
    duration: float | None = None
    progress: int = 0
    resources_created: int = 0
    resources_total: int | None = None
    reason: str = ""
    error: str | None = None
    outputs: dict[str, Any] = field(default_factory=dict)

    @property
    def finished(self) -> bool:
        return self.status in DONE or self.status in UNFINISHED

    def to_dict(self) -> dict[str, Any]:
        data = {
            "name": self.name,
            "layer": self.layer,
            "status": self.status,
            "startedAt": self.started_at,
            "completedAt": self.completed_at,
            "duration": self.duration,
            "progress": self.progress,
            "resourcesCreated": self.resources_created,
            "resourcesTotal": self.resources_total,
            "reason": self.reason or None,
            "error": self.error,
        }
        return {key: value for key, value in data.items() if value is not None}


def fold_stacks(
    planned: Iterable[Mapping[str, Any]],
    events: Iterable[Mapping[str, Any]],
    *,
    kind: str = "deploy",
) -> dict[str, StackProgress]:
    """Every planned stack's latest state, in plan order (stacks only seen in events last)."""
    stacks = {
        item["name"]: StackProgress(
            item["name"], int(item.get("layer", 0)), int(item.get("estimatedDuration", 0))
        )
        for item in planned
    }
    running = "destroying" if kind == "destroy" else "deploying"
    for event in events:
        data = event.get("data", {})
        name = data.get("stackName")
        if not name:
            continue
        stack = stacks.setdefault(name, StackProgress(name, int(data.get("layer", 0))))
        kind_ = event.get("type")
        if kind_ == "stack.started":
            stack.status, stack.started_at = running, event.get("timestamp")
            stack.reason = data.get("reason", stack.reason)
            stack.resources_total = data.get("resourcesTotal", stack.resources_total)
        elif kind_ == "stack.progress":
            stack.progress = int(data.get("progress", stack.progress))
            stack.resources_created = int(data.get("resourcesProcessed", stack.resources_created))
            stack.resources_total = data.get("resourcesTotal", stack.resources_total)
        elif kind_ == "stack.completed":
            stack.status = str(data.get("status", "deployed"))
            stack.completed_at = event.get("timestamp")
            stack.duration = data.get("duration", stack.duration)
            stack.reason = data.get("reason", stack.reason) or stack.reason
            counts = data.get("counts") or {}
            stack.resources_created = int(counts.get("create", data.get("resourcesCreated", 0)))
            stack.outputs = dict(data.get("outputs") or {})
            stack.progress = 100 if stack.status in DONE else stack.progress
        elif kind_ == "stack.skipped":
            stack.status = str(data.get("status", "skipped"))
            stack.completed_at = event.get("timestamp")
            stack.reason = data.get("reason", stack.reason) or stack.reason
        elif kind_ == "stack.failed":
            stack.status, stack.completed_at = "failed", event.get("timestamp")
            stack.error = (data.get("error") or {}).get("message")
    return stacks


def progress_counts(stacks: Mapping[str, StackProgress]) -> dict[str, int]:
    values = list(stacks.values())
    total = len(values)
    completed = sum(s.status in DONE for s in values)
    failed = sum(s.status in UNFINISHED for s in values)
    running = sum(not s.finished and s.status != "pending" for s in values)
    finished = completed + failed
    return {
        "totalStacks": total,
        "completedStacks": completed,
        "failedStacks": failed,
        "inProgressStacks": running,
        "pendingStacks": total - finished - running,
        "percentage": round(100 * finished / total) if total else 100,
    }


def estimated_remaining(stacks: Mapping[str, StackProgress], *, now: datetime) -> int:
    """Seconds left: per layer still open, its slowest remaining stack (time already spent
    by running stacks subtracted), summed over layers."""
    by_layer: dict[int, int] = {}
    for stack in stacks.values():
        if stack.finished:
            continue
        left = stack.estimated_duration
        if stack.started_at:
            left = max(0, left - int((now - _parse(stack.started_at)).total_seconds()))
        by_layer[stack.layer] = max(by_layer.get(stack.layer, 0), left)
    return sum(by_layer.values())


def to_retry(stacks: Mapping[str, StackProgress]) -> list[str]:
    """What a retry runs again: stacks that failed, were blocked or never started."""
    return [
        name
        for name, stack in stacks.items()
        if stack.status in UNFINISHED or stack.status == "pending"
    ]


def summarize(
    operation: Mapping[str, Any],
    events: list[Mapping[str, Any]],
    *,
    now: datetime,
    log_limit: int = 50,
) -> dict[str, Any]:
    """The body of `GET /deployments/:id/operations/:opId` (seeds/001)."""
    stacks = fold_stacks(operation.get("stacks", []), events, kind=operation.get("type", "deploy"))
    logs = [
        {
            "timestamp": e.get("timestamp"),
            "level": e["data"].get("level", "info"),
            "stack": e["data"].get("stackName"),
            "message": e["data"].get("message", ""),
        }
        for e in events
        if e.get("type") == "log"
    ][-log_limit:]
    running = operation.get("status") in ("pending", "in_progress")
    return {
        "operationId": operation["operationId"],
        "deploymentId": operation["deploymentId"],
        "environment": operation["environment"],
        "type": operation.get("type", "deploy"),
        "status": operation.get("status", "pending"),
        "startedAt": operation.get("startedAt"),
        "completedAt": operation.get("completedAt"),
        "startedBy": operation.get("startedBy"),
        "progress": progress_counts(stacks),
        "currentStacks": [
            s.to_dict() for s in stacks.values() if not s.finished and s.status != "pending"
        ],
        "completedStacks": [s.to_dict() for s in stacks.values() if s.finished],
        "pendingStacks": [s.name for s in stacks.values() if s.status == "pending"],
        "estimatedTimeRemaining": estimated_remaining(stacks, now=now) if running else 0,
        "logs": logs,
    }


def _parse(timestamp: str) -> datetime:
    return datetime.fromisoformat(timestamp.replace("Z", "+00:00"))


def failure_of(failed: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """The `error` of an operation that failed because stacks did: `{code, message, stacks}`
    from each failed stack's `stack.failed` error."""
    stacks = [
        {"name": name, "code": str(error.get("code", "STACK_FAILED")),
         "message": str(error.get("message", "failed"))}
        for name, error in failed.items()
    ]  # fmt: skip
    summary = "; ".join(f"{s['name']}: {s['message']}" for s in stacks)
    count = f"{len(stacks)} stack{'s' if len(stacks) != 1 else ''} failed"
    return {"code": "OPERATION_FAILED", "message": f"{count}: {summary}", "stacks": stacks}


# Names of environment variables whose values are secrets: never stored, logged or shown.
SECRET_NAME = re.compile(
    r"secret|token|password|passwd|passphrase|credential|private|api_?key|(^|_)key($|_)", re.I
)
MASK = "[secret]"


def masked_env(env: Mapping[str, str]) -> dict[str, str]:
    """An operation's `env` as it may be kept and shown: secret-looking values masked."""
    return {name: MASK if SECRET_NAME.search(name) else value for name, value in env.items()}
