"""`GET /ws`: the WebSocket protocol of seeds/001 ("WebSocket Real-Time Updates").

A client connects, then sends `{"type": "authenticate", "token" | "apiKey"}` as its first
message (or, as seeds/004 does, `{"access_token": …}`, answered `{"type": "authentication",
"status": "success"}`), within `CLOUD_REALTIME_AUTH_TIMEOUT_SECONDS`: credentials
never travel in the URL, which ends up in proxies' logs. It then subscribes to the seeds'
four channel patterns and receives each event as `{type, timestamp, channel, data}` (an operation's
channel starts with what the operation has recorded so far, so subscribing on the 202 of
a deploy misses nothing). Access is
checked per subscription (a read permission, and the deployment's organization), again
at every heartbeat (a revoked key, an ended session or a lost role takes effect within
one heartbeat) and when the credentials expire: at `exp` the connection is closed unless
the client has re-authenticated with fresh credentials first.

Each connection has one writer and a bounded queue: the hub never waits on a client, and
a client whose queue fills up is disconnected rather than slowing the others.

Close codes: 1008 (authentication missing, wrong, expired or revoked; connection quota;
credentials in the URL), 1009 (message too big), 1011 (server error), 1013 (too slow to
keep up: reconnect). Each close is preceded by an `error` message saying why.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from controller.core.json_input import JsonInputError, parse_json
from controller.operations.records import event_data
from controller.service.auth.authentication import Principal
from controller.service.http.envelope import iso_at
from controller.service.http.errors import (
    AUTH_INVALID_TOKEN,
    AUTH_TOKEN_EXPIRED,
    AUTHZ_FORBIDDEN,
    INTERNAL_ERROR,
    RATE_LIMIT_EXCEEDED,
    SERVICE_UNAVAILABLE,
    VALIDATION_INVALID_FORMAT,
    ApiError,
)
from controller.service.realtime.access import (
    CHANNEL_PATTERNS,
    URL_CREDENTIALS,
    ConnectionQuota,
    Credentials,
    FailureCounter,
    channel_deployment,
    channel_operation,
    credentials_of,
    error_message,
    expiry,
    refusal,
    resolve,
)
from controller.service.realtime.hub import Delivery, recent_events

logger = logging.getLogger("cloud.realtime")

CLOSE_POLICY_VIOLATION = 1008
CLOSE_TOO_BIG = 1009
CLOSE_INTERNAL_ERROR = 1011
CLOSE_TRY_AGAIN_LATER = 1013
SLOW_CONSUMER = "SLOW_CONSUMER"
MESSAGE_TOO_LARGE = "MESSAGE_TOO_LARGE"
MAX_MESSAGE_CHARS = 65_536
CLOSE_TIMEOUT = 10.0  # seconds for a client that is not reading to take its close frame


class ProtocolError(Exception):
    def __init__(self, code: str, message: str, *, close: int | None = None) -> None:
        super().__init__(message)
        self.reply = error_message(code, message)
        self.close = close


class RealtimeEndpoint:
    """What the sessions of one app share: the services, the quota, the failure counts."""

    def __init__(self, services: Any) -> None:
        settings = services.settings
        self.services = services
        self.quota: ConnectionQuota = services.connections
        self.failures = FailureCounter(
            settings.rate_limit_auth_per_minute if settings.rate_limit_enabled else None,
            clock=services.clock,
        )

    async def serve(self, websocket: WebSocket) -> None:
        await Session(self, websocket).run()


def websocket_routes(services: Any) -> list[WebSocketRoute]:
    """`/ws` (seeds/001) and `/api/v1/deployments/ws/{client_id}` (seeds/004: the client id
    is the client's own label), one endpoint: one quota, one failure count."""
    endpoint = RealtimeEndpoint(services)
    return [
        WebSocketRoute("/ws", endpoint.serve, name="websocket"),
        WebSocketRoute("/api/v1/deployments/ws/{client_id}", endpoint.serve, name="websocket-004"),
    ]


class Session:
    """One connection: sign-in, then a reader, a writer and a timer until it ends."""

    def __init__(self, endpoint: RealtimeEndpoint, websocket: WebSocket) -> None:
        self.endpoint = endpoint
        self.services = endpoint.services
        self.settings = self.services.settings
        self.hub = self.services.hub
        self.ws = websocket
        self.principal: Principal | None = None
        self.credentials: Credentials | None = None
        self.deadline: float | None = None  # epoch seconds when the credentials expire
        self.channels: set[str] = set()
        self.catching_up: dict[str, list[Delivery]] = {}  # live events held during a replay
        self.replayed: dict[str, int] = {}  # the last event id a replay sent, per channel
        self.queue: asyncio.Queue[str] = asyncio.Queue(self.settings.realtime_queue_size)
        self.done = asyncio.Event()
        self.rearmed = asyncio.Event()
        self.close_code: int | None = None
        self.close_reason: dict[str, Any] | None = None
        self.handshake = "seeds-001"  # or seeds-004: `{"access_token": …}`, answered in kind

    @property
    def client(self) -> str:
        return self.ws.client.host if self.ws.client else "unknown"

    def now(self) -> str:
        return iso_at(self.services.clock())

    # --- the connection's life ----------------------------------------------------------

    async def run(self) -> None:
        await self.ws.accept()
        if any(name.lower() in URL_CREDENTIALS for name in self.ws.query_params):
            await self._close(
                CLOSE_POLICY_VIOLATION,
                error_message(
                    AUTH_INVALID_TOKEN,
                    "credentials are not accepted in the URL; send them in the first "
                    "message: {type: authenticate, token | apiKey}",
                ),
            )
            return
        with contextlib.suppress(WebSocketDisconnect):
            if not await self._sign_in():
                return
            assert self.principal is not None
            quota = self.endpoint.quota
            try:
                connection_id = await quota.acquire(self.principal)
            except Exception:  # the store failed: no quota can be counted
                logger.exception("websocket connection quota failed")
                await self._close(
                    CLOSE_INTERNAL_ERROR,
                    error_message(SERVICE_UNAVAILABLE, "the service cannot count connections"),
                )
                return
            if connection_id is None:
                limit = quota.limit(self.principal.tier)
                await self._close(
                    CLOSE_POLICY_VIOLATION,
                    error_message(
                        RATE_LIMIT_EXCEEDED,
                        f"at most {limit} WebSocket connection(s) at a time for the "
                        f"{self.principal.tier} tier; close one first",
                    ),
                )
                return
            try:
                await self.ws.send_json(self._authenticated())
                await self._serve()
            finally:
                with contextlib.suppress(Exception):  # a stale row stops counting anyway
                    await quota.release(connection_id)

    async def _sign_in(self) -> bool:
        """The first message: credentials within the time allowed, else an error and 1008."""
        timeout = self.settings.realtime_auth_timeout_seconds
        expected = "{type: authenticate, token | apiKey}"
        close, reason = CLOSE_POLICY_VIOLATION, None
        try:
            message = await asyncio.wait_for(self._receive(first=True), timeout)
        except TimeoutError:
            reason = error_message(AUTH_INVALID_TOKEN, f"send {expected} within {timeout:g} s")
        except ProtocolError as error:
            close, reason = error.close or close, error.reply
        else:
            if message["type"] != "authenticate":
                reason = error_message(AUTH_INVALID_TOKEN, f"the first message must be {expected}")
            elif self.endpoint.failures.blocked(self.client):
                reason = error_message(
                    RATE_LIMIT_EXCEEDED, "too many failed authentications; try again later"
                )
            else:
                try:
                    self.principal, self.credentials, self.deadline = await self._verify(message)
                except ApiError as error:
                    self.endpoint.failures.count(self.client)
                    reason = error_message(error.code, error.message)
                except Exception:  # the store or the identity provider failed
                    logger.exception("websocket sign-in failed")
                    close = CLOSE_INTERNAL_ERROR
                    reason = error_message(INTERNAL_ERROR, "internal error; retry")
        if reason is not None:
            await self._close(close, reason)
            return False
        return True

    async def _serve(self) -> None:
        tasks = [
            asyncio.create_task(self._guarded(work()))
            for work in (self._read, self._write, self._tick)
        ]
        try:
            await self.done.wait()
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self._leave_all()
        if self.close_code is not None:
            await self._close(self.close_code, self.close_reason)

    async def _guarded(self, work: Awaitable[None]) -> None:
        try:
            await work
        except WebSocketDisconnect:
            self.end(None)
        except Exception:
            logger.exception("websocket session failed")
            self.end(CLOSE_INTERNAL_ERROR, error_message(INTERNAL_ERROR, "internal error"))

    def end(self, code: int | None, reason: dict[str, Any] | None = None) -> None:
        """End the session (once): close with `code` after sending `reason`; None when the
        client has gone already. Stops deliveries at once."""
        if self.done.is_set():
            return
        self.close_code, self.close_reason = code, reason
        self.done.set()
        self._leave_all()

    def _leave_all(self) -> None:
        for channel in self.channels:
            self.hub.unsubscribe(channel, self)
        self.channels.clear()
        self.catching_up.clear()
        self.replayed.clear()

    def _leave(self, channel: str) -> None:
        self.channels.discard(channel)
        self.catching_up.pop(channel, None)
        self.replayed.pop(channel, None)
        self.hub.unsubscribe(channel, self)

    async def _close(self, code: int, reason: dict[str, Any] | None) -> None:
        async def goodbye() -> None:
            if reason is not None:
                await self.ws.send_json(reason)
            await self.ws.close(code)

        # a client that does not read would block these sends for ever: a bounded wait
        with contextlib.suppress(TimeoutError, WebSocketDisconnect, RuntimeError, OSError):
            await asyncio.wait_for(goodbye(), CLOSE_TIMEOUT)

    # --- outgoing -----------------------------------------------------------------------

    def offer(self, delivery: Delivery) -> None:
        """The hub's delivery: queued without waiting, or the session ends (too slow)."""
        channel = delivery.channel
        held = self.catching_up.get(channel)
        if held is None:
            if self.replayed and channel in self.replayed:
                # the replay read the store ahead of the hub: what it sent comes again
                if (delivery.record.id or 0) <= self.replayed[channel]:
                    return
                del self.replayed[channel]
            self._enqueue(delivery.text)
        elif len(held) < self.queue.maxsize:
            held.append(delivery)
        else:
            self._overflow()

    def send(self, message: dict[str, Any]) -> None:
        self._enqueue(json.dumps(message, separators=(",", ":"), default=str))

    def _enqueue(self, text: str) -> None:
        if self.done.is_set():
            return
        try:
            self.queue.put_nowait(text)
        except asyncio.QueueFull:
            self._overflow()

    def _overflow(self) -> None:
        self.end(
            CLOSE_TRY_AGAIN_LATER,
            error_message(
                SLOW_CONSUMER,
                f"more than {self.queue.maxsize} messages waiting: the connection cannot "
                "keep up; reconnect and read faster",
            ),
        )

    async def _write(self) -> None:
        while True:
            text = await self.queue.get()
            await self.ws.send_text(text)

    # --- incoming -----------------------------------------------------------------------

    async def _receive(self, *, first: bool = False) -> dict[str, Any]:
        frame = await self.ws.receive()
        if frame["type"] == "websocket.disconnect":
            raise WebSocketDisconnect(frame.get("code", 1000))
        text = frame.get("text")
        if text is None:
            raise ProtocolError(VALIDATION_INVALID_FORMAT, "messages are JSON text frames")
        if len(text) > MAX_MESSAGE_CHARS:
            raise ProtocolError(
                MESSAGE_TOO_LARGE,
                f"messages are at most {MAX_MESSAGE_CHARS} characters",
                close=CLOSE_TOO_BIG,
            )
        try:
            message = parse_json(text)
        except JsonInputError as error:
            raise ProtocolError(VALIDATION_INVALID_FORMAT, f"the message {error}") from None
        if (
            first
            and isinstance(message, dict)
            and "type" not in message
            and "access_token" in message
        ):
            # seeds/004: the token alone, as the first message
            self.handshake = "seeds-004"
            return {"type": "authenticate", "token": message["access_token"]}
        if not isinstance(message, dict) or not isinstance(message.get("type"), str):
            raise ProtocolError(
                VALIDATION_INVALID_FORMAT, "a message is a JSON object with a string 'type'"
            )
        return message

    async def _read(self) -> None:
        while not self.done.is_set():
            try:
                message = await self._receive()
            except ProtocolError as error:
                if error.close is not None:
                    self.end(error.close, error.reply)
                    return
                self.send(error.reply)
                continue
            handler = HANDLERS.get(message["type"])
            if handler is None:
                self.send(
                    error_message(
                        VALIDATION_INVALID_FORMAT,
                        f"unknown message type {message['type'][:50]!r}; expected one of "
                        f"{', '.join(HANDLERS)}",
                    )
                )
                continue
            await handler(self, message)

    async def subscribe(self, message: dict[str, Any]) -> None:
        channel = message.get("channel")
        deployment_id = channel_deployment(channel)
        if deployment_id is None:
            self.send(
                error_message(
                    VALIDATION_INVALID_FORMAT,
                    f"channel must match one of {', '.join(CHANNEL_PATTERNS)}",
                    channel=channel if isinstance(channel, str) and len(channel) <= 200 else None,
                )
            )
            return
        assert isinstance(channel, str)
        if channel not in self.channels:
            limit = self.settings.realtime_max_subscriptions
            if len(self.channels) >= limit:
                self.send(
                    error_message(
                        RATE_LIMIT_EXCEEDED,
                        f"at most {limit} subscriptions per connection",
                        channel=channel,
                    )
                )
                return
            refusal = await self._refusal(deployment_id)
            if refusal is not None:
                self.send(refusal | {"channel": channel})
                return
            await self.hub.ready()
            if self.done.is_set():
                return
            operation_id = channel_operation(channel)
            self.channels.add(channel)
            if operation_id is not None:
                self.catching_up[channel] = []
            self.hub.subscribe(channel, self)
            self.send({"type": "subscribed", "channel": channel, "timestamp": self.now()})
            if operation_id is not None:
                await self._catch_up(channel, deployment_id, operation_id)
            return
        self.send({"type": "subscribed", "channel": channel, "timestamp": self.now()})

    async def _catch_up(self, channel: str, deployment_id: str, operation_id: str) -> None:
        """An operation channel starts with what the operation recorded so far (the newest
        half a queue of it): a client that subscribes on the 202 of its deploy, as in
        seeds/001 "Example 3", still gets `operation.started`. Live events that arrive
        meanwhile are held, then sent after, each once."""
        try:
            records = await run_in_threadpool(
                recent_events,
                self.services.store,
                deployment_id=deployment_id,
                operation_id=operation_id,
                limit=max(self.queue.maxsize // 2, 1),
            )
        except Exception as error:
            logger.warning("websocket: cannot read an operation's events: %s", error)
            records = []
        held = self.catching_up.pop(channel, None)
        if held is None:  # unsubscribed or ended meanwhile
            return
        last = 0
        for record in records:
            self._enqueue(Delivery(channel, record, event_data(record)).text)
            last = record.id or last
        for delivery in held:
            if (delivery.record.id or 0) > last:
                self._enqueue(delivery.text)
                last = delivery.record.id or last
        if last:
            self.replayed[channel] = last

    async def unsubscribe(self, message: dict[str, Any]) -> None:
        channel = message.get("channel")
        if not isinstance(channel, str) or len(channel) > 200:
            self.send(error_message(VALIDATION_INVALID_FORMAT, "channel must be a string"))
            return
        if channel in self.channels:
            self._leave(channel)
        self.send({"type": "unsubscribed", "channel": channel, "timestamp": self.now()})

    async def ping(self, message: dict[str, Any]) -> None:
        self.send({"type": "pong", "timestamp": self.now()})

    async def reauthenticate(self, message: dict[str, Any]) -> None:
        """Fresh credentials (before the old ones expire) keep the connection open."""
        assert self.principal is not None
        try:
            principal, credentials, deadline = await self._verify(message)
        except ApiError as error:
            self.endpoint.failures.count(self.client)
            self.end(CLOSE_POLICY_VIOLATION, error_message(error.code, error.message))
            return
        if principal.user_id != self.principal.user_id:
            self.end(
                CLOSE_POLICY_VIOLATION,
                error_message(
                    AUTHZ_FORBIDDEN,
                    "re-authentication must be as the same user; open a new connection",
                ),
            )
            return
        self.principal, self.credentials, self.deadline = principal, credentials, deadline
        self.rearmed.set()
        await self._recheck_subscriptions()
        self.send(self._authenticated())

    # --- credentials and access ---------------------------------------------------------

    async def _verify(self, message: dict[str, Any]) -> tuple[Principal, Credentials, float | None]:
        credentials = credentials_of(message)
        principal = await resolve(self.services.authenticator, credentials)
        deadline = expiry(self.services.store, principal, credentials)
        if deadline is not None and deadline <= self.services.clock():
            raise ApiError(401, AUTH_TOKEN_EXPIRED, "the credentials have expired")
        return principal, credentials, deadline

    async def _refusal(self, deployment_id: str) -> dict[str, Any] | None:
        assert self.principal is not None
        try:
            state = await self.services.repo.fresh()
        except Exception as error:
            logger.warning("websocket: the repository cannot be read: %s", type(error).__name__)
            return error_message(SERVICE_UNAVAILABLE, "the repository cannot be read; retry")
        return refusal(self.principal, state, deployment_id)

    async def _recheck_subscriptions(self) -> None:
        for channel in sorted(self.channels):
            deployment_id = channel_deployment(channel)
            assert deployment_id is not None
            refusal = await self._refusal(deployment_id)
            if refusal is not None and refusal["code"] != SERVICE_UNAVAILABLE:
                self._leave(channel)
                self.send(
                    {
                        "type": "unsubscribed",
                        "channel": channel,
                        "timestamp": self.now(),
                        "reason": refusal["message"],
                    }
                )

    def _authenticated(self) -> dict[str, Any]:
        assert self.principal is not None
        answer = (
            {"type": "authentication", "status": "success"}
            if self.handshake == "seeds-004"
            else {"type": "authenticated"}
        )
        return {
            **answer,
            "timestamp": self.now(),
            "userId": self.principal.user_id,
            "username": self.principal.username,
            "expiresAt": iso_at(self.deadline) if self.deadline is not None else None,
            "heartbeatSeconds": self.settings.realtime_heartbeat_seconds,
        }

    # --- heartbeats and expiry ----------------------------------------------------------

    async def _tick(self) -> None:
        loop = asyncio.get_running_loop()
        interval = self.settings.realtime_heartbeat_seconds
        beat_at = loop.time() + interval
        while not self.done.is_set():
            self.rearmed.clear()
            wait = beat_at - loop.time()
            if self.deadline is not None:
                wait = min(wait, self.deadline - self.services.clock())
            if wait > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.rearmed.wait(), wait)
            if self.deadline is not None and self.services.clock() >= self.deadline:
                self.end(
                    CLOSE_POLICY_VIOLATION,
                    error_message(
                        AUTH_TOKEN_EXPIRED,
                        "the credentials expired; re-authenticate before expiresAt to stay "
                        "connected",
                    ),
                )
                return
            if loop.time() >= beat_at:
                beat_at = loop.time() + interval
                if not await self._recheck():
                    return
                self.send({"type": "heartbeat", "timestamp": self.now()})

    async def _recheck(self) -> bool:
        """Credentials again (a revoked key, an ended session, a disabled user), then access."""
        assert self.credentials is not None
        try:
            self.principal = await resolve(self.services.authenticator, self.credentials)
        except ApiError as error:
            self.end(CLOSE_POLICY_VIOLATION, error_message(error.code, error.message))
            return False
        await self._recheck_subscriptions()
        return True


HANDLERS: dict[str, Callable[[Session, dict[str, Any]], Awaitable[None]]] = {
    "subscribe": Session.subscribe,
    "unsubscribe": Session.unsubscribe,
    "ping": Session.ping,
    "authenticate": Session.reauthenticate,
}
