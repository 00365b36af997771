"""A task that runs every few seconds on a thread of its own while the app runs.

The service has several (sharing rate-limit counts, refreshing the realtime connections
it counts): each is a `Periodic` whose `tick` does one round, started by the lifespan
after start-up and stopped before the store closes (the `Background` protocol). A round
that fails is logged and the next one comes as usual: these tasks keep shared state
fresh, and the next round does the same work again.
"""

from __future__ import annotations

import asyncio
import logging
import threading

log = logging.getLogger("cloud.service")


class Periodic:
    name = "periodic"

    def __init__(self, every: float) -> None:
        self.every = every
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def tick(self) -> None:
        raise NotImplementedError

    async def start(self) -> None:
        if self.every <= 0 or self._thread is not None:
            return
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()

    async def stop(self) -> None:
        thread, self._thread = self._thread, None
        if thread is not None:
            self._stopping.set()
            await asyncio.to_thread(thread.join, 5.0)

    def _run(self) -> None:
        while not self._stopping.wait(self.every):
            self.round()

    def round(self) -> None:
        try:
            self.tick()
        except Exception as error:
            log.warning("%s: %s", self.name, error)
