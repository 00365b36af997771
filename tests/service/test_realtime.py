"""`/ws`, the protocol of seeds/001 "WebSocket Real-Time Updates", in-process.

Events are appended to the store as the executor, GitHub's webhooks or a runner's callbacks
append them; the hub tails the store; clients follow seeds/001 "Example 3".
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from starlette.websockets import WebSocketDisconnect

from controller.core import rbac
from tests.service.conftest import Harness, HarnessFactory
from tests.service.event_helpers import receive, record_event, short_lived_token, token_of

OPERATION_CHANNEL = "deployments/D1BRV40/operations/op-1"


@contextmanager
def connected(harness: Harness, **credentials: str) -> Iterator[Any]:
    """A socket signed in with `credentials` (default: an administrator's token)."""
    if not credentials:
        credentials = {"token": token_of(harness.bearer())}
    with harness.client.websocket_connect("/ws") as ws:
        ws.send_json({"type": "authenticate", **credentials})
        reply = receive(ws)
        assert reply["type"] == "authenticated", reply
        yield ws


def subscribe(ws: Any, channel: str) -> dict[str, Any]:
    ws.send_json({"type": "subscribe", "channel": channel})
    return receive(ws)


def refusal(ws: Any) -> tuple[dict[str, Any], int]:
    """The error the server sends before it closes, and the close code."""
    error = receive(ws)
    with pytest.raises(WebSocketDisconnect) as closed:
        receive(ws)
    return error, closed.value.code


def nothing_pending(ws: Any) -> bool:
    """True when nothing but heartbeats comes before the answer to a ping sent now."""
    ws.send_json({"type": "ping"})
    message = receive(ws)
    while message["type"] == "heartbeat":
        message = receive(ws)
    return message["type"] == "pong"


# --- following an operation ----------------------------------------------------------------


def test_example_3_an_api_key_client_follows_an_operation_to_its_end(harness: Harness) -> None:
    key = harness.api_key([rbac.DEPLOYMENTS_READ])
    with connected(harness, apiKey=key) as ws:
        reply = subscribe(ws, OPERATION_CHANNEL)
        assert (reply["type"], reply["channel"]) == ("subscribed", OPERATION_CHANNEL)
        record_event(harness, "operation.started", operationType="deploy", environment="dev")
        record_event(harness, "stack.started", stackName="network", layer=1)
        record_event(harness, "stack.started", op="op-2", stackName="network")  # another op
        record_event(harness, "stack.progress", stackName="network", progress=35)
        record_event(harness, "stack.completed", stackName="network", status="deployed")
        record_event(harness, "operation.completed", status="success", environment="dev")
        messages = [receive(ws) for _ in range(5)]
        assert nothing_pending(ws)
    assert [m["type"] for m in messages] == [
        "operation.started",
        "stack.started",
        "stack.progress",
        "stack.completed",
        "operation.completed",
    ]
    for message in messages:
        assert set(message) == {"type", "timestamp", "channel", "data"}
        assert message["channel"] == OPERATION_CHANNEL
        assert message["data"]["operationId"] == "op-1"
        assert message["data"]["deploymentId"] == "D1BRV40"
    assert messages[2]["data"]["progress"] == 35


@pytest.mark.parametrize(
    "channel",
    [
        "deployments/D1BRV40",
        "deployments/D1BRV40/operations/op-1",
        "deployments/D1BRV40/stacks/network",
        "deployments/D1BRV40/environments/dev",
    ],
)
def test_each_channel_pattern_carries_its_events_named_by_channel(
    harness: Harness, channel: str
) -> None:
    with connected(harness) as ws:
        assert subscribe(ws, channel)["type"] == "subscribed"
        record_event(harness, "stack.started", deployment="D2K7Q1M", op="op-b", stackName="network")
        if channel != "deployments/D1BRV40":  # another operation, stack and environment
            record_event(harness, "stack.started", environment="prod", op="op-9", stackName="dns")
        record_event(harness, "log", stackName="network", level="info", message="Creating VPC")
        message = receive(ws)
    assert message["type"] == "log" and message["channel"] == channel
    assert message["data"]["message"] == "Creating VPC"


def test_a_message_is_sent_once_per_subscribed_channel_it_matches(harness: Harness) -> None:
    with connected(harness) as ws:
        subscribe(ws, "deployments/D1BRV40")
        subscribe(ws, OPERATION_CHANNEL)
        record_event(harness, "stack.started", stackName="network")
        channels = {receive(ws)["channel"], receive(ws)["channel"]}
        assert nothing_pending(ws)
    assert channels == {"deployments/D1BRV40", OPERATION_CHANNEL}


def test_unsubscribing_stops_the_deliveries(harness: Harness) -> None:
    with connected(harness) as ws:
        subscribe(ws, OPERATION_CHANNEL)
        subscribe(ws, "deployments/D1BRV40/stacks/dns")
        ws.send_json({"type": "unsubscribe", "channel": OPERATION_CHANNEL})
        reply = receive(ws)
        assert (reply["type"], reply["channel"]) == ("unsubscribed", OPERATION_CHANNEL)
        record_event(harness, "stack.started", stackName="network")
        record_event(harness, "stack.started", stackName="dns")
        assert receive(ws)["channel"] == "deployments/D1BRV40/stacks/dns"
        assert nothing_pending(ws)


def test_an_operation_channel_starts_with_what_the_operation_recorded_before(
    harness: Harness,
) -> None:
    """seeds/001 "Example 3" subscribes once its deploy answered 202: by then the
    operation has started, and the client must still see it begin."""
    record_event(harness, "operation.started", operationType="deploy", environment="dev")
    record_event(harness, "stack.started", stackName="network")
    record_event(harness, "stack.started", op="op-2", stackName="network")
    record_event(harness, "stack.started", deployment="D2K7Q1M", op="op-1", stackName="dns")
    with connected(harness) as ws:
        assert subscribe(ws, OPERATION_CHANNEL)["type"] == "subscribed"
        replayed = [receive(ws), receive(ws)]
        record_event(harness, "stack.completed", stackName="network", status="deployed")
        live = receive(ws)
        assert nothing_pending(ws)
        assert subscribe(ws, "deployments/D1BRV40")["type"] == "subscribed"
        assert nothing_pending(ws)  # other channels start with what comes next
    assert [(m["type"], m["channel"]) for m in replayed] == [
        ("operation.started", OPERATION_CHANNEL),
        ("stack.started", OPERATION_CHANNEL),
    ]
    assert replayed[1]["data"]["stackName"] == "network"
    assert live["type"] == "stack.completed"


def test_the_replay_is_at_most_half_a_queue_of_the_newest_events(
    make_harness: HarnessFactory,
) -> None:
    harness = make_harness(realtime_queue_size=4)
    for number in range(5):
        record_event(harness, "log", message=f"line {number}")
    with connected(harness) as ws:
        subscribe(ws, OPERATION_CHANNEL)
        messages = [receive(ws)["data"]["message"], receive(ws)["data"]["message"]]
        assert nothing_pending(ws)
    assert messages == ["line 3", "line 4"]


def test_ping_gets_pong_and_the_server_sends_heartbeats(make_harness: HarnessFactory) -> None:
    harness = make_harness(realtime_heartbeat_seconds=0.05)
    with connected(harness) as ws:
        ws.send_json({"type": "ping"})
        kinds = {receive(ws)["type"], receive(ws)["type"]}
    assert kinds == {"pong", "heartbeat"}


# --- signing in ----------------------------------------------------------------------------


def test_no_authentication_within_the_time_allowed_closes_1008(
    make_harness: HarnessFactory,
) -> None:
    harness = make_harness(realtime_auth_timeout_seconds=0.1)
    with harness.client.websocket_connect("/ws") as ws:
        error, code = refusal(ws)
    assert code == 1008
    assert error["type"] == "error" and error["code"] == "AUTH_INVALID_TOKEN"
    assert "0.1 s" in error["message"]


def test_a_first_message_other_than_authenticate_closes_1008(harness: Harness) -> None:
    with harness.client.websocket_connect("/ws") as ws:
        ws.send_json({"type": "subscribe", "channel": OPERATION_CHANNEL})
        error, code = refusal(ws)
    assert code == 1008 and error["code"] == "AUTH_INVALID_TOKEN"


@pytest.mark.parametrize("parameter", ["token", "access_token", "apiKey"])
def test_credentials_in_the_url_are_refused_even_when_valid(
    harness: Harness, parameter: str
) -> None:
    token = token_of(harness.bearer())
    with harness.client.websocket_connect(f"/ws?{parameter}={token}") as ws:
        error, code = refusal(ws)
    assert code == 1008 and "URL" in error["message"]


@pytest.mark.parametrize(
    ("credentials", "code"),
    [
        pytest.param({"token": "eyJhbGciOiJIUzI1NiJ9.e30.c2lnbmF0dXJl"}, "AUTH_INVALID_TOKEN",
                     id="forged-token"),
        pytest.param({"apiKey": "msk_live_" + "a" * 55}, "AUTH_INVALID_TOKEN", id="unknown-key"),
        pytest.param({}, "AUTH_INVALID_TOKEN", id="no-credentials"),
        pytest.param({"token": "x", "apiKey": "y"}, "AUTH_INVALID_TOKEN", id="both"),
        pytest.param({"token": 42}, "AUTH_INVALID_TOKEN", id="not-a-string"),
    ],
)  # fmt: skip
def test_wrong_credentials_are_refused_with_1008(
    harness: Harness, credentials: dict[str, Any], code: str
) -> None:
    with harness.client.websocket_connect("/ws") as ws:
        ws.send_json({"type": "authenticate", **credentials})
        error, close = refusal(ws)
    assert close == 1008 and error["code"] == code


def test_an_expired_token_is_refused_with_its_code(harness: Harness) -> None:
    token = short_lived_token(harness, seconds=-1)  # within the verifier's 5 s leeway
    with harness.client.websocket_connect("/ws") as ws:
        ws.send_json({"type": "authenticate", "token": token})
        error, close = refusal(ws)
    assert close == 1008 and error["code"] == "AUTH_TOKEN_EXPIRED"


def test_failed_authentications_are_throttled_per_address(make_harness: HarnessFactory) -> None:
    harness = make_harness(rate_limit_auth_per_minute=2)
    for _ in range(2):
        with harness.client.websocket_connect("/ws") as ws:
            ws.send_json({"type": "authenticate", "apiKey": "msk_live_wrong"})
            assert refusal(ws)[0]["code"] == "AUTH_INVALID_TOKEN"
    with harness.client.websocket_connect("/ws") as ws:  # even with the right credentials
        ws.send_json({"type": "authenticate", "token": token_of(harness.bearer())})
        error, close = refusal(ws)
    assert close == 1008 and error["code"] == "RATE_LIMIT_EXCEEDED"


def test_the_connection_quota_follows_the_users_tier(harness: Harness) -> None:
    token = token_of(harness.bearer("freebie", (rbac.DEVELOPER,), tier="free"))
    with connected(harness, token=token), connected(harness, token=token):
        with harness.client.websocket_connect("/ws") as third:
            third.send_json({"type": "authenticate", "token": token})
            error, close = refusal(third)
        assert close == 1008 and error["code"] == "RATE_LIMIT_EXCEEDED"
        assert "2 WebSocket connection" in error["message"]
    with connected(harness, token=token):  # the two closed: room again
        pass


# --- authorization per subscription --------------------------------------------------------


def test_another_organizations_deployment_is_answered_like_a_missing_one(
    harness: Harness,
) -> None:
    token = token_of(harness.bearer("bob", (rbac.DEVELOPER,), ("CompanyB",)))
    with connected(harness, token=token) as ws:
        foreign = subscribe(ws, "deployments/D1BRV40")  # CompanyA's
        missing = subscribe(ws, "deployments/DZZZZZZ")
        assert foreign["type"] == missing["type"] == "error"
        assert foreign["code"] == missing["code"] == "RESOURCE_NOT_FOUND"
        assert foreign["message"].replace("D1BRV40", "X") == missing["message"].replace(
            "DZZZZZZ", "X"
        )
        record_event(harness, "log", message="CompanyA's secret")
        assert subscribe(ws, "deployments/D2K7Q1M")["type"] == "subscribed"  # its own
        record_event(harness, "log", deployment="D2K7Q1M", op="op-b", message="ours")
        assert receive(ws)["data"]["message"] == "ours"  # and never CompanyA's before it


def test_subscribing_needs_a_permission_to_read_deployments_or_logs(harness: Harness) -> None:
    catalog_only = harness.api_key([rbac.STACKS_READ])
    with connected(harness, apiKey=catalog_only) as ws:
        reply = subscribe(ws, OPERATION_CHANNEL)
    assert reply["code"] == "AUTHZ_FORBIDDEN" and reply["channel"] == OPERATION_CHANNEL
    logs_only = harness.api_key([rbac.LOGS_READ])
    with connected(harness, apiKey=logs_only) as ws:
        assert subscribe(ws, OPERATION_CHANNEL)["type"] == "subscribed"


@pytest.mark.parametrize(
    "channel",
    [
        "deployments/d1brv40",
        "deployments/D1BRV40/",
        "deployments/D1BRV40/operations",
        "deployments/D1BRV40/stacks/Not_A_Stack",
        "deployments/D1BRV40/stacks/network/operations/op-1",
        "deployments/D1BRV40/environments/../../etc",
        "stacks/network",
        42,
    ],
)
def test_a_channel_outside_the_four_patterns_is_an_error_and_the_socket_stays_open(
    harness: Harness, channel: Any
) -> None:
    with connected(harness) as ws:
        reply = subscribe(ws, channel)
        assert reply["type"] == "error" and reply["code"] == "VALIDATION_INVALID_FORMAT"
        assert "deployments/:deploymentId/operations/:operationId" in reply["message"]
        assert nothing_pending(ws)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        pytest.param("not json", "not valid JSON", id="not-json"),
        pytest.param("[1, 2]", "JSON object", id="not-an-object"),
        pytest.param('{"type": "dance"}', "unknown message type", id="unknown-type"),
    ],
)
def test_a_malformed_message_is_answered_and_the_socket_stays_open(
    harness: Harness, text: str, fragment: str
) -> None:
    with connected(harness) as ws:
        ws.send_text(text)
        reply = receive(ws)
        assert reply["code"] == "VALIDATION_INVALID_FORMAT" and fragment in reply["message"]
        assert nothing_pending(ws)


def test_an_oversized_message_closes_1009(harness: Harness) -> None:
    with connected(harness) as ws:
        ws.send_json({"type": "ping", "padding": "x" * 70_000})
        error, close = refusal(ws)
    assert close == 1009 and error["code"] == "MESSAGE_TOO_LARGE"


# --- expiry, revocation, lost access -------------------------------------------------------


def test_the_socket_closes_when_the_access_token_expires(harness: Harness) -> None:
    token = short_lived_token(harness, seconds=0.3)
    with connected(harness, token=token) as ws:
        subscribe(ws, OPERATION_CHANNEL)
        began = time.monotonic()
        error, close = refusal(ws)
    assert close == 1008 and error["code"] == "AUTH_TOKEN_EXPIRED"
    assert time.monotonic() - began < 2.0


def test_re_authenticating_before_expiry_keeps_the_socket_open(harness: Harness) -> None:
    with connected(harness, token=short_lived_token(harness, seconds=0.3)) as ws:
        subscribe(ws, OPERATION_CHANNEL)
        ws.send_json({"type": "authenticate", "token": token_of(harness.bearer())})
        renewed = receive(ws)
        assert renewed["type"] == "authenticated" and renewed["expiresAt"] > renewed["timestamp"]
        time.sleep(0.4)  # past the first token's expiry
        record_event(harness, "stack.started", stackName="network")
        assert receive(ws)["channel"] == OPERATION_CHANNEL  # still subscribed


def test_re_authenticating_as_someone_else_closes_the_socket(harness: Harness) -> None:
    other = token_of(harness.bearer("mallory", (rbac.ADMINISTRATOR,)))
    with connected(harness) as ws:
        ws.send_json({"type": "authenticate", "token": other})
        error, close = refusal(ws)
    assert close == 1008 and error["code"] == "AUTHZ_FORBIDDEN"


def test_a_revoked_api_key_is_disconnected_at_the_next_heartbeat(
    make_harness: HarnessFactory,
) -> None:
    harness = make_harness(realtime_heartbeat_seconds=0.05)
    admin = harness.bearer()
    created = harness.client.post(
        "/api/v1/auth/api-keys",
        json={"name": "dashboard", "permissions": [rbac.DEPLOYMENTS_READ]},
        headers=admin,
    ).json()["data"]
    with connected(harness, apiKey=created["apiKey"]) as ws:
        subscribe(ws, OPERATION_CHANNEL)
        assert receive(ws)["type"] == "heartbeat"
        revoked = harness.client.delete(f"/api/v1/auth/api-keys/{created['keyId']}", headers=admin)
        assert revoked.status_code == 200
        messages = []
        with pytest.raises(WebSocketDisconnect) as closed:
            while True:
                messages.append(receive(ws))
    assert closed.value.code == 1008
    assert messages[-1]["type"] == "error" and messages[-1]["code"] == "AUTH_INVALID_TOKEN"


def test_signing_out_ends_the_socket_at_the_next_heartbeat(make_harness: HarnessFactory) -> None:
    harness = make_harness(realtime_heartbeat_seconds=0.05)
    headers = harness.bearer()
    with connected(harness, token=token_of(headers)) as ws:
        assert harness.client.post("/api/v1/auth/logout", headers=headers).status_code == 200
        messages = []
        with pytest.raises(WebSocketDisconnect) as closed:
            while True:
                messages.append(receive(ws))
    assert closed.value.code == 1008 and messages[-1]["code"] == "AUTH_INVALID_TOKEN"


def test_losing_the_organization_drops_the_subscription_at_the_next_heartbeat(
    make_harness: HarnessFactory,
) -> None:
    harness = make_harness(realtime_heartbeat_seconds=0.05)
    token = token_of(harness.bearer("alice", (rbac.DEVELOPER,), ("CompanyA",)))
    with connected(harness, token=token) as ws:
        subscribe(ws, OPERATION_CHANNEL)
        harness.sql("UPDATE users SET organizations = '[\"CompanyB\"]' WHERE username = 'alice'")
        message = receive(ws)
        while message["type"] == "heartbeat":
            message = receive(ws)
        assert message["type"] == "unsubscribed" and message["channel"] == OPERATION_CHANNEL
        assert "not found" in message["reason"]
        record_event(harness, "log", message="no longer yours")
        assert nothing_pending(ws)


# --- a slow consumer -------------------------------------------------------------------------


def test_a_client_whose_queue_overflows_is_closed_1013(make_harness: HarnessFactory) -> None:
    # the hub reads only when notified, so the ten events arrive as one batch, handed out
    # in one go: the third finds the queue of two full
    harness = make_harness(realtime_queue_size=2, realtime_poll_ms=60_000)
    with connected(harness) as ws:
        subscribe(ws, "deployments/D1BRV40")  # no replay: only the batch below
        for number in range(10):
            record_event(harness, "log", message=f"line {number}", notify=False)
        harness.services.hub.notify()
        messages = []
        with pytest.raises(WebSocketDisconnect) as closed:
            while True:
                messages.append(receive(ws))
    assert closed.value.code == 1013
    assert messages[-1]["code"] == "SLOW_CONSUMER"
    assert len(messages) <= 3
    assert harness.services.hub.subscribers() == 0


@pytest.mark.parametrize("path", ["/ws", "/api/v1/deployments/ws/3f1c9a2e-client"])
def test_seeds_004_sends_the_token_after_connecting_as_access_token(
    harness: Harness, path: str
) -> None:
    """seeds/004: connect, send `{"access_token": <jwt>}`, get `{"type": "authentication",
    "status": "success"}`, then follow events (subscribing as seeds/001 does)."""
    with harness.client.websocket_connect(path) as ws:
        ws.send_json({"access_token": token_of(harness.bearer())})
        reply = receive(ws)
        assert reply["type"] == "authentication" and reply["status"] == "success", reply
        assert subscribe(ws, OPERATION_CHANNEL)["type"] == "subscribed"
        record_event(harness, "stack.started", stackName="network")
        assert receive(ws)["type"] == "stack.started"
