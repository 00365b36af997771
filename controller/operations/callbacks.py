"""`webhookUrl`: when an operation ends, its result is POSTed to the URL its caller gave.

In a worker thread, after the operation's end is recorded (a slow or dead receiver never
holds anything up). The sender (`adapters.callbacks`) refuses anything but https to a
public address and retries; the outcome is recorded as a log event of the operation.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from controller.adapters.callbacks import CallbackSender
from controller.store.base import OperationRecord

log = logging.getLogger(__name__)


def callback_body(operation: OperationRecord) -> dict[str, Any]:
    payload = operation.payload
    return {
        "event": "operation.completed",
        "operationId": operation.id,
        "deploymentId": operation.deployment_id,
        "environment": operation.environment,
        "type": operation.type,
        "status": operation.status,
        "startedAt": operation.started_at,
        "completedAt": operation.completed_at,
        "startedBy": operation.created_by,
        "result": payload.get("result", {}),
        "error": payload.get("error"),
        "statusUrl": f"/api/v1/deployments/{operation.deployment_id}/operations/{operation.id}",
    }


class Callbacks:
    def __init__(
        self,
        sender: CallbackSender,
        *,
        log: Callable[..., Any],
    ) -> None:
        self.sender = sender
        self.log = log  # Recorder.log: the outcome becomes a log line of the operation
        self.pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="webhook-url")
        self.pending: list[Future[None]] = []

    def __call__(self, operation: OperationRecord) -> None:
        url = operation.payload.get("webhookUrl")
        if url:
            self.pending = [f for f in self.pending if not f.done()]
            self.pending.append(self.pool.submit(self._send, operation, str(url)))

    def drain(self, timeout: float | None = None) -> None:
        for future in list(self.pending):
            future.result(timeout)

    def _send(self, operation: OperationRecord, url: str) -> None:
        try:
            status = self.sender.send(url, callback_body(operation))
            level, message = "info", f"webhookUrl answered {status}"
        except Exception as error:  # refused, unreachable, or answered an error
            level, message = "warning", f"webhookUrl callback failed: {error}"
        try:
            self.log(operation, message, level=level)
        except Exception:
            log.exception("recording the webhookUrl outcome of %s failed", operation.id)

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)
