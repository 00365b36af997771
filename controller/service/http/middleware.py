"""The request's frame: id, timing, security headers, error envelope, access and audit logs.

`RequestContextMiddleware` is the outermost of ours. It gives each request an id (the
caller's `X-Request-ID` when it is a safe token, else a new one), adds the seeds'
security headers and the rate limiter's headers to every response, turns any exception
that escaped the routes into the error envelope (a 500 is logged with its request id and
traceback, the client sees neither), writes one JSON access-log line, and records every
mutating call in the audit log, and every answer that showed secret values in clear.
It also applies the `BodyLimit`: bodies over the limit are refused with a 413 before they
are read into memory. Unless a layer sits between it and the routes (CORS), it then
resolves the caller and runs the rate limits itself (`Authentication`), and calls the
endpoint the router resolves (`TableRouter.resolve`) for its answer, which it sends with
its headers: no router, path app and send wrapper as ASGI layers per request. Answers
it does not build (Starlette's 404 and 405, streams, the docs) go through the router as
ASGI, with a `send` that adds the same headers.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
import logging.handlers
import queue
import re
import secrets
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from controller.service.auth.authentication import PRINCIPAL, Authentication, Principal
from controller.service.http.envelope import (
    REQUEST_ID,
    STARTED,
    EnvelopeResponse,
    failure,
    iso_at,
    timestamp,
)
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

# what every response carries unless it says otherwise
_DEFAULT_HEADERS = (*SECURITY_HEADERS, (b"cache-control", b"no-store"))
_DEFAULT_NAMES = frozenset(name for name, _ in _DEFAULT_HEADERS)

access_logger = logging.getLogger("cloud.access")
error_logger = logging.getLogger("cloud.errors")
audit_logger = logging.getLogger("cloud.audit")


class RequestCounts:
    """API requests and errors (4xx, 5xx) per minute, for seeds/002's system metrics.

    Kept in this process (as long as it runs, at most 30 days): each replica counts its
    own. Increments from the event loop only."""

    KEEP = 30 * 24 * 60

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self.started = clock()
        self.minutes: dict[int, list[int]] = {}
        self._minute, self._counts = -1, [0, 0]  # the minute last counted, and its counts

    def record(self, status: int) -> None:
        minute = int(self.clock() // 60)
        # the usual case: the same minute as the last request
        counts = self._counts if minute == self._minute else self._current(minute)
        counts[0] += 1
        counts[1] += status >= 400

    def _current(self, minute: int) -> list[int]:
        counts = self.minutes.get(minute)
        if counts is None:
            counts = self.minutes[minute] = [0, 0]
            if len(self.minutes) > self.KEEP:
                for old in sorted(self.minutes)[: len(self.minutes) - self.KEEP]:
                    del self.minutes[old]
        self._minute, self._counts = minute, counts
        return counts

    def since(self, epoch: float) -> tuple[int, int]:
        """(requests, errors) from `epoch` (to the minute) until now."""
        first = int(epoch // 60)
        kept = [counts for minute, counts in list(self.minutes.items()) if minute >= first]
        return sum(c[0] for c in kept), sum(c[1] for c in kept)


class Responder(Protocol):
    """An endpoint the frame calls directly: it returns its answer instead of sending it."""

    async def respond(self, scope: Scope, receive: Receive) -> Response: ...


def with_frame_headers(
    given: Any, request_id: str, scope: Scope, *, plain: bool = False
) -> list[tuple[bytes, bytes]]:
    """A response's headers with the frame's: the request id, the security headers (unless
    the response sets its own of a name; `plain`: it is known to set none) and the rate
    limiter's."""
    if not plain and any(name in _DEFAULT_NAMES for name, _ in given):  # the response's own
        names = {name for name, _ in given}
        defaults: Any = [item for item in _DEFAULT_HEADERS if item[0] not in names]
    else:  # the usual case: all of them
        defaults = _DEFAULT_HEADERS
    return [
        *given,
        (b"x-request-id", request_id.encode()),
        *defaults,
        *scope.get(RATE_LIMIT_HEADERS, ()),
    ]


class _Sender:
    """`send` for answers the frame does not build itself: adds the frame's headers to the
    start of the response and notes its status."""

    __slots__ = ("request_id", "scope", "send", "started", "status")

    def __init__(self, send: Send, request_id: str, scope: Scope) -> None:
        self.send = send
        self.request_id = request_id
        self.scope = scope
        self.status = 500
        self.started = False

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
            self.started = True
            message["headers"] = with_frame_headers(
                message.get("headers") or (), self.request_id, self.scope
            )
        await self.send(message)


class RequestContextMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        store: Store,
        access_log: bool = True,
        log: AccessLog | None = None,
        counts: RequestCounts | None = None,
        body_limit: BodyLimit | None = None,
        authentication: Authentication | None = None,
    ) -> None:
        self.app = app
        self.authentication = authentication  # run here when no layer sits between us
        self.store = store
        self.access_log = access_log
        self.log = log or AccessLog(access_logger)
        self.counts = counts
        self.body_limit = body_limit
        # the routes' endpoints, when nothing sits between this frame and the router
        # (`ServiceApp` links them): one call to the endpoint instead of three ASGI layers
        self.resolve: Callable[[Scope], Responder | None] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if len(path) > 1 and path.endswith("/"):
            # `/deployments/` (seeds/004's spelling) is `/deployments`: served, not a bare 307
            scope["path"] = path.rstrip("/") or "/"
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = _request_id(scope)
        scope[REQUEST_ID] = request_id
        scope[STARTED] = started
        status = 500
        sender: _Sender | None = None  # for answers not built here (streams, Starlette's)
        answered = False
        try:
            if self.body_limit is not None:
                receive = self.body_limit.receive_for(scope, receive)
            if (authentication := self.authentication) is not None:
                # `authentication.authenticate(scope)`, inline: the usual API key needs
                # no coroutine of its own
                bearer = authentication.identify(scope)
                if bearer is not None:
                    await authentication.verify_bearer(scope, bearer)
                authentication.check(scope)
            endpoint = self.resolve(scope) if self.resolve is not None else None
            if endpoint is None:
                sender = _Sender(send, request_id, scope)
                await self.app(scope, receive, sender)
                status = sender.status
            else:
                response = await endpoint.respond(scope, receive)
                status = response.status_code
                if type(response) is EnvelopeResponse:  # what its `__call__` sends, inline
                    headers = with_frame_headers(
                        response.raw_headers, request_id, scope, plain=response.plain
                    )
                    start = {"type": "http.response.start", "status": status, "headers": headers}
                    answered = True  # from here on, nothing else can be sent
                    await send(start)
                    await send({"type": "http.response.body", "body": response.body})
                else:
                    sender = _Sender(send, request_id, scope)
                    await response(scope, receive, sender)
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
            if sender is not None and sender.started:
                status = sender.status
                return  # the client got a partial response; nothing more can be sent
            if answered:
                return
            sender = _Sender(send, request_id, scope)
            await failure(scope, error)(scope, receive, sender)
            status = sender.status
        finally:
            if self.counts is not None:
                self.counts.record(status)
            duration = (time.perf_counter() - started) * 1000
            if self.access_log and access_logger.isEnabledFor(logging.INFO):
                principal: Principal | None = scope.get(PRINCIPAL)
                self.log.record(
                    time.time(),
                    request_id,
                    principal.user_id if principal else None,
                    scope["method"],
                    scope["path"],
                    status,
                    duration,
                    _client(scope),
                )
            if scope["method"] in MUTATING or (scope.get(AUDIT_DETAILS) or {}).get(
                "secretsShown"
            ):  # changes, and reads of secret values in clear
                self._audit(scope, request_id, status)

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


class AccessLog:
    """The access log: one JSON line per request, written off the event loop, in batches.

    A request formats its line (by hand: every field is either ours, ids, numbers and
    the timestamp, or JSON-quoted) and hands it to a queue; a thread writes what queued
    twice a second, with one write per handler (a slow stderr write stalled every
    request in flight; a `LogRecord` per request cost more than the rest of the access
    log). Seldom, because each wake-up of a second thread hands the GIL over and back,
    and on a busy machine each hand-over may wait for the scheduler. A logger without
    handlers of its own
    (records going to the root, as under pytest's caplog) gets a plain `logger.info`
    per request instead.
    """

    INTERVAL = 0.5

    def __init__(self, logger: logging.Logger) -> None:
        self.logger = logger
        self.handlers: list[logging.Handler] = []
        self.records: queue.SimpleQueue[str] = queue.SimpleQueue()
        self.stopping = threading.Event()
        self.thread: threading.Thread | None = None

    def record(self, *fields: Any) -> None:
        """(epoch, request id, user id, method, path, status, duration ms, client)."""
        if self.thread is not None:
            self.records.put(access_line(fields))
        else:
            self.logger.info(access_line(fields))

    def start(self) -> None:
        if not self.logger.handlers or self.thread is not None:
            return
        self.handlers = list(self.logger.handlers)
        self.stopping.clear()
        self.thread = threading.Thread(target=self._run, name="access-log", daemon=True)
        self.thread.start()

    def stop(self) -> None:
        if self.thread is not None:
            self.stopping.set()
            self.thread.join(timeout=5)
            self.thread = None
            self._write()

    def _run(self) -> None:
        while not self.stopping.wait(self.INTERVAL):
            self._write()
        self._write()

    def _write(self) -> None:
        lines: list[str] = []
        while True:
            try:
                lines.append(self.records.get_nowait())
            except queue.Empty:
                break
        if not lines:
            return
        for handler in self.handlers:
            if handler.level > logging.INFO:
                continue
            formatter = handler.formatter
            if isinstance(handler, logging.StreamHandler) and (
                formatter is None or formatter._fmt in (None, "%(message)s")
            ):
                # one write for the batch: each write is a syscall, and each syscall makes
                # this thread queue for the GIL behind the event loop
                text = "".join(line + handler.terminator for line in lines)
                with handler.lock or contextlib.nullcontext():
                    handler.stream.write(text)
                    handler.flush()
            else:
                for line in lines:
                    handler.handle(
                        self.logger.makeRecord(
                            self.logger.name, logging.INFO, "(access)", 0, line, None, None
                        )
                    )


_quote = json.encoder.encode_basestring_ascii  # type: ignore[attr-defined]


def access_line(fields: tuple[Any, ...]) -> str:
    """The JSON line of one request. A purely computational function."""
    at, request_id, user_id, method, path, status, duration, client = fields
    level = "info" if status < 500 else "error"
    user = "null" if user_id is None else _quote(user_id)
    # request ids are of [A-Za-z0-9._-] (`_request_id`): no escaping
    return (
        f'{{"timestamp":"{iso_at(at)}","level":"{level}","requestId":"{request_id}",'
        f'"userId":{user},"method":{_quoted_method(method)},"path":{_quote(path)},'
        f'"statusCode":{int(status)},"duration":{duration:.2f},"client":{_quote(client)}}}'
    )


_METHODS: dict[str, str] = {}


def _quoted_method(method: str) -> str:
    quoted = _METHODS.get(method)
    if quoted is None:
        quoted = _quote(method)
        if len(_METHODS) < 64:  # the methods in use, not whatever a client makes up
            _METHODS[method] = quoted
    return quoted


def _request_id(scope: Scope) -> str:
    for name, value in scope["headers"]:
        if name == b"x-request-id":
            candidate = value.decode("latin-1")
            if _SAFE_ID.fullmatch(candidate):
                return candidate
            break
    return f"req-{_ID_PREFIX}{next(_ID_COUNTER) & 0xFFFFFFFF:08x}"


# Request ids must be unique, not secret: a random prefix per process (replicas and
# workers differ) and a counter, instead of a system call for random bytes per request.
_ID_PREFIX = secrets.token_hex(4)
_ID_COUNTER = itertools.count(secrets.randbelow(2**32))


def _client(scope: Scope) -> str:
    client = scope.get("client")
    return client[0] if client else "unknown"


class BodyLimit:
    """The request body's size limit, `max_bytes` (some paths have their own): a declared
    length over it is refused before anything is read, and a body that turns out larger
    is cut off as it arrives, with a 413 either way. Part of the request's frame
    (`RequestContextMiddleware` applies it), not a middleware layer of its own."""

    def __init__(self, *, max_bytes: int, by_prefix: dict[str, int] | None = None) -> None:
        self.max_bytes = max_bytes
        self.by_prefix = by_prefix or {}  # paths with a limit of their own (webhooks)
        self._prefixes = tuple(self.by_prefix.items())

    def receive_for(self, scope: Scope, receive: Receive) -> Receive:
        """`receive`, limited for this request (raises ApiError on a declared excess)."""
        limit = self.max_bytes
        for prefix, size in self._prefixes:
            if scope["path"].startswith(prefix):
                limit = size
                break
        has_body = False
        for name, value in scope["headers"]:
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    raise ApiError(400, "VALIDATION_INVALID_FORMAT", "bad Content-Length") from None
                if declared > limit:
                    raise _too_large(limit)
                has_body = has_body or declared > 0
            elif name == b"transfer-encoding":
                has_body = True
        if not has_body:  # HTTP/1.1: a request with neither header has no body
            return receive
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _too_large(limit)
            return message

        return limited_receive


def _too_large(limit: int) -> ApiError:
    return ApiError(
        413,
        PAYLOAD_TOO_LARGE,
        f"request body is larger than {limit} bytes",
        details={"maxBytes": limit},
    )
