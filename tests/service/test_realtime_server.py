"""Realtime over real sockets: uvicorn in a thread, real clients.

What TestClient cannot show: a Server-Sent Events stream (it would wait for the end of an
endless response), a client that goes away mid-stream, and a WebSocket client that stops
reading, whose TCP window closes until the server's writes block.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from websockets.asyncio.client import connect
from websockets.client import ClientProtocol
from websockets.frames import Close, Opcode
from websockets.http11 import Response
from websockets.uri import parse_uri

from controller.service.app import create_app
from controller.service.services import build_services
from tests.service.conftest import Harness, example_files, make_settings
from tests.service.event_helpers import record_event, token_of
from tests.service.fakes import FakeInventory, MemorySource

OPERATION_CHANNEL = "deployments/D1BRV40/operations/op-1"
LOGS = "/api/v1/deployments/D1BRV40/logs"


@dataclass
class Live:
    harness: Harness  # its client is None: requests go over the socket
    url: str

    @property
    def hub(self) -> Any:
        return self.harness.services.hub


@pytest.fixture
def live_server(tmp_path: Path) -> Iterator[Callable[..., Live]]:
    servers: list[tuple[uvicorn.Server, threading.Thread]] = []

    def start(**overrides: Any) -> Live:
        settings = make_settings(tmp_path, **overrides)
        services = build_services(
            settings, source=MemorySource(example_files()), inventory=FakeInventory()
        )
        config = uvicorn.Config(
            create_app(services=services), host="127.0.0.1", port=0, log_level="warning",
            ws="websockets-sansio", lifespan="on",
        )  # fmt: skip
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        servers.append((server, thread))
        deadline = time.monotonic() + 10
        while not server.started:
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.01)
        port = server.servers[0].sockets[0].getsockname()[1]
        harness = Harness(None, services, None, None)  # type: ignore[arg-type]
        return Live(harness, f"127.0.0.1:{port}")

    yield start
    for server, thread in servers:
        server.should_exit = True
        thread.join(timeout=10)


def until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


# --- Server-Sent Events --------------------------------------------------------------------


class EventStream:
    """An SSE client reading one event (or comment) at a time."""

    def __init__(self, response: httpx.Response) -> None:
        self.lines = response.iter_lines()

    def next(self) -> dict[str, Any]:
        fields: dict[str, Any] = {}
        for line in self.lines:
            if line == "":
                if fields:
                    return fields
                continue
            if line.startswith(":"):
                return {"comment": line[1:].strip()}
            name, _, value = line.partition(": ")
            fields[name] = json.loads(value) if name == "data" else value
        raise AssertionError("the stream ended")


def stream(live: Live, headers: dict[str, str], query: str = "") -> Any:
    client = httpx.Client(base_url=f"http://{live.url}", timeout=5.0)
    return client, client.stream(
        "GET", f"{LOGS}{query}", headers={"Accept": "text/event-stream", **headers}
    )


def test_sse_sends_the_backlog_then_live_events_and_resumes_after_last_event_id(
    live_server: Callable[..., Live],
) -> None:
    live = live_server()
    harness, headers = live.harness, live.harness.bearer()
    old = [
        record_event(live.harness, "log", message=f"old {n}", stackName="network") for n in range(3)
    ]
    client, request = stream(live, headers, "?limit=2")
    with client, request as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        events = EventStream(response)
        backlog = [events.next(), events.next()]  # the newest two, oldest first
        assert [e["data"]["message"] for e in backlog] == ["old 1", "old 2"]
        assert [int(e["id"]) for e in backlog] == [old[1].id, old[2].id]
        new = record_event(harness, "stack.failed", stackName="network", error={"message": "boom"})
        live_event = events.next()
        assert int(live_event["id"]) == new.id
        assert live_event["data"]["level"] == "error"
        assert live_event["data"]["message"] == "stack network failed: boom"
    later = record_event(harness, "log", message="while away")
    client, request = stream(live, headers | {"Last-Event-ID": str(old[1].id)})
    with client, request as response:
        events = EventStream(response)
        missed = [events.next()["data"]["message"] for _ in range(3)]
        assert missed == ["old 2", "stack network failed: boom", "while away"]
        assert later.id is not None
        record_event(harness, "log", message="after the reconnection")
        assert events.next()["data"]["message"] == "after the reconnection"


def test_sse_applies_the_filters_to_live_events_and_sends_heartbeats(
    live_server: Callable[..., Live],
) -> None:
    live = live_server(sse_heartbeat_seconds=0.05)
    client, request = stream(live, live.harness.bearer(), "?stack=database&level=warn")
    with client, request as response:
        events = EventStream(response)
        assert events.next() == {"comment": "heartbeat"}
        record_event(live.harness, "log", stackName="network", level="error", message="not this")
        record_event(live.harness, "log", stackName="database", level="info", message="nor this")
        record_event(live.harness, "log", stackName="database", level="warning", message="this")
        message = events.next()
        while "comment" in message:
            message = events.next()
        assert message["data"]["message"] == "this" and message["data"]["level"] == "warn"


def test_an_sse_stream_lets_go_of_its_subscription_when_the_client_leaves(
    live_server: Callable[..., Live],
) -> None:
    live = live_server(sse_heartbeat_seconds=0.05)
    client, request = stream(live, live.harness.bearer())
    with client, request as response:
        events = EventStream(response)  # kept: dropping the line iterator closes the response
        assert events.next() == {"comment": "heartbeat"}
        assert live.hub.subscribers("deployments/D1BRV40") == 1
    until(lambda: live.hub.subscribers() == 0)


def test_sse_refuses_another_organizations_deployment(live_server: Callable[..., Live]) -> None:
    live = live_server()
    headers = live.harness.bearer("bob", ("Developer",), ("CompanyB",))
    response = httpx.get(
        f"http://{live.url}{LOGS}", headers={"Accept": "text/event-stream", **headers}
    )
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "RESOURCE_NOT_FOUND"


# --- a WebSocket client that stops reading -------------------------------------------------


class StalledClient:
    """Signs in and subscribes, then never reads again: its receive window fills up."""

    def __init__(self, url: str, token: str) -> None:
        self.protocol = ClientProtocol(parse_uri(f"ws://{url}/ws"))
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        host, port = url.split(":")
        self.sock.connect((host, int(port)))
        self.sock.settimeout(5.0)
        self.protocol.send_request(self.protocol.connect())
        self._flush()
        self._read_until(lambda event: isinstance(event, Response))
        for message in ({"type": "authenticate", "token": token},
                        {"type": "subscribe", "channel": OPERATION_CHANNEL}):  # fmt: skip
            self.protocol.send_text(json.dumps(message).encode())
            self._flush()
            self._read_until(lambda event: getattr(event, "opcode", None) is Opcode.TEXT)

    def _flush(self) -> None:
        for chunk in self.protocol.data_to_send():
            if chunk:
                self.sock.sendall(chunk)

    def _read_until(self, wanted: Callable[[Any], bool]) -> Any:
        while True:
            for event in self.protocol.events_received():
                if wanted(event):
                    return event
            data = self.sock.recv(65536)
            assert data, "the server closed the connection"
            self.protocol.receive_data(data)

    def close_code(self) -> int | None:
        """Read all that was sent meanwhile and find how the server closed."""
        while True:
            for event in self.protocol.events_received():
                if getattr(event, "opcode", None) is Opcode.CLOSE:
                    return Close.parse(event.data).code
            try:
                data = self.sock.recv(1 << 20)
            except TimeoutError:
                return None
            if not data:
                return None
            self.protocol.receive_data(data)


def test_a_client_that_stops_reading_is_dropped_and_the_others_get_every_event(
    live_server: Callable[..., Live],
) -> None:
    live = live_server(realtime_queue_size=50)
    token = token_of(live.harness.bearer())
    stalled = StalledClient(live.url, token)
    padding = "x" * 32_768
    count = 400

    async def follow() -> list[int]:
        async with connect(f"ws://{live.url}/ws", proxy=None) as ws:
            await ws.send(json.dumps({"type": "authenticate", "token": token}))
            assert json.loads(await ws.recv())["type"] == "authenticated"
            await ws.send(json.dumps({"type": "subscribe", "channel": OPERATION_CHANNEL}))
            assert json.loads(await ws.recv())["type"] == "subscribed"
            assert live.hub.subscribers(OPERATION_CHANNEL) == 2
            received: list[int] = []

            async def read() -> None:
                while len(received) < count:
                    message = json.loads(await ws.recv())
                    if message["type"] == "log":
                        received.append(message["data"]["n"])

            reader = asyncio.create_task(read())
            for number in range(count):
                record_event(live.harness, "log", message=padding, n=number)
                await asyncio.sleep(0.001)
            await asyncio.wait_for(reader, 30)
            return received

    with stalled.sock:
        assert asyncio.run(follow()) == list(range(count))
        until(lambda: live.hub.subscribers(OPERATION_CHANNEL) == 0)  # both gone: one dropped
        assert stalled.close_code() == 1013
