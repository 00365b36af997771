"""Benchmark: WebSocket subscribers on one operation channel, delay from event to receipt.

The service runs as `cloud serve` on loopback in its own process, over a fresh copy of
this repo's catalog. A load process opens the subscribers (500 by default) with the
`websockets` library: each connects to `/ws`, authenticates with an API key in its first
message, as in seeds/001 "Example 3", and subscribes to
`deployments/D1BRV40/operations/<op>`. Then this process, standing in for whoever records
events, records 200 events (20 a second on average, arriving at random), each carrying
the time it was sent. Each subscriber notes when each event arrives.

- One server (default): the store is a SQLite file, and this process appends straight
  into it. Being another process, it cannot call the hub's `notify()`: delivery rests on
  the hub's polling (every `CLOUD_REALTIME_POLL_MS`, 50 ms; every
  `CLOUD_REALTIME_ACTIVE_POLL_MS`, 10 ms, for a second after a read found events), the
  worst case.
- `--replicas 2`: two replicas on one PostgreSQL database (started with
  scripts/postgres.py unless `--database-url` names one). The subscribers are on the
  first; each event is posted to the last, as a CI job reports a step
  (`POST /api/v1/operations/:id/events` with the operation's runner token), recorded
  there, and reaches the first replica's hub by LISTEN/NOTIFY.

Prints p50 / p90 / p99 / max delay from creation to receipt over every (subscriber, event)
pair, how much of it is the hop to the hub (the first subscriber's delay) and how much
the fan-out (first to last subscriber), and how many deliveries were lost (expected:
events x subscribers).

    python bench/realtime.py                          # 500 subscribers, 200 events
    python bench/realtime.py --replicas 2             # across two replicas on PostgreSQL
    python bench/realtime.py --active-poll-ms 50      # plain 50 ms polling
    python bench/realtime.py --client asyncio --load-processes 2

The target is p99 under 100 ms on a 2-core machine, where the subscribers' own work
shares the cores with the server (the load average before the run is printed: other work
on the machine shows in the tail). BENCH_KEEP_LOG=FILE keeps the servers' logs.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import os
import random
import secrets
import shutil
import sys
import tempfile
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import serving

REPO = Path(__file__).resolve().parents[1]
DEPLOYMENT = "D1BRV40"
ENVIRONMENT = "dev"
TARGET_P99_MS = 100.0
HANDSHAKES_AT_ONCE = 50
JWT_SECRET = "bench-realtime-" + "s" * 32  # shared by the replicas (and the runner token)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=500)
    parser.add_argument("--events", type=int, default=200)
    parser.add_argument("--rate", type=float, default=20.0, help="events per second")
    parser.add_argument("--poll-ms", type=int, help="CLOUD_REALTIME_POLL_MS (default: 50)")
    parser.add_argument(
        "--active-poll-ms", type=int, help="CLOUD_REALTIME_ACTIVE_POLL_MS (default: 10)"
    )
    parser.add_argument(
        "--load-processes", type=int, default=1, help="processes sharing the subscribers"
    )
    parser.add_argument(
        "--client", choices=("sansio", "asyncio"), default="sansio",
        help="subscribers on the websockets library's sans-I/O protocol, or its asyncio client",
    )  # fmt: skip
    parser.add_argument("--drain", type=float, default=3.0, help="seconds to wait for stragglers")
    parser.add_argument(
        "--replicas", type=int, default=1,
        help="2: two replicas on one PostgreSQL (subscribers on one, events through the other)",
    )  # fmt: skip
    parser.add_argument("--database-url", help="PostgreSQL for --replicas (else one is started)")
    args = parser.parse_args()
    load_before = os.getloadavg()[0]  # other work on the machine skews the tail

    with contextlib.ExitStack() as stack:
        scratch = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="cloud-bench-rt-")))
        root = scratch / "repo"
        for folder in ("stacks", "deployments"):
            shutil.copytree(
                REPO / folder, root / folder, ignore=shutil.ignore_patterns("__pycache__")
            )
        database = scratch / ".cloud" / "cloud.db"
        env = {
            **os.environ,
            "CLOUD_REPO_ROOT": str(root),
            "CLOUD_DATA_DIR": str(database.parent),
            "CLOUD_DATABASE": str(database),
            "CLOUD_ENGINE": "simulate",
            "CLOUD_LOG_LEVEL": "warning",
            "CLOUD_JWT_SECRET": JWT_SECRET,
            # the seeds' enterprise tier allows 100 connections per user; one user here
            "CLOUD_REALTIME_CONNECTIONS_ENTERPRISE": str(args.subscribers + 10),
        }
        target: Path | str = database
        if args.replicas > 1:
            url = stack.enter_context(serving.postgres_database(args.database_url))
            if url is None:
                raise SystemExit("--replicas needs PostgreSQL, and none could be started")
            target = url
            env["CLOUD_DATABASE_URL"] = url
        if args.poll_ms is not None:
            env["CLOUD_REALTIME_POLL_MS"] = str(args.poll_ms)
        if args.active_poll_ms is not None:
            env["CLOUD_REALTIME_ACTIVE_POLL_MS"] = str(args.active_poll_ms)
        key = serving.create_api_key(target, ("CompanyA",))
        operation_id = create_operation(target)
        serve = [sys.executable, "-m", "controller.cli.main", "serve"]
        urls = [
            stack.enter_context(serving.running(serve, env, root, scratch / f"replica-{n}.log"))
            for n in range(args.replicas)
        ]
        writer: Any
        if args.replicas > 1:  # events recorded by the other replica, as a CI job reports
            writer = RunnerWriter(urls[-1], operation_id)
        else:  # another process appending to the store: delivery rests on the hub's poll
            writer = StoreWriter(target, operation_id)
        ws_url = urls[0].replace("http://", "ws://") + "/ws"
        delays, lost, connect_s = measure(ws_url, key, writer, operation_id, args)

    if args.replicas > 1:
        how = (
            f"{args.replicas} replicas on PostgreSQL: subscribers on the first, events "
            f"posted to the last (POST /operations/:id/events), carried by LISTEN/NOTIFY"
        )
    else:
        how = (
            f"one server on SQLite, events appended by another process; hub poll "
            f"{args.poll_ms or 50} ms idle, "
            f"{min(args.active_poll_ms or 10, args.poll_ms or 50)} ms while events come"
        )
    expected = args.events * args.subscribers
    print(
        f"{args.subscribers} subscribers on one operation channel, {args.events} events at "
        f"{args.rate:g}/s; {how}; subscribers connected in {connect_s:.1f} s; "
        f"load average before: {load_before:.2f}"
    )
    if not delays:
        print("no deliveries at all")
        return 1
    every = sorted(delay for _, delay in delays)
    first: dict[int, float] = {}
    last: dict[int, float] = {}
    for number, delay in delays:
        first[number] = min(delay, first.get(number, delay))
        last[number] = max(delay, last.get(number, delay))
    spread = sorted(last[number] - first[number] for number in first)
    soonest = sorted(first.values())

    def pick(values: list[float], q: float) -> float:
        return values[min(len(values) - 1, int(q * len(values)))] * 1000

    print(
        f"delay p50: {pick(every, 0.50):.1f} ms   p90: {pick(every, 0.90):.1f} ms   "
        f"p99: {pick(every, 0.99):.1f} ms   max: {every[-1] * 1000:.1f} ms"
    )
    print(
        f"  first subscriber per event p50: {pick(soonest, 0.5):.1f} ms (the hop to the hub); "
        f"first to last subscriber p50: {pick(spread, 0.5):.1f} ms, "
        f"p99: {pick(spread, 0.99):.1f} ms (the fan-out)"
    )
    print(f"deliveries: {len(delays):,} of {expected:,}   lost: {lost:,}")
    ok = pick(every, 0.99) < TARGET_P99_MS and lost == 0
    print(f"target (p99 < {TARGET_P99_MS:g} ms, nothing lost): {'met' if ok else 'MISSED'}")
    return 0 if ok else 1


# --- set-up: the store the server will open ---------------------------------------------------


def create_operation(target: Path | str) -> str:
    from controller.service.http.envelope import timestamp
    from controller.store import OperationRecord, open_store

    operation_id = f"op-{secrets.token_hex(6)}"
    store = open_store(target)
    stamp = timestamp()
    store.create_operation(
        OperationRecord(operation_id, DEPLOYMENT, ENVIRONMENT, "deploy", "in_progress", stamp,
                        stamp, "bench", started_at=stamp)
    )  # fmt: skip
    store.close()
    return operation_id


# --- the run ----------------------------------------------------------------------------------


def measure(
    url: str, key: str, writer: Any, operation_id: str, args: argparse.Namespace
) -> tuple[list[tuple[int, float]], int, float]:
    """Subscribers in processes of their own; the producer here. Delays in seconds."""
    context = multiprocessing.get_context("spawn")
    stop = context.Event()
    channel = f"deployments/{DEPLOYMENT}/operations/{operation_id}"
    settings = {"events": args.events, "client": args.client}
    shares = [len(range(n, args.subscribers, args.load_processes))
              for n in range(args.load_processes)]  # fmt: skip
    loads = []
    for share in shares:
        results, child_end = context.Pipe(duplex=False)
        ready = context.Event()
        process = context.Process(
            target=subscribe_all,
            args=(url, key, channel, share, settings, ready, stop, child_end),
        )
        process.start()
        loads.append((process, ready, results))
    for _, ready, _ in loads:
        if not ready.wait(120):
            for other, _, _ in loads:
                other.terminate()
            raise SystemExit("the subscribers did not all connect in 120 s")
    produce(writer, events=args.events, rate=args.rate)
    deadline = time.monotonic() + args.drain
    delays: list[tuple[int, float]] = []
    received, connect_s = 0, 0.0
    for process, _, results in loads:
        if not results.poll(max(deadline - time.monotonic(), 0)):
            stop.set()  # stragglers: count what arrived, the rest is lost
        some, count, seconds, failures = results.recv()
        delays += some
        received += count
        connect_s = max(connect_s, seconds)
        process.join(timeout=30)
        if failures:
            print(f"subscriber errors: {failures[:5]}")
    return delays, args.events * args.subscribers - received, connect_s


def produce(writer: Any, *, events: int, rate: float) -> None:
    """Record `events` stack.progress events, `rate` per second on average. Arrivals are
    random (Poisson, fixed seed): a metronome at the hub's own polling rate would sample a
    single phase of the poll and skew the figures."""
    arrivals = random.Random(6)
    due = time.perf_counter()
    try:
        for number in range(events):
            due += arrivals.expovariate(rate)
            pause = due - time.perf_counter()
            if pause > 0:
                time.sleep(pause)
            writer.write(number, round(100 * (number + 1) / events))
    finally:
        writer.close()


class StoreWriter:
    """Appends straight into the store, as another process (a second worker) would."""

    def __init__(self, target: Path | str, operation_id: str) -> None:
        from controller.store import open_store

        self.store = open_store(target)
        self.operation_id = operation_id

    def write(self, number: int, progress: int) -> None:
        from controller.service.http.envelope import timestamp
        from controller.store import EventRecord

        payload = {
            "deploymentId": DEPLOYMENT,
            "operationId": self.operation_id,
            "stackName": "network",
            "progress": progress,
            "currentResource": {"type": "aws:ec2/subnet:Subnet", "name": f"subnet-{number}",
                                "action": "creating"},
            "seq": number,
            "sentAt": time.time(),
        }  # fmt: skip
        self.store.append_event(
            EventRecord(self.operation_id, DEPLOYMENT, ENVIRONMENT, "stack.progress",
                        timestamp(), None, payload)
        )  # fmt: skip

    def close(self) -> None:
        self.store.close()


class RunnerWriter:
    """Posts each event to a replica as a CI job reports its steps (seeds/004), with the
    operation's runner token; the time it was sent travels as the step's timestamp."""

    def __init__(self, url: str, operation_id: str) -> None:
        import httpx

        from controller.core.events import RUNNER_TOKEN_HEADER
        from controller.operations.runner_tokens import RunnerTokens

        token = RunnerTokens(JWT_SECRET.encode(), issuer="cloud-controller", clock=time.time)
        self.http = httpx.Client(
            base_url=url,
            headers={RUNNER_TOKEN_HEADER: token.issue(operation_id, DEPLOYMENT, ENVIRONMENT)},
        )
        self.path = f"/api/v1/operations/{operation_id}/events"

    def write(self, number: int, progress: int) -> None:
        event = {"type": "stack.progress", "stackName": "network", "progress": progress,
                 "message": str(number), "timestamp": f"{time.time():.6f}"}  # fmt: skip
        response = self.http.post(self.path, json={"events": [event]})
        if response.status_code != 202:
            raise SystemExit(f"the replica refused an event: {response.text}")

    def close(self) -> None:
        self.http.close()


def subscribe_all(
    url: str,
    key: str,
    channel: str,
    subscribers: int,
    settings: dict[str, Any],
    ready: Any,
    stop: Any,
    results: Connection,
) -> None:
    """A load process: its share of the subscribers, on one event loop."""
    events = settings["events"]
    client = CLIENTS[settings["client"]]
    log = Log()

    async def run() -> float:
        began = time.perf_counter()
        gate = asyncio.Semaphore(HANDSHAKES_AT_ONCE)
        followers = await asyncio.gather(
            *(client.open(url, key, channel, gate=gate, log=log) for _ in range(subscribers))
        )
        connect_s = time.perf_counter() - began
        ready.set()
        while log.received < events * subscribers and not stop.is_set():
            await asyncio.sleep(0.05)
        await asyncio.gather(*(follower.close() for follower in followers))
        return connect_s

    try:
        import uvloop  # uvicorn's event loop: the load's own overhead stays out of the figures
    except ImportError:
        connect_s = asyncio.run(run())
    else:
        connect_s = uvloop.run(run())
    results.send((log.delays, log.received, connect_s, log.failures))


class Log:
    """What one load process saw: the delay of every delivery."""

    def __init__(self) -> None:
        self.delays: list[tuple[int, float]] = []  # (event number, seconds)
        self.received = 0
        self.failures: list[str] = []

    def deliver(self, text: bytes | str, arrived: float, channel: str) -> bool:
        """Note an event's delay; False for anything else (a protocol reply, a heartbeat)."""
        message = json.loads(text)
        if message.get("channel") != channel or "data" not in message:
            return False
        data = message["data"]
        if "sentAt" in data:
            number, sent = data["seq"], data["sentAt"]
        else:  # through a replica's runner endpoint
            number, sent = int(data["message"]), float(data["reportedAt"])
        self.delays.append((number, arrived - sent))
        self.received += 1
        return True


async def sign_in(send: Any, receive: Any, key: str, channel: str) -> None:
    """seeds/001 "Example 3": authenticate with the API key, then subscribe."""
    await send({"type": "authenticate", "apiKey": key})
    reply = await receive()
    if reply["type"] != "authenticated":
        raise RuntimeError(f"authentication refused: {reply}")
    await send({"type": "subscribe", "channel": channel})
    reply = await receive()
    if reply["type"] != "subscribed":
        raise RuntimeError(f"subscription refused: {reply}")


class SansIOSubscriber(asyncio.Protocol):
    """A subscriber on the websockets library's sans-I/O protocol, fed from the transport's
    callback and time-stamped as the bytes arrive. No task hand-off per message: on two
    cores the load process's cost per message lands in the measured tail, and this one
    costs about half of what the asyncio client does. It offers permessage-deflate, as
    browsers do; `cloud serve` declines it, as it would for them."""

    def __init__(self, uri: str, channel: str, log: Log) -> None:
        from websockets.client import ClientProtocol
        from websockets.extensions.permessage_deflate import enable_client_permessage_deflate
        from websockets.uri import parse_uri

        self.protocol = ClientProtocol(
            parse_uri(uri), extensions=enable_client_permessage_deflate(None)
        )
        self.channel = channel
        self.log = log
        self.following = False
        self.replies: asyncio.Queue[Any] = asyncio.Queue()
        self.transport: asyncio.Transport | None = None

    @classmethod
    async def open(
        cls, url: str, key: str, channel: str, *, gate: asyncio.Semaphore, log: Log
    ) -> SansIOSubscriber:
        host, port = url.removeprefix("ws://").split("/")[0].split(":")
        async with gate:
            loop = asyncio.get_running_loop()
            _, subscriber = await loop.create_connection(
                lambda: cls(url, channel, log), host, int(port)
            )
            opened = await subscriber.replies.get()
            if opened != 101:
                raise RuntimeError(f"handshake refused: {opened}")
            await sign_in(subscriber.send, subscriber.replies.get, key, channel)
            subscriber.following = True
            return subscriber

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.protocol.send_request(self.protocol.connect())
        self._flush()

    def data_received(self, data: bytes) -> None:
        arrived = time.time()
        from websockets.frames import Opcode
        from websockets.http11 import Response

        self.protocol.receive_data(data)
        for event in self.protocol.events_received():
            if isinstance(event, Response):
                self.replies.put_nowait(event.status_code)
            elif event.opcode is Opcode.TEXT and not (
                self.following and self.log.deliver(event.data, arrived, self.channel)
            ):
                self.replies.put_nowait(json.loads(event.data))
        self._flush()  # pongs and close frames the protocol queued

    async def send(self, message: dict[str, Any]) -> None:
        self.protocol.send_text(json.dumps(message).encode())
        self._flush()

    def _flush(self) -> None:
        assert self.transport is not None
        for chunk in self.protocol.data_to_send():
            if chunk:
                self.transport.write(chunk)
            elif self.transport.can_write_eof():
                self.transport.write_eof()

    async def close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.protocol.send_close(1000)
            self._flush()
            self.transport.close()


class LibrarySubscriber:
    """A subscriber on the websockets library's asyncio client (one task per connection):
    simpler, and heavier per message; `--client asyncio`."""

    def __init__(self, ws: Any, channel: str, log: Log) -> None:
        self.ws = ws
        self.task = asyncio.create_task(self._follow(channel, log))

    @classmethod
    async def open(
        cls, url: str, key: str, channel: str, *, gate: asyncio.Semaphore, log: Log
    ) -> LibrarySubscriber:
        from websockets.asyncio.client import connect

        async with gate:
            ws = await connect(url, proxy=None, open_timeout=60)

            async def send(message: dict[str, Any]) -> None:
                await ws.send(json.dumps(message))

            async def receive() -> Any:
                return json.loads(await ws.recv())

            await sign_in(send, receive, key, channel)
            return cls(ws, channel, log)

    async def _follow(self, channel: str, log: Log) -> None:
        async for text in self.ws:
            log.deliver(text, time.time(), channel)

    async def close(self) -> None:
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)
        await self.ws.close()


CLIENTS: dict[str, Any] = {
    "sansio": SansIOSubscriber,
    "asyncio": LibrarySubscriber,
}

if __name__ == "__main__":
    sys.exit(main())
