"""The event hub: it follows the store's events and fans them out to this process's subscribers.

Whoever records an operation's events (the local executor, GitHub's webhooks, a runner's
callbacks, on this replica or another) only appends them to the store. The hub of each
uvicorn worker reads what is new (`list_events(after_id=…)`) and hands each event to the
subscribers of its channels (`deployments/:id`, `…/operations/:opId`, `…/stacks/:stack`,
`…/environments/:env`). The store stays the one record: what a subscriber sees was
persisted first, and a reader that knows the last id it saw misses nothing.

When to read:

- PostgreSQL announces every event's id (`NOTIFY cloud_events`, through the store's
  `watch`): the hub reads when told, and never polls. A lost connection is caught up by
  id when it comes back.
- SQLite cannot announce across processes: while someone subscribes, the hub reads every
  `CLOUD_REALTIME_POLL_MS` (every `CLOUD_REALTIME_ACTIVE_POLL_MS` for a second after it
  found some), or at once when `notify()` is called after an append in this process.
- With no subscriber, the store is not read at all. A subscriber first awaits `ready()`,
  which, after such a pause, moves the hub's position to the newest event before the
  subscriber reads its own catch-up: nothing falls between the two.

The store is read on a thread of the hub's own, so a slow query or a writer holding the
database never stalls the event loop; the events are then published on the loop in one
callback per batch. Publishing never waits on a subscriber: a `Sink` takes a delivery
without blocking (each has a bounded queue of its own and drops itself when it is full),
so a slow consumer cannot slow the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from controller.core.events import channels_of
from controller.operations.records import event_data
from controller.store.base import EventRecord, Store

logger = logging.getLogger("cloud.realtime")

BATCH = 500  # events read per query; a backlog is drained in several
RETRY_SECONDS = 1.0  # pause after a failed read of the store
ACTIVE_SECONDS = 1.0  # how long after finding events the store is read at the active pace


def event_channels(record: EventRecord, data: dict[str, Any]) -> list[str]:
    routing = {**data, "environment": record.environment or data.get("environment")}
    return channels_of({"data": routing})


@dataclass(slots=True)
class Delivery:
    """One event on one channel, shared by every subscriber of that channel: the JSON of
    the WebSocket message is encoded once, when the first subscriber asks for it."""

    channel: str
    record: EventRecord
    data: dict[str, Any]
    _text: str | None = field(default=None, repr=False)

    def message(self) -> dict[str, Any]:
        return {
            "type": self.record.type,
            "timestamp": self.record.at,
            "channel": self.channel,
            "data": self.data,
        }

    @property
    def text(self) -> str:
        if self._text is None:
            self._text = json.dumps(self.message(), separators=(",", ":"), default=str)
        return self._text


class Sink(Protocol):
    """A subscriber. `offer` runs on the event loop, must not block and must not raise."""

    def offer(self, delivery: Delivery) -> None: ...


def latest_event_id(store: Store) -> int:
    """The id of the newest event (0 when there is none)."""
    newest = store.list_events(limit=1, newest_first=True)
    return (newest[0].id or 0) if newest else 0


def recent_events(
    store: Store, *, deployment_id: str, operation_id: str, limit: int
) -> list[EventRecord]:
    """The newest `limit` events an operation recorded, oldest first (what a subscriber
    who arrives after the operation started has missed)."""
    newest = store.list_events(
        operation_id=operation_id, deployment_id=deployment_id, limit=limit, newest_first=True
    )
    return newest[::-1]


class EventHub:
    """Subscriptions by channel, and the thread that follows the store."""

    def __init__(
        self,
        store: Store,
        *,
        poll_seconds: float = 0.05,
        active_poll_seconds: float | None = None,
        batch: int = BATCH,
        retry_seconds: float = RETRY_SECONDS,
    ) -> None:
        self.store = store
        self.poll_seconds = poll_seconds
        # while events keep coming (an operation is running) the store is read more often:
        # writers in other processes cannot notify(), and a read that finds nothing is cheap
        self.active_poll_seconds = min(active_poll_seconds or poll_seconds, poll_seconds)
        self.batch = batch
        self.retry_seconds = retry_seconds
        self.last_id: int | None = None
        self.published = 0
        self.reads = 0  # queries of the store's events (tests: none while nobody listens)
        self.pushed = False  # the store announces events (PostgreSQL): no polling
        self._sinks: dict[str, set[Sink]] = {}
        self._count = 0
        self._cold = True  # the position may be behind: read the newest id before serving
        self._position = threading.Lock()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    # --- subscriptions (event loop only) ------------------------------------------------

    async def ready(self) -> None:
        """Before a subscriber reads its catch-up from the store: after a pause with no
        subscriber (SQLite) or a lost notification connection (PostgreSQL), the hub's
        position moves to the newest event, so that what the subscriber's read does not
        include, the hub delivers."""
        if not self._cold and (self.pushed or self._count):
            return  # followed without a pause: the position is current
        latest = await asyncio.to_thread(self._read_latest)
        with self._position:
            self.last_id = max(self.last_id or 0, latest)
            self._cold = False

    def subscribe(self, channel: str, sink: Sink) -> None:
        sinks = self._sinks.setdefault(channel, set())
        if sink not in sinks:
            sinks.add(sink)
            self._count += 1
            if self._count == 1:
                self._wake.set()

    def unsubscribe(self, channel: str, sink: Sink) -> None:
        sinks = self._sinks.get(channel)
        if sinks is not None and sink in sinks:
            sinks.discard(sink)
            self._count -= 1
            if not sinks:
                del self._sinks[channel]
            if self._count == 0 and not self.pushed:
                self._cold = True  # other processes' events now go unread

    def subscribers(self, channel: str | None = None) -> int:
        if channel is not None:
            return len(self._sinks.get(channel, ()))
        return self._count

    # --- the background task ------------------------------------------------------------

    async def start(self) -> None:
        """Start following from the newest event: history is not replayed to subscribers."""
        if self._thread is not None:
            return
        self._loop = asyncio.get_running_loop()
        self._stopping.clear()
        watch = getattr(self.store, "watch", None)  # fakes of the store may not have it
        self.pushed = bool(watch is not None and watch(self._heard))
        try:
            await self.ready()
        except Exception as error:  # the thread retries; the service starts anyway
            logger.warning("event hub: cannot read the store yet: %s", type(error).__name__)
        self._thread = threading.Thread(target=self._run, name="event-hub", daemon=True)
        self._thread.start()

    async def stop(self) -> None:
        thread, self._thread = self._thread, None
        if thread is None:
            return
        self._stopping.set()
        self._wake.set()
        await asyncio.to_thread(thread.join, 5.0)

    def notify(self, event_id: int | None = None) -> None:
        """Read the store now rather than at the next poll. Safe from any thread."""
        if self._count:
            self._wake.set()
        elif event_id is not None:
            # nobody listens: what was recorded up to here is nobody's to deliver
            with self._position:
                if not self._cold:
                    self.last_id = max(self.last_id or 0, event_id)

    def _heard(self, kind: str, payload: str) -> None:
        """The store's notifications (PostgreSQL), on its listener thread."""
        if kind == "events":
            try:
                self.notify(int(payload))
            except ValueError:
                self.notify()
        elif kind == "reconnected":
            if self._count:
                self._wake.set()  # catch up by id on what the lost connection missed
            else:
                self._cold = True

    def _read_latest(self) -> int:
        self.reads += 1
        return latest_event_id(self.store)

    def _run(self) -> None:
        failing = False
        active_until = 0.0
        while not self._stopping.is_set():
            if self._count == 0 or self.pushed:
                self._wake.wait()  # no subscriber, or the store tells: nothing to poll
            else:
                active = time.monotonic() < active_until
                self._wake.wait(self.active_poll_seconds if active else self.poll_seconds)
            self._wake.clear()
            if self._stopping.is_set():
                break
            if self._count == 0:
                continue
            try:
                if self._drain():
                    active_until = time.monotonic() + ACTIVE_SECONDS
            except Exception as error:
                if not failing:
                    logger.warning("event hub: reading events failed: %s", error)
                failing = True
                self._stopping.wait(self.retry_seconds)
                self._wake.set()  # try again
            else:
                if failing:
                    logger.info("event hub: reading events again")
                failing = False

    def _drain(self) -> int:
        """Hand what is new to the event loop; how many events that was."""
        if self.last_id is None or self._cold:
            latest = self._read_latest()
            with self._position:
                if self.last_id is None or self._cold:
                    self.last_id = max(self.last_id or 0, latest)
                    self._cold = False
        found = 0
        while not self._stopping.is_set():
            after = self.last_id or 0
            self.reads += 1
            records = self.store.list_events(after_id=after, limit=self.batch)
            if not records:
                break
            found += len(records)
            with self._position:
                self.last_id = max(self.last_id or 0, records[-1].id or after)
            self._call_soon(self.publish, records)
            if len(records) < self.batch:
                break
        return found

    def _call_soon(self, callback: Callable[[list[EventRecord]], None], records: Any) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        with contextlib.suppress(RuntimeError):  # the loop closed: the app is stopping
            loop.call_soon_threadsafe(callback, records)

    # --- fan-out (event loop) -----------------------------------------------------------

    def publish(self, records: list[EventRecord]) -> None:
        """Hand each event to the sinks of each of its channels, in order, without waiting."""
        for record in records:
            self.published += 1
            data = event_data(record)
            for channel in event_channels(record, data):
                sinks = self._sinks.get(channel)
                if not sinks:
                    continue
                delivery = Delivery(channel, record, data)
                for sink in tuple(sinks):  # a sink may unsubscribe itself (overflow)
                    try:
                        sink.offer(delivery)
                    except Exception:  # a broken subscriber must not starve the others
                        logger.exception("event hub: a subscriber failed")
