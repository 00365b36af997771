"""The request's frame: id, timing, security headers, error envelope, access and audit logs.

`RequestContextMiddleware` is the outermost of ours. It gives each request an id (the
caller's `X-Request-ID` when it is a safe token, else a new one), adds the seeds'
security headers and the rate limiter's headers to every response, turns any exception
that escaped the routes into the error envelope (a 500 is logged with its request id and
traceback, the client sees neither), writes one JSON access-log line, and records every
mutating call in the audit log, and every answer that showed secret values in clear.
`BodyLimitMiddleware` refuses bodies over the limit with a 413 before they are read into
memory.
"""

from __future__ import annotations

import contextlib
import json
import logging
import logging.handlers
import queue
import re
import secrets
import threading
import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from controller.service.auth.authentication import PRINCIPAL, Principal
from controller.service.http.envelope import REQUEST_ID, STARTED, failure, timestamp
from controller.service.http.errors import PAYLOAD_TOO_LARGE, ApiError, internal_error, translate
from controller.service.http.rate_limits import HEADERS as RATE_LIMIT_HEADERS
from controller.store.base import AuditEntry, Store

AUDIT_DETAILS = "cloud.audit"
MUTATING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_SAFE_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")

SECURITY_HEADERS = [
    (b"strict-transport-security", b"max-age=31536000; includeSubDomains"),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"x-xss-protection", b"1; mode=block"),
    (b"content-security-policy", b"default-src 'self'"),
    (b"referrer-policy", b"no-referrer"),
]

access_logger = logging.getLogger("cloud.access")
error_logger = logging.getLogger("cloud.errors")
audit_logger = logging.getLogger("cloud.audit")


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp, *, store: Store, access_log: bool = True) -> None:
        self.app = app
        self.store = store
        self.access_log = access_log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = _request_id(scope)
        scope[REQUEST_ID] = request_id
        scope[STARTED] = started
        status = 500
        response_started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                status = message["status"]
                response_started = True
                headers = list(message.get("headers", []))
                names = {name for name, _ in headers}
                headers.append((b"x-request-id", request_id.encode()))
                headers += [item for item in SECURITY_HEADERS if item[0] not in names]
                if b"cache-control" not in names:
                    headers.append((b"cache-control", b"no-store"))
                headers += scope.get(RATE_LIMIT_HEADERS, ())
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except Exception as exc:
            error = translate(exc)
            if error is None or error.status >= 500:
                error_logger.error(
                    "request %s failed: %s %s",
                    request_id,
                    scope["method"],
                    scope["path"],
                    exc_info=exc,
                )
                error = error or internal_error()
            if response_started:
                return  # the client got a partial response; nothing more can be sent
            await failure(scope, error)(scope, receive, send_with_headers)
        finally:
            duration = (time.perf_counter() - started) * 1000
            if self.access_log and access_logger.isEnabledFor(logging.INFO):
                self._log(scope, request_id, status, duration)
            if scope["method"] in MUTATING or (scope.get(AUDIT_DETAILS) or {}).get(
                "secretsShown"
            ):  # changes, and reads of secret values in clear
                self._audit(scope, request_id, status)

    def _log(self, scope: Scope, request_id: str, status: int, duration: float) -> None:
        principal: Principal | None = scope.get(PRINCIPAL)
        record = {
            "timestamp": timestamp(),
            "level": "info" if status < 500 else "error",
            "requestId": request_id,
            "userId": principal.user_id if principal else None,
            "method": scope["method"],
            "path": scope["path"],
            "statusCode": status,
            "duration": round(duration, 2),
            "client": _client(scope),
        }
        access_logger.info(json.dumps(record, separators=(",", ":")))

    def _audit(self, scope: Scope, request_id: str, status: int) -> None:
        principal: Principal | None = scope.get(PRINCIPAL)
        details: dict[str, Any] = dict(scope.get(AUDIT_DETAILS) or {})
        actor = principal.username if principal else str(details.pop("actor", "anonymous"))
        entry = AuditEntry(
            at=timestamp(),
            request_id=request_id,
            actor=actor,
            actor_type=principal.actor_type if principal else "anonymous",
            action=f"{scope['method']} {scope['path']}",
            status=status,
            client=_client(scope),
            details=details
            | ({"keyId": principal.key_id} if principal and principal.key_id else {}),
        )
        try:
            self.store.append_audit(entry)
        except Exception:  # the audit log must not turn a done change into an error
            audit_logger.exception("could not record audit entry for request %s", request_id)


class QueuedLog:
    """Hand a logger's records to a thread that writes them in batches, so the event loop
    never waits on a file or a pipe (a slow stderr write stalled every request in flight).

    The thread wakes every 50 ms rather than per record: with thousands of requests a
    second, a wake-up per line would fight the event loop for the GIL. Used for the
    access log while the app runs; a logger without handlers of its own (records going
    to the root, as under pytest's caplog) is left alone.
    """

    INTERVAL = 0.05

    def __init__(self, logger: logging.Logger) -> None:
        self.logger = logger
        self.handlers: list[logging.Handler] = []
        self.records: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
        self.stopping = threading.Event()
        self.thread: threading.Thread | None = None

    def start(self) -> None:
        self.handlers = list(self.logger.handlers)
        if not self.handlers or self.thread is not None:
            return
        self.logger.handlers = [logging.handlers.QueueHandler(self.records)]
        self.thread = threading.Thread(target=self._run, name="access-log", daemon=True)
        self.thread.start()

    def stop(self) -> None:
        if self.thread is not None:
            self.stopping.set()
            self.thread.join(timeout=5)
            self.logger.handlers = self.handlers
            self.thread = None
            self._write()

    def _run(self) -> None:
        while not self.stopping.wait(self.INTERVAL):
            self._write()
        self._write()

    def _write(self) -> None:
        batch: list[logging.LogRecord] = []
        while True:
            try:
                batch.append(self.records.get_nowait())
            except queue.Empty:
                break
        if not batch:
            return
        for handler in self.handlers:
            records = [record for record in batch if record.levelno >= handler.level]
            if isinstance(handler, logging.StreamHandler):
                # one write for the batch: each write is a syscall, and each syscall makes
                # this thread queue for the GIL behind the event loop
                text = "".join(handler.format(r) + handler.terminator for r in records)
                with handler.lock or contextlib.nullcontext():
                    handler.stream.write(text)
                    handler.flush()
            else:
                for record in records:
                    handler.handle(record)


def _request_id(scope: Scope) -> str:
    for name, value in scope["headers"]:
        if name == b"x-request-id":
            candidate = value.decode("latin-1")
            if _SAFE_ID.fullmatch(candidate):
                return candidate
            break
    return "req-" + secrets.token_hex(8)


def _client(scope: Scope) -> str:
    client = scope.get("client")
    return client[0] if client else "unknown"


class BodyLimitMiddleware:
    def __init__(
        self, app: ASGIApp, *, max_bytes: int, by_prefix: dict[str, int] | None = None
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.by_prefix = by_prefix or {}  # paths with a limit of their own (webhooks)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = next(
            (size for prefix, size in self.by_prefix.items() if scope["path"].startswith(prefix)),
            self.max_bytes,
        )
        if limit != self.max_bytes:
            await BodyLimitMiddleware(self.app, max_bytes=limit)(scope, receive, send)
            return
        for name, value in scope["headers"]:
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    raise ApiError(400, "VALIDATION_INVALID_FORMAT", "bad Content-Length") from None
                if declared > self.max_bytes:
                    raise self._too_large()
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise self._too_large()
            return message

        await self.app(scope, limited_receive, send)

    def _too_large(self) -> ApiError:
        return ApiError(
            413,
            PAYLOAD_TOO_LARGE,
            f"request body is larger than {self.max_bytes} bytes",
            details={"maxBytes": self.max_bytes},
        )
