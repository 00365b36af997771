"""`GET /deployments/:id/logs`: a deployment's operation events as log lines, as JSON or SSE.

The log of a deployment is the events its operations recorded in the store (`log` lines,
and the lifecycle events rendered as lines: a stack failing is an error, progress is
debug), filtered as in seeds/001 "Monitoring Endpoints" (environment, stack, minimum
level, limit, since, search; plus operationId). As JSON it is the newest `limit` matching
entries, oldest first, in the envelope. With `Accept: text/event-stream` it is a
Server-Sent Events stream (seeds/003): the same backlog, then each new event as the hub
sees it stored, `id:` being the event id so a reconnecting client's `Last-Event-ID`
resumes exactly after what it had. A comment line every `CLOUD_SSE_HEARTBEAT_SECONDS`
keeps proxies from closing an idle stream; the stream ends when the client goes, or when
it cannot keep up (it then reconnects and resumes from its last id).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any, Literal

from pydantic import Field, field_validator
from starlette.concurrency import run_in_threadpool
from starlette.responses import StreamingResponse

from controller.core.models import EnvironmentName, StackName
from controller.operations.log_lines import (
    DURATION,
    LogFilter,
    OperationTypes,
    event_pages,
    parse_time,
    read_logs,
)
from controller.service.endpoints.deployments import find_deployment
from controller.service.endpoints.payloads import Payload
from controller.service.endpoints.replies import Reply as ReplyModel
from controller.service.http.access import DEPLOYMENT
from controller.service.http.envelope import success
from controller.service.http.errors import VALIDATION_INVALID_FORMAT, ApiError
from controller.service.http.openapi import REF
from controller.service.http.routing import Call, Endpoint, Reply
from controller.service.realtime.access import OPERATION_ID_PATTERN
from controller.service.realtime.hub import Delivery
from controller.store.base import EventRecord

# --- what clients send and get -------------------------------------------------------------


class LogQuery(Payload):
    environment: EnvironmentName | None = None
    stack: StackName | None = None
    level: Literal["debug", "info", "warn", "warning", "error"] | None = Field(
        None, description="minimum level: info also returns warn and error"
    )
    limit: int = Field(100, ge=1, le=1000)
    since: str | None = Field(
        None,
        max_length=40,
        pattern=r"^(\d{1,7}[smhdw]|\d{4}-\d{2}-\d{2}([T ][0-9:.]+)?(Z|[+-]\d{2}:?\d{2})?)$",
        description="a time range back from now (30m, 1h, 24h, 7d) or an ISO 8601 time",
    )
    search: str | None = Field(None, min_length=1, max_length=200)
    operation_id: str | None = Field(None, pattern=OPERATION_ID_PATTERN)

    @field_validator("since")
    @classmethod
    def _since(cls, value: str | None) -> str | None:
        if value is not None and not DURATION.fullmatch(value):
            parse_time(value)
        return value


class LogEntry(ReplyModel):
    id: int
    timestamp: str
    level: Literal["debug", "info", "warn", "error"]
    type: str
    message: str
    stack: str | None = None
    operation: str | None = None
    operation_id: str
    environment: str
    metadata: dict[str, Any] = Field(default_factory=dict)


class DeploymentLogs(ReplyModel):
    deployment_id: str
    environment: str | None
    logs: list[LogEntry]
    total: int
    returned: int


# --- the endpoint --------------------------------------------------------------------------


async def deployment_logs(call: Call) -> Reply:
    deployment_id = call.params["deployment_id"]
    find_deployment(call, await call.services.repo.fresh(), deployment_id)
    query: LogQuery = call.query
    log_filter = LogFilter.build(
        now=call.services.clock(),
        environment=query.environment,
        stack=query.stack,
        operation_id=query.operation_id,
        level=query.level,
        since=query.since,
        search=query.search,
    )
    if "text/event-stream" in call.request.headers.get("accept", ""):
        resume = last_event_id(call.request.headers.get("last-event-id"))
        stream = stream_logs(
            call.services, deployment_id, log_filter, limit=query.limit, resume_after=resume
        )
        return Reply(
            StreamingResponse(
                stream,
                media_type="text/event-stream",
                headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
            )
        )
    entries, total, _ = await run_in_threadpool(
        read_logs, call.services.store, deployment_id, log_filter, limit=query.limit
    )
    data = DeploymentLogs(
        deployment_id=deployment_id,
        environment=query.environment,
        logs=[LogEntry.model_validate(entry) for entry in entries],
        total=total,
        returned=len(entries),
    )
    return Reply(success(call.request.scope, data.dump()))


def last_event_id(header: str | None) -> int | None:
    if header is None or not header.strip():
        return None
    if not header.strip().isdigit() or len(header.strip()) > 18:
        raise ApiError(
            400,
            VALIDATION_INVALID_FORMAT,
            "Last-Event-ID must be the id of an event (a whole number)",
            details={"field": "Last-Event-ID"},
        )
    return int(header)


class LogSink:
    """A stream's subscription: events queued for it, or a mark that it fell behind."""

    def __init__(self, size: int) -> None:
        self.queue: asyncio.Queue[EventRecord] = asyncio.Queue(size)
        self.overflowed = False

    def offer(self, delivery: Delivery) -> None:
        if self.overflowed:
            return
        try:
            self.queue.put_nowait(delivery.record)
        except asyncio.QueueFull:
            self.overflowed = True


def frame(entry: dict[str, Any]) -> str:
    data = json.dumps(entry, separators=(",", ":"), default=str)
    return f"id: {entry['id']}\ndata: {data}\n\n"


async def stream_logs(
    services: Any,
    deployment_id: str,
    log_filter: LogFilter,
    *,
    limit: int,
    resume_after: int | None,
) -> AsyncIterator[str]:
    """Subscribe first, then send the backlog, then what arrives: nothing falls between
    the two, and what both saw is sent once (by event id)."""
    store, hub = services.store, services.hub
    channel = f"deployments/{deployment_id}"
    sink = LogSink(services.settings.realtime_queue_size)
    await hub.ready()
    hub.subscribe(channel, sink)
    operations = OperationTypes(store)
    try:
        if resume_after is None:
            entries, _, last = await run_in_threadpool(
                read_logs, store, deployment_id, log_filter, limit=limit
            )
            for entry in entries:
                yield frame(entry)
        else:  # a reconnection: everything after what the client had, page by page
            last = resume_after
            pages = event_pages(store, deployment_id, log_filter, after_id=resume_after)
            while page := await run_in_threadpool(next, pages, None):
                for record in page:
                    entry = log_filter.entry(record, operations)
                    if entry is not None:
                        yield frame(entry)
                last = page[-1].id or last
        heartbeat = services.settings.sse_heartbeat_seconds
        while not (sink.overflowed and sink.queue.empty()):
            try:
                record = await asyncio.wait_for(sink.queue.get(), heartbeat)
            except TimeoutError:
                yield ": heartbeat\n\n"
                continue
            if (record.id or 0) <= last:
                continue
            last = record.id or last
            entry = log_filter.entry(record, operations)
            if entry is not None:
                yield frame(entry)
    finally:
        hub.unsubscribe(channel, sink)


def log_responses() -> dict[str, Any]:
    envelope = {
        "type": "object",
        "additionalProperties": False,
        "required": ["success", "data", "meta"],
        "properties": {
            "success": {"const": True},
            "data": {"$ref": REF.format(model="DeploymentLogs")},
            "meta": {"$ref": REF.format(model="Meta")},
        },
    }
    failure = {"application/json": {"schema": {"$ref": REF.format(model="Failure")}}}
    responses: dict[str, Any] = {
        "200": {
            "description": "The logs (JSON), or a stream of them with Accept: text/event-stream",
            "content": {
                "application/json": {"schema": envelope},
                "text/event-stream": {"schema": {"type": "string"}},
            },
        }
    }
    for code, text in (
        (400, "Bad request (a malformed filter or Last-Event-ID)"),
        (401, "Not authenticated (missing, invalid, expired or revoked credentials)"),
        (403, "Forbidden (permission)"),
        (404, "Not found (or another organization's deployment)"),
        (422, "The deployment's manifest does not load"),
        (429, "Rate limit exceeded"),
        (503, "A dependency is unavailable"),
    ):
        responses[str(code)] = {"description": text, "content": failure}
    return responses


ENDPOINTS = [
    Endpoint("GET", f"{DEPLOYMENT}/logs", deployment_logs,
             "A deployment's logs (cloud logs); Server-Sent Events with Accept: text/event-stream",
             "Monitoring", reply=DeploymentLogs, query=LogQuery, raw=True, errors=(404, 422),
             description="Filters: environment, stack, level (minimum), limit, since, search, "
             "operationId. As a stream: the backlog, then live events; `id:` is the event id "
             "and `Last-Event-ID` resumes after it.",
             extra={"responses": log_responses()}),
]  # fmt: skip
