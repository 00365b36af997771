"""A deployment's operation events read as log lines, filtered and read from the store.

The seeds' `cloud logs` shows lines (timestamp, level, stack, message); the store keeps
events. Here each event becomes a line: a `log` event is its own message and level
(`warning` read as the seeds' `warn`), the lifecycle events are rendered (a stack failing
is an error, progress is debug, a failed operation an error), and the seeds' filters
(environment, stack, minimum level, since, search; plus the operation) decide which lines
are shown. Rendering and filtering are purely computational (the caller passes the time
and the operations' types); `read_logs` reads the lines from the store, for
`GET /deployments/:id/logs` and for `cloud logs` alike.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from controller.adapters.clock import iso_at
from controller.core import events
from controller.operations.records import event_data
from controller.store.base import EventRecord, Store

LEVELS = {"debug": 0, "info": 1, "warn": 2, "error": 3}
_LEVEL_ALIASES = {"warning": "warn", "critical": "error", "fatal": "error", "trace": "debug"}
DURATION = re.compile(r"(\d{1,7})([smhdw])")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}
_COMPLETION_LEVELS = {"success": "info", "succeeded": "info", "failed": "error"}
_STANDARD_KEYS = frozenset(
    {"deploymentId", "operationId", "environment", "stackName", "level", "message"}
)


def parse_time(text: str) -> float:
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError("since must be a range like 1h, 24h, 7d or an ISO 8601 time") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(moment.timestamp(), 0.0)


def _stack(data: dict[str, Any]) -> str:
    return str(data.get("stackName", "?"))


def _took(data: dict[str, Any]) -> str:
    return f" in {data['duration']}s" if data.get("duration") is not None else ""


def _operation_started(data: dict[str, Any]) -> str:
    text = f"{data.get('operationType', 'operation')} started"
    if data.get("startedBy"):
        text += f" by {data['startedBy']}"
    if data.get("stacksToProcess") is not None:
        text += f": {data['stacksToProcess']} stacks"
    return text


def _stack_progress(data: dict[str, Any]) -> str:
    text = f"stack {_stack(data)}: {data.get('progress', '?')}%"
    resource = data.get("currentResource")
    if isinstance(resource, dict):
        parts = (resource.get(key, "") for key in ("action", "type", "name"))
        text += " - " + " ".join(str(part) for part in parts)
    return text.rstrip()


def _stack_failed(data: dict[str, Any]) -> str:
    error = data.get("error")
    reason = error.get("message", "") if isinstance(error, dict) else str(error or "")
    return f"stack {_stack(data)} failed" + (f": {reason}" if reason else "")


def _operation_completed(data: dict[str, Any]) -> str:
    text = f"{data.get('operationType', 'operation')} {data.get('status', 'completed')}"
    text += _took(data)
    if data.get("stacksSucceeded") is not None or data.get("stacksFailed") is not None:
        text += (
            f": {data.get('stacksSucceeded', 0)} stacks succeeded, "
            f"{data.get('stacksFailed', 0)} failed"
        )
    return text


MESSAGES: dict[str, Callable[[dict[str, Any]], str]] = {
    events.OPERATION_STARTED: _operation_started,
    events.STACK_STARTED: lambda d: (
        f"stack {_stack(d)} started"
        + (f" (layer {d['layer']})" if d.get("layer") is not None else "")
    ),
    events.STACK_PROGRESS: _stack_progress,
    events.STACK_COMPLETED: lambda d: (
        f"stack {_stack(d)} {d.get('status', 'completed')}" + _took(d)
    ),
    events.STACK_SKIPPED: lambda d: (
        f"stack {_stack(d)} {d.get('status', 'skipped')}"
        + (f": {d['reason']}" if d.get("reason") else "")
    ),
    events.STACK_FAILED: _stack_failed,
    events.OPERATION_COMPLETED: _operation_completed,
    events.LOG: lambda d: str(d.get("message", "")),
    events.DRIFT_DETECTED: lambda d: (
        f"drift detected in stack {_stack(d)}: {len(d.get('resources') or [])} resource(s) "
        f"{'gone' if d.get('status') == 'gone' else 'not as recorded'}"
        + (" (simulated)" if d.get("simulated") else "")
    ),
}


def level_of(record: EventRecord) -> str:
    data = record.payload
    if record.type == events.LOG:
        level = str(data.get("level", "info")).lower()
        level = _LEVEL_ALIASES.get(level, level)
        return level if level in LEVELS else "info"
    if record.type == events.STACK_FAILED:
        return "error"
    if record.type == events.DRIFT_DETECTED:
        return "warn"
    if record.type == events.STACK_PROGRESS:
        return "debug"
    if record.type == events.OPERATION_COMPLETED:
        status = str(data.get("status", "success"))
        return _COMPLETION_LEVELS.get(status, "warn")
    return "info"


# Types whose level is fixed whatever their payload (level_of); the rest depend on it
_FIXED_LEVELS = {
    events.STACK_PROGRESS: "debug",
    events.OPERATION_STARTED: "info",
    events.STACK_STARTED: "info",
    events.STACK_COMPLETED: "info",
    events.STACK_SKIPPED: "info",
    events.STACK_FAILED: "error",
    events.DRIFT_DETECTED: "warn",
}


def types_below(min_level: int) -> tuple[str, ...]:
    """Event types that can never reach `min_level`: the store can leave them out."""
    return tuple(sorted(kind for kind, level in _FIXED_LEVELS.items() if LEVELS[level] < min_level))


def message_of(record: EventRecord) -> str:
    render = MESSAGES.get(record.type)
    return render(event_data(record)) if render else record.type


def log_entry(record: EventRecord, *, operation: str | None) -> dict[str, Any]:
    data = event_data(record)
    render = MESSAGES.get(record.type)
    return {
        "id": record.id,
        "timestamp": record.at,
        "level": level_of(record),
        "type": record.type,
        "message": render(data) if render else record.type,
        "stack": data.get("stackName"),
        "operation": data.get("operationType") or operation,
        "operationId": record.operation_id,
        "environment": record.environment,
        "metadata": {k: v for k, v in data.items() if k not in _STANDARD_KEYS},
    }


@dataclass(frozen=True)
class LogFilter:
    environment: str | None = None
    stack: str | None = None
    operation_id: str | None = None
    min_level: int = 0
    since: str | None = None  # ISO, compared as text with the events' `at`
    search: str | None = None  # lowercased

    @classmethod
    def build(
        cls,
        *,
        now: float,
        environment: str | None = None,
        stack: str | None = None,
        operation_id: str | None = None,
        level: str | None = None,
        since: str | None = None,
        search: str | None = None,
    ) -> LogFilter:
        """From the query's values; `since` is a range back from `now` or an ISO time."""
        after = None
        if since is not None:
            span = DURATION.fullmatch(since)
            moment = now - int(span[1]) * _SECONDS[span[2]] if span else parse_time(since)
            after = iso_at(max(moment, 0.0))
        level = _LEVEL_ALIASES.get(level or "debug", level or "debug")
        return cls(
            environment=environment,
            stack=stack,
            operation_id=operation_id,
            min_level=LEVELS[level],
            since=after,
            search=search.lower() if search else None,
        )

    def admits(self, record: EventRecord) -> bool:
        """The checks that need no rendering, cheapest first."""
        return (
            (self.environment is None or record.environment == self.environment)
            and (self.operation_id is None or record.operation_id == self.operation_id)
            and (self.since is None or record.at >= self.since)
            and (self.stack is None or record.payload.get("stackName") == self.stack)
        )

    def matches(self, record: EventRecord) -> bool:
        """Whether the record passes every filter, rendering no more than the message."""
        if not self.admits(record):
            return False
        if self.min_level and LEVELS[level_of(record)] < self.min_level:
            return False
        return self.search is None or self.search in message_of(record).lower()

    def entry(
        self, record: EventRecord, operations: Callable[[str], str | None]
    ) -> dict[str, Any] | None:
        """The record's log entry if it passes every filter."""
        if not self.matches(record):
            return None
        return log_entry(record, operation=operations(record.operation_id))


# --- reading the store: what GET …/logs and `cloud logs` show -------------------------

PAGE = 1000  # events read from the store per query


class OperationTypes:
    """`deploy` / `destroy` of each operation, read once per request or stream."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.known: dict[str, str | None] = {}

    def __call__(self, operation_id: str) -> str | None:
        if operation_id not in self.known:
            operation = self.store.get_operation(operation_id)
            self.known[operation_id] = operation.type if operation is not None else None
        return self.known[operation_id]


def _pushed_down(log_filter: LogFilter) -> dict[str, Any]:
    """The filters the store applies itself; search, and the level of lines whose level
    depends on their payload, need the rendered line."""
    return {
        "operation_id": log_filter.operation_id,
        "environment": log_filter.environment,
        "stack": log_filter.stack,
        "since": log_filter.since,
        "exclude_types": types_below(log_filter.min_level),
    }


def event_pages(
    store: Store, deployment_id: str, log_filter: LogFilter, *, after_id: int
) -> Iterator[list[EventRecord]]:
    cursor = after_id
    while True:
        page = store.list_events(
            deployment_id=deployment_id,
            after_id=cursor,
            limit=PAGE,
            **_pushed_down(log_filter),
        )
        if page:
            yield page
            cursor = page[-1].id or cursor
        if len(page) < PAGE:
            return


def read_logs(
    store: Store, deployment_id: str, log_filter: LogFilter, *, limit: int
) -> tuple[list[dict[str, Any]], int, int]:
    """The newest `limit` matching entries (oldest first), how many matched, and the id of
    the newest entry returned (0 if none)."""
    operations = OperationTypes(store)
    if log_filter.min_level == 0 and log_filter.search is None:
        # every event the store's filters let through is an entry: count them there, and
        # read only the newest `limit`
        total = store.count_events(deployment_id=deployment_id, **_pushed_down(log_filter))
        records = store.list_events(
            deployment_id=deployment_id,
            limit=limit,
            newest_first=True,
            **_pushed_down(log_filter),
        )
        entries = [log_filter.entry(record, operations) for record in reversed(records)]
        kept = [entry for entry in entries if entry is not None]
        return kept, total, max((record.id or 0 for record in records), default=0)
    # every event the store let through is checked, but only the newest `limit` rendered
    window: deque[EventRecord] = deque(maxlen=limit)
    total = 0
    for page in event_pages(store, deployment_id, log_filter, after_id=0):
        for record in page:
            if log_filter.matches(record):
                total += 1
                window.append(record)
    entries = [log_entry(record, operation=operations(record.operation_id)) for record in window]
    return entries, total, max((record.id or 0 for record in window), default=0)
