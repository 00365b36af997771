"""Where an operation's events go: the store first, then whoever listens.

Every event of an operation, whichever way it arrives (the local executor, GitHub's
webhooks, a runner's callbacks, the reconciler), passes through one `Recorder`: it is
written to the store, and only then are the listeners (the WebSocket and SSE hub) woken.
An operation ends once: `finish` is a compare-and-set on its status, so two reports of the
same end (a webhook and the reconciler) record one `operation.completed`, release the
deployment environment's lock once and call the `webhookUrl` once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

from controller.core import events
from controller.core.statuses import next_state
from controller.operations.records import (
    RUNNING,
    event_record,
    stack_state_of,
    stack_state_record,
)
from controller.store.base import (
    EventRecord,
    LockRecord,
    OperationRecord,
    RunningLimit,
    Store,
)

log = logging.getLogger(__name__)


def _nothing() -> None:
    return None


class Recorder:
    def __init__(
        self,
        store: Store,
        *,
        now: Callable[[], str],
        notify: Callable[[], None] = _nothing,
        on_finished: Callable[[OperationRecord], None] | None = None,
    ) -> None:
        self.store = store
        self.now = now
        self.notify = notify
        self.on_finished = on_finished

    def start(
        self,
        operation: OperationRecord,
        lock: LockRecord,
        message: dict[str, Any],
        *,
        running_limit: RunningLimit | None = None,
    ) -> LockRecord:
        """Take the lock and record the operation with its `operation.started` message;
        the lock that holds the environment is returned (another one's: nothing written).
        `RunningLimitError` if the starter runs as many operations as `running_limit` allows."""
        holder = self.store.start_operation(
            operation, lock, [event_record(message)], running_limit=running_limit
        )
        if holder == lock:
            self._wake()
        return holder

    def append(self, message: dict[str, Any]) -> EventRecord:
        record = self.store.append_event(event_record(message))
        if message["type"] in (events.STACK_COMPLETED, events.STACK_FAILED):
            self._record_stack_state(message)
        self._wake()
        return record

    def _record_stack_state(self, message: dict[str, Any]) -> None:
        """What a stack's end leaves deployed: the state every status is derived from."""
        data = message["data"]
        stack = data.get("stackName")
        operation = self.store.get_operation(data["operationId"])
        if not stack or operation is None:
            return
        deployment, environment = operation.deployment_id, operation.environment
        previous = next(
            (
                stack_state_of(record)
                for record in self.store.list_stack_states(deployment_id=deployment)
                if record.environment == environment and record.stack == stack
            ),
            None,
        )
        state = next_state(
            previous, message, operation_type=operation.type, started_by=operation.created_by
        )
        if state is not None:
            self.store.put_stack_state(stack_state_record(deployment, environment, stack, state))

    def log(
        self, operation: OperationRecord, message: str, *, level: str = "info", **data: Any
    ) -> EventRecord:
        """Record a log line of `operation`, now."""
        return self.append(
            events.event(
                events.LOG,
                self.now(),
                deploymentId=operation.deployment_id,
                environment=operation.environment,
                operationId=operation.id,
                level=level,
                message=message,
                **data,
            )
        )

    def update(
        self,
        operation_id: str,
        *,
        status: str | None = None,
        payload_patch: dict[str, Any] | None = None,
        started: bool = False,
    ) -> OperationRecord | None:
        """Change a running operation (its status, what its payload says); None if it ended."""
        current = self.store.get_operation(operation_id)
        if current is None or current.status not in RUNNING:
            return None
        at = self.now()
        return self.store.transition_operation(
            operation_id,
            from_statuses=RUNNING,
            status=status or current.status,
            at=at,
            started_at=at if started else None,
            payload_patch=payload_patch,
        )

    def finish(
        self,
        operation_id: str,
        status: str,
        *,
        message: dict[str, Any] | None = None,
        payload_patch: dict[str, Any] | None = None,
        preceding: Sequence[dict[str, Any]] = (),
        **data: Any,
    ) -> OperationRecord | None:
        """End a running operation with `status`; None if it had already ended.

        `message` is its `operation.completed` event (the executor's); without one, it is
        made from `data`. `preceding` events (the stacks an interruption cut) are recorded
        in the same compare-and-set, so two replicas ending it at once record them once.
        The lock goes first, so that whoever reads the final status can start the next
        operation at once.
        """
        current = self.store.get_operation(operation_id)
        if current is None or current.status not in RUNNING:
            return None
        lock = self.store.get_lock(current.deployment_id, current.environment)
        if lock is not None and lock.operation_id == operation_id:
            self.store.release_lock(lock)
        at = self.now()
        if message is None:
            message = events.event(
                events.OPERATION_COMPLETED,
                at,
                deploymentId=current.deployment_id,
                environment=current.environment,
                operationId=operation_id,
                operationType=current.type,
                status=status,
                **data,
            )
        done = self.store.transition_operation(
            operation_id,
            from_statuses=RUNNING,
            status=status,
            at=at,
            completed_at=at,
            payload_patch=payload_patch,
            events=[*(event_record(m) for m in preceding), event_record(message)],
        )
        if done is None:
            return None
        self._wake()
        if self.on_finished is not None:
            try:
                self.on_finished(done)
            except Exception:  # a callback must not undo a finished operation
                log.exception("after-finish hook failed for %s", operation_id)
        return done

    def _wake(self) -> None:
        try:
            self.notify()
        except Exception:
            log.exception("waking the event listeners failed")
