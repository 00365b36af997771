"""A CI job's steps, reported to the service as they happen (seeds/004 "POST /steps/").

`cloud run-stack` adds this subscriber when it is given the service's URL and the
operation's runner token (the GitHub dispatcher passes both). Events are sent in small
batches to `POST /api/v1/operations/<id>/events`; a stack starting or ending is sent at
once. Reporting is best effort: a service that is down or refuses costs a warning, never
the job (the run's result still reaches the service through GitHub's webhooks).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any

import requests

from controller.core.events import RUNNER_DATA_KEYS, RUNNER_TOKEN_HEADER

FLUSH_AT_ONCE = {"stack.started", "stack.completed", "stack.skipped", "stack.failed"}


def runner_event(message: dict[str, Any]) -> dict[str, Any] | None:
    """An executor message as the events endpoint takes it (operation.* are the run's)."""
    if message["type"].startswith("operation."):
        return None
    data = message.get("data", {})
    event: dict[str, Any] = {"type": message["type"], "timestamp": message.get("timestamp")}
    for key, field in (
        ("stackName", "stackName"),
        ("status", "status"),
        ("progress", "progress"),
        ("level", "level"),
        ("message", "message"),
    ):
        if data.get(key) is not None:
            event[field] = data[key]
    if isinstance(event.get("message"), str):
        event["message"] = event["message"][:8000]
    event["data"] = {key: data[key] for key in RUNNER_DATA_KEYS if key in data}
    return event


class ServiceReporter:
    def __init__(
        self,
        service_url: str,
        operation_id: str,
        token: str,
        *,
        session: Any = None,
        timeout: float = 5.0,
        attempts: int = 3,
        batch: int = 50,
        sleep: Callable[[float], None] = time.sleep,
        warn: Callable[[str], None] | None = None,
    ) -> None:
        self.url = f"{service_url.rstrip('/')}/api/v1/operations/{operation_id}/events"
        self.token = token
        self.session = session or requests.Session()
        self.timeout = timeout
        self.attempts = attempts
        self.batch = batch
        self.sleep = sleep
        self.warn = warn or (lambda text: print(f"cloud: {text}", file=sys.stderr))
        self.buffer: list[dict[str, Any]] = []
        self.enabled = True
        self.sent = 0

    def __call__(self, message: dict[str, Any]) -> None:
        event = runner_event(message)
        if event is None or not self.enabled:
            return
        self.buffer.append(event)
        if message["type"] in FLUSH_AT_ONCE or len(self.buffer) >= self.batch:
            self.flush()

    def flush(self) -> None:
        if not self.buffer or not self.enabled:
            return
        events, self.buffer = self.buffer[:200], self.buffer[200:]
        problem = ""
        for attempt in range(1, self.attempts + 1):
            try:
                response = self.session.post(
                    self.url,
                    json={"events": events},
                    headers={RUNNER_TOKEN_HEADER: self.token},
                    timeout=self.timeout,
                )
            except requests.RequestException as error:
                problem = f"{type(error).__name__}"
            else:
                if response.status_code < 300:
                    self.sent += len(events)
                    break
                problem = f"answered {response.status_code}"
                if response.status_code < 500 and response.status_code != 429:
                    # refused (a spent or wrong token): stop trying for this job
                    self.enabled = False
                    break
            if attempt < self.attempts:
                self.sleep(0.5 * 2 ** (attempt - 1))
        else:
            self.warn(f"could not report {len(events)} step(s) to the service ({problem})")
            return
        if not self.enabled:
            self.warn(f"the service refused this job's reports ({problem}); not sending more")
        elif self.buffer:
            self.flush()

    def close(self) -> None:
        self.flush()
