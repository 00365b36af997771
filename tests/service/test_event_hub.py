"""The event hub on a real SQLite store: where it starts, how it wakes, whom it tells."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from controller.service.realtime.hub import Delivery, EventHub, latest_event_id
from controller.store import EventRecord, OperationRecord, open_store
from controller.store.sqlite import SQLiteStore

AT = "2025-10-09T16:00:00.000Z"


def operation(store: SQLiteStore, op: str = "op-1", deployment: str = "D1BRV40") -> str:
    store.create_operation(
        OperationRecord(op, deployment, "dev", "deploy", "running", AT, AT, "me")
    )
    return op


def append(
    store: SQLiteStore,
    op: str = "op-1",
    *,
    deployment: str = "D1BRV40",
    kind: str = "stack.started",
    **payload: Any,
) -> EventRecord:
    data = {"deploymentId": deployment, "operationId": op, **payload}
    return store.append_event(EventRecord(op, deployment, "dev", kind, AT, None, data))


class Collector:
    def __init__(self) -> None:
        self.deliveries: list[Delivery] = []

    def offer(self, delivery: Delivery) -> None:
        self.deliveries.append(delivery)


def until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.002)


async def until_async(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.002)


@pytest.mark.parametrize(
    ("count", "deleted"),
    [
        pytest.param(0, "", id="empty"),
        pytest.param(1, "", id="one"),
        pytest.param(37, "", id="several"),
        pytest.param(300, "id % 7 = 0 OR id BETWEEN 100 AND 180", id="with-gaps"),
        pytest.param(300, "id > 250", id="newest-deleted"),
    ],
)
def test_the_newest_event_id_is_found_through_the_store_protocol(count: int, deleted: str) -> None:
    store = open_store(":memory:")
    op = operation(store)
    for _ in range(count):
        append(store, op)
    if deleted:
        store._db.execute(f"DELETE FROM events WHERE {deleted}")
    newest = store._db.execute("SELECT COALESCE(MAX(id), 0) FROM events").fetchone()[0]
    assert latest_event_id(store) == newest


def test_history_is_not_replayed_and_new_events_are_delivered_in_order() -> None:
    store = open_store(":memory:")
    op = operation(store)
    for _ in range(3):
        append(store, op, stackName="old")
    collector = Collector()

    async def scenario() -> list[str]:
        hub = EventHub(store, poll_seconds=0.01)
        hub.subscribe(f"deployments/D1BRV40/operations/{op}", collector)
        await hub.start()
        try:
            for name in ("network", "database", "compute"):
                append(store, op, stackName=name)
            await until_async(lambda: len(collector.deliveries) == 3)
        finally:
            await hub.stop()
        return [d.data["stackName"] for d in collector.deliveries]

    assert asyncio.run(scenario()) == ["network", "database", "compute"]


def test_notify_wakes_the_hub_at_once_from_another_thread() -> None:
    store = open_store(":memory:")
    op = operation(store)
    collector = Collector()

    async def scenario() -> float:
        hub = EventHub(store, poll_seconds=30.0)  # without notify: half a minute
        hub.subscribe("deployments/D1BRV40", collector)
        await hub.start()
        try:
            began = time.monotonic()

            def writer() -> None:
                append(store, op)
                hub.notify()

            threading.Thread(target=writer).start()
            await until_async(lambda: len(collector.deliveries) == 1)
            return time.monotonic() - began
        finally:
            await hub.stop()

    assert asyncio.run(scenario()) < 1.0


def test_events_written_by_another_process_arrive_by_polling(tmp_path: Path) -> None:
    path = tmp_path / "cloud.db"
    service_store, other_process = open_store(path), open_store(path)
    op = operation(other_process)
    collector = Collector()

    async def scenario() -> int:
        hub = EventHub(service_store, poll_seconds=0.01)
        hub.subscribe("deployments/D1BRV40/stacks/network", collector)
        await hub.start()
        try:
            append(other_process, op, stackName="network")
            append(other_process, op, stackName="database")  # another stack's channel
            append(other_process, op, stackName="network", kind="stack.completed")
            await until_async(lambda: len(collector.deliveries) == 2)
            await asyncio.sleep(0.05)
            return len(collector.deliveries)
        finally:
            await hub.stop()

    assert asyncio.run(scenario()) == 2
    assert [d.record.type for d in collector.deliveries] == ["stack.started", "stack.completed"]
    assert {d.channel for d in collector.deliveries} == {"deployments/D1BRV40/stacks/network"}


def test_while_events_come_the_store_is_read_at_the_active_pace(tmp_path: Path) -> None:
    """An operation running in another worker: after a read finds events, the next ones
    are found within the active interval, not the idle one."""
    path = tmp_path / "cloud.db"
    service_store, other_worker = open_store(path), open_store(path)
    op = operation(other_worker)
    collector = Collector()

    async def scenario() -> float:
        hub = EventHub(service_store, poll_seconds=30.0, active_poll_seconds=0.01)
        hub.subscribe("deployments/D1BRV40", collector)
        await hub.start()
        try:
            append(other_worker, op)
            hub.notify()  # the first one: found at once (idle, the poll would take 30 s)
            await until_async(lambda: len(collector.deliveries) == 1)
            began = time.monotonic()
            append(other_worker, op)  # no notify: another process wrote it
            await until_async(lambda: len(collector.deliveries) == 2)
            return time.monotonic() - began
        finally:
            await hub.stop()

    assert asyncio.run(scenario()) < 1.0


def test_an_event_reaches_the_four_channel_patterns_with_one_encoding_per_channel() -> None:
    store = open_store(":memory:")
    op = operation(store)
    record = append(store, op, stackName="network", environment="dev")
    hub = EventHub(store)
    channels = [
        "deployments/D1BRV40",
        f"deployments/D1BRV40/operations/{op}",
        "deployments/D1BRV40/stacks/network",
        "deployments/D1BRV40/environments/dev",
        "deployments/D1BRV40/environments/prod",
        "deployments/D2K7Q1M",
    ]
    collectors = {channel: (Collector(), Collector()) for channel in channels}
    for channel, pair in collectors.items():
        for collector in pair:
            hub.subscribe(channel, collector)
    hub.publish([record])
    for channel, (first, second) in collectors.items():
        expected = 0 if channel.endswith(("prod", "D2K7Q1M")) else 1
        assert len(first.deliveries) == len(second.deliveries) == expected, channel
        if expected:
            assert first.deliveries[0] is second.deliveries[0]  # shared: encoded once
            assert first.deliveries[0].message() == {
                "type": "stack.started",
                "timestamp": AT,
                "channel": channel,
                "data": {
                    "deploymentId": "D1BRV40",
                    "operationId": op,
                    "stackName": "network",
                    "environment": "dev",
                },
            }


def test_an_event_is_routed_by_the_ids_the_store_recorded_not_by_its_payload() -> None:
    """A runner's callback cannot aim its events at another deployment's subscribers."""
    store = open_store(":memory:")
    op = operation(store)
    spoofed = store.append_event(
        EventRecord(op, "D1BRV40", "dev", "log", AT, None,
                    {"deploymentId": "D2K7Q1M", "operationId": "op-theirs", "message": "hi"})
    )  # fmt: skip
    hub = EventHub(store)
    theirs, ours = Collector(), Collector()
    hub.subscribe("deployments/D2K7Q1M", theirs)
    hub.subscribe("deployments/D2K7Q1M/operations/op-theirs", theirs)
    hub.subscribe("deployments/D1BRV40", ours)
    hub.publish([spoofed])
    assert theirs.deliveries == []
    assert ours.deliveries[0].data["deploymentId"] == "D1BRV40"
    assert ours.deliveries[0].data["operationId"] == op


def test_a_failing_or_departing_subscriber_does_not_stop_the_others() -> None:
    store = open_store(":memory:")
    op = operation(store)
    hub = EventHub(store)
    channel = "deployments/D1BRV40"

    class Broken:
        def offer(self, delivery: Delivery) -> None:
            raise RuntimeError("broken display")

    class Leaving:
        def offer(self, delivery: Delivery) -> None:
            hub.unsubscribe(channel, self)  # as a session does when its queue overflows

    after = Collector()
    for sink in (Broken(), Leaving(), after):
        hub.subscribe(channel, sink)
    hub.publish([append(store, op), append(store, op)])
    assert len(after.deliveries) == 2
    assert hub.subscribers(channel) == 2  # the leaving one is gone


class FlakyStore:
    """The store, failing its first `failures` reads of events (a locked database)."""

    def __init__(self, store: SQLiteStore, failures: int) -> None:
        self.store = store
        self.failures = failures

    def list_events(self, **query: Any) -> list[EventRecord]:
        if self.failures > 0:
            self.failures -= 1
            raise RuntimeError("database is locked")
        return self.store.list_events(**query)


def test_the_hub_keeps_running_when_the_store_fails_for_a_while() -> None:
    store = open_store(":memory:")
    op = operation(store)
    flaky = FlakyStore(store, failures=5)  # the start-up probe fails too
    collector = Collector()

    async def scenario() -> None:
        hub = EventHub(flaky, poll_seconds=0.01, retry_seconds=0.01)  # type: ignore[arg-type]
        hub.subscribe("deployments/D1BRV40", collector)
        await hub.start()
        try:
            await until_async(lambda: hub.last_id is not None)  # it found where to start
            append(store, op)
            hub.notify()
            await until_async(lambda: len(collector.deliveries) == 1)
        finally:
            await hub.stop()

    asyncio.run(scenario())


class CountingStore:
    """The store, counting the hub's reads of events."""

    def __init__(self, store: Any) -> None:
        self.store = store
        self.reads = 0

    def list_events(self, **query: Any) -> list[EventRecord]:
        self.reads += 1
        return self.store.list_events(**query)

    def watch(self, listener: Any) -> bool:
        return self.store.watch(listener)


def test_with_no_subscriber_the_store_is_not_read_at_all(tmp_path: Path) -> None:
    path = tmp_path / "cloud.db"
    store, other_process = CountingStore(open_store(path)), open_store(path)
    op = operation(other_process)
    collector = Collector()

    async def scenario() -> tuple[int, int]:
        hub = EventHub(store, poll_seconds=0.01)  # type: ignore[arg-type]
        await hub.start()
        try:
            before = store.reads
            for _ in range(3):
                append(other_process, op)
                hub.notify()
                await asyncio.sleep(0.1)
            idle_reads = store.reads - before
            await hub.ready()
            hub.subscribe("deployments/D1BRV40", collector)
            append(other_process, op, stackName="after")
            await until_async(lambda: len(collector.deliveries) == 1)
            return idle_reads, store.reads - before
        finally:
            await hub.stop()

    idle_reads, reads = asyncio.run(scenario())
    assert idle_reads == 0
    assert reads >= 2  # the newest id, then the new event
    assert [d.data.get("stackName") for d in collector.deliveries] == ["after"]  # not the old


def test_on_postgresql_events_from_another_replica_arrive_by_notification(
    postgres_url: str,
) -> None:
    """The hub never polls (30 s would be too late): the replica that wrote announces."""
    store, other_replica = CountingStore(open_store(postgres_url)), open_store(postgres_url)
    op = operation(other_replica)
    collector = Collector()

    async def scenario() -> tuple[int, float]:
        hub = EventHub(store, poll_seconds=30.0)  # type: ignore[arg-type]
        await hub.start()
        try:
            assert hub.pushed
            before = store.reads
            for _ in range(5):
                append(other_replica, op, stackName="unseen")
            await asyncio.sleep(0.3)
            idle_reads = store.reads - before
            await hub.ready()
            hub.subscribe("deployments/D1BRV40/stacks/network", collector)
            began = time.monotonic()
            for name in ("network", "database", "network"):
                append(other_replica, op, stackName=name)
            await until_async(lambda: len(collector.deliveries) == 2)
            return idle_reads, time.monotonic() - began
        finally:
            await hub.stop()

    idle_reads, took = asyncio.run(scenario())
    assert idle_reads == 0
    assert took < 5.0
    assert [d.data["stackName"] for d in collector.deliveries] == ["network", "network"]
    store.store.close()
    other_replica.close()


def test_on_postgresql_a_lost_notification_connection_is_caught_up_by_id(
    postgres_url: str,
) -> None:
    import psycopg

    store, other_replica = open_store(postgres_url), open_store(postgres_url)
    op = operation(other_replica)
    collector = Collector()

    async def scenario() -> list[int]:
        hub = EventHub(store, poll_seconds=30.0)
        await hub.start()
        try:
            await hub.ready()
            hub.subscribe("deployments/D1BRV40", collector)
            append(other_replica, op, seq=0)
            await until_async(lambda: len(collector.deliveries) == 1)
            with psycopg.connect(postgres_url, autocommit=True) as admin:
                admin.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE query LIKE 'LISTEN%%' AND datname = current_database()"
                )
            await until_async(lambda: not store.listening())  # type: ignore[attr-defined]
            for seq in (1, 2, 3):  # while nobody hears the notifications
                append(other_replica, op, seq=seq)
            await until_async(lambda: len(collector.deliveries) == 4, timeout=10)
            return [d.data["seq"] for d in collector.deliveries]
        finally:
            await hub.stop()

    assert asyncio.run(scenario()) == [0, 1, 2, 3]
    store.close()
    other_replica.close()
