"""Recording operation events as the executor, a webhook or a runner would, for the tests of
what the service relays (WebSocket, logs, SSE), and a bounded WebSocket receive."""

from __future__ import annotations

import json
import time
from typing import Any

import anyio
import jwt

from controller.service.auth.tokens import new_id
from controller.store import EventRecord, OperationRecord, SessionRecord
from tests.service.conftest import SECRET, Harness


def record_event(
    harness: Harness,
    kind: str = "stack.started",
    *,
    op: str = "op-1",
    deployment: str = "D1BRV40",
    environment: str = "dev",
    at: str | None = None,
    notify: bool = True,
    **data: Any,
) -> EventRecord:
    """Append one event to the store (creating its operation the first time), then wake the
    hub as the writers in the service process do."""
    store, now = harness.store, harness.services.now()
    if store.get_operation(op) is None:
        store.create_operation(
            OperationRecord(op, deployment, environment, "deploy", "in_progress", now, now, "t")
        )
    payload = {"deploymentId": deployment, "operationId": op, **data}
    event = store.append_event(
        EventRecord(op, deployment, environment, kind, at or now, None, payload)
    )
    if notify:
        harness.services.hub.notify()
    return event


def receive(ws: Any, timeout: float = 5.0) -> dict[str, Any]:
    """The next message from the server; WebSocketDisconnect when it closed instead.

    TestClient's own receive waits forever: a broken server would hang the suite, so this
    one gives up after `timeout`.
    """

    async def next_message() -> Any:
        with anyio.fail_after(timeout):
            return await ws._send_rx.receive()

    message = ws.portal.call(next_message)
    ws._raise_on_close(message)
    return json.loads(message["text"])


def token_of(headers: dict[str, str]) -> str:
    return headers["Authorization"].removeprefix("Bearer ")


def short_lived_token(harness: Harness, username: str = "admin", *, seconds: float) -> str:
    """An access token of the service expiring in `seconds` (the settings allow no less
    than a minute), signed with the test secret."""
    user = harness.user(username)
    session = harness.store.create_session(
        SessionRecord(new_id("ses"), user.id, harness.services.now(), None)
    )
    settings, now = harness.services.settings, time.time()
    claims = {
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "sub": user.id,
        "sid": session.id,
        "name": username,
        "typ": "access",
        "iat": int(now),
        "nbf": int(now),
        "exp": now + seconds,
        "jti": new_id("jti"),
    }
    return jwt.encode(claims, SECRET, algorithm="HS256")
