"""The local dispatcher: operations run on the engine issue's executor, in this process.

Each operation runs in a thread of its own (its stacks in the executor's pool, each in a
child process); its events go to the recorder as they happen. While it runs, its lock's
lease is renewed; cancel stops it starting stacks (running ones finish: a stack is never
cut in half on purpose).

A process can die in the middle (SIGKILL, a crash, the machine). What it recorded stays
recorded; on the next start (and every lease period after), an operation whose owner is
gone is reported as failed, with the stacks that were running marked interrupted and
their engine lock released, so that a retry can finish it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from controller.core import events
from controller.core.catalog import Deployment
from controller.core.operations import failure_of, fold_stacks
from controller.engines.base import Engine
from controller.execution.executor import Executor, RunSettings
from controller.execution.specs import stack_spec
from controller.operations.control import Prepared
from controller.operations.owners import local_owner, owner_liveness
from controller.operations.recorder import Recorder
from controller.operations.records import RUNNING, message_of
from controller.store.base import LockRecord, OperationRecord, Store

log = logging.getLogger(__name__)

INTERRUPTED = "OPERATION_INTERRUPTED"
RESULT_KEYS = (
    "duration",
    "stacksSucceeded",
    "stacksSkipped",
    "stacksFailed",
    "stacksBlocked",
    "resourcesCreated",
)


@dataclass
class _Run:
    operation: OperationRecord
    executor: Executor
    lock: LockRecord
    thread: threading.Thread
    stop_reason: str = ""


class LocalDispatcher:
    name = "local"
    initial_status = "in_progress"

    def __init__(
        self,
        store: Store,
        recorder: Recorder,
        *,
        engine: Callable[[], Engine],
        deployment: Callable[[str], Deployment | None],
        repo_root: Path,
        clock: Callable[[], float],
        iso: Callable[[float], str],
        lease_seconds: int = 120,
        default_parallel: int = 4,
        stop_timeout: float = 30.0,
        owner: str | None = None,
    ) -> None:
        self.store = store
        self.recorder = recorder
        self.engine = engine
        self.deployment = deployment
        self.repo_root = repo_root
        self.clock = clock
        self.iso = iso
        self.lease_seconds = lease_seconds
        self.default_parallel = default_parallel
        self.stop_timeout = stop_timeout
        self.owner = owner or local_owner()
        self._runs: dict[str, _Run] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._renewer: threading.Thread | None = None

    # --- the Dispatcher protocol ------------------------------------------------------------

    def launch(self, operation: OperationRecord, prepared: Prepared) -> None:
        request = prepared.request
        settings = RunSettings(
            operation_id=operation.id,
            parallel=request.parallel or self.default_parallel,
            continue_on_error=request.continue_on_error,
            smart_skip=request.smart_skip and not request.force,
            commit=prepared.commit,
            started_by=request.started_by,
            max_retries=request.max_retries,
            env=dict(request.env),
        )
        executor = Executor(
            prepared.engine,
            repo_root=prepared.repo_root,
            settings=settings,
            subscribers=[self._subscriber(operation.id, prepared)],
        )
        lock = self.store.get_lock(operation.deployment_id, operation.environment)
        if lock is None or lock.operation_id != operation.id:  # pragma: no cover - just taken
            lock = LockRecord(
                operation.deployment_id, operation.environment, operation.id, self.owner, "", ""
            )
        thread = threading.Thread(
            target=self._run,
            args=(operation, prepared, executor),
            name=f"operation-{operation.id}",
            daemon=True,
        )
        with self._lock:
            self._runs[operation.id] = _Run(operation, executor, lock, thread)
        thread.start()

    def cancel(self, operation: OperationRecord, *, by: str) -> bool:
        with self._lock:
            run = self._runs.get(operation.id)
        if run is not None:
            run.stop_reason = f"cancelled by {by}"
            run.executor.stop(run.stop_reason)
            return True
        # Not ours: if its owner is gone, it is interrupted (and so, ended) now.
        return operation.id in self.recover(only=operation.id) or self._ended(operation.id)

    # --- background: renew leases, notice the dead ------------------------------------------

    async def start(self) -> None:
        import asyncio

        await asyncio.to_thread(self.recover)
        self._stopping.clear()
        self._renewer = threading.Thread(target=self._renew_loop, name="lease-renewer", daemon=True)
        self._renewer.start()

    async def stop(self) -> None:
        import asyncio

        self._stopping.set()
        with self._lock:
            runs = list(self._runs.values())
        for run in runs:
            run.stop_reason = "the service is stopping"
            run.executor.stop(run.stop_reason)
        await asyncio.to_thread(self.join, self.stop_timeout)

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the running operations to end; False if some still run at `timeout`."""
        with self._lock:
            threads = [run.thread for run in self._runs.values()]
        for thread in threads:
            thread.join(timeout)
        return not any(thread.is_alive() for thread in threads)

    def running(self) -> list[str]:
        with self._lock:
            return sorted(self._runs)

    def _renew_loop(self) -> None:
        period = max(1.0, self.lease_seconds / 3)
        while not self._stopping.wait(period):
            try:
                self.renew()
                self.recover()
            except Exception:
                log.exception("renewing operation leases failed")

    def renew(self) -> None:
        until = self.iso(self.clock() + self.lease_seconds)
        with self._lock:
            runs = list(self._runs.values())
        for run in runs:
            if not self.store.renew_lock(run.lock, lease_expires_at=until):
                log.warning("operation %s lost its lock; stopping it", run.operation.id)
                run.stop_reason = "lost the deployment environment's lock (lease expired)"
                run.executor.stop(run.stop_reason)

    # --- running ----------------------------------------------------------------------------

    def _subscriber(
        self, operation_id: str, prepared: Prepared
    ) -> Callable[[dict[str, Any]], None]:
        failed: dict[str, dict[str, Any]] = {}  # stack -> its error, to say why the op failed

        def record(message: dict[str, Any]) -> None:
            kind = message["type"]
            if kind == events.OPERATION_STARTED:
                return  # recorded with the operation, before the 202
            if kind == events.STACK_FAILED:
                failed[message["data"]["stackName"]] = dict(message["data"].get("error") or {})
            elif kind == events.STACK_COMPLETED:
                failed.pop(message["data"]["stackName"], None)  # a retry of it succeeded
            if kind == events.OPERATION_COMPLETED:
                data = message["data"]
                patch: dict[str, Any] = {
                    "result": {key: data[key] for key in RESULT_KEYS if key in data}
                }
                with self._lock:
                    run = self._runs.get(operation_id)
                reason = run.stop_reason if run else ""
                if reason and not reason.startswith("cancelled"):
                    patch["error"] = {"code": INTERRUPTED, "message": f"stopped: {reason}"}
                elif data["status"] == "failed" and failed:
                    patch["error"] = failure_of(failed)
                _clean_up(operation_id, prepared)  # a final operation leaves nothing behind
                self.recorder.finish(
                    operation_id, data["status"], message=message, payload_patch=patch
                )
                return
            self.recorder.append(message)

        return record

    def _run(self, operation: OperationRecord, prepared: Prepared, executor: Executor) -> None:
        try:
            if prepared.job is not None:
                entries = prepared.job.plan.entries
                chosen = {entry.stack for entry in entries if entry.status != "excluded"}
                # a filtered operation reports on its own stacks only
                only = chosen if len(chosen) < len(entries) else None
                executor.deploy(prepared.job, preview=prepared.request.preview, only=only)
            else:
                assert prepared.graph is not None
                executor.destroy(prepared.deployment, operation.environment, prepared.graph)
        except BaseException as error:  # whatever happens, the operation ends
            log.exception("operation %s crashed", operation.id)
            message = f"internal error: {type(error).__name__}: {error}"
            _clean_up(operation.id, prepared)
            self.recorder.finish(
                operation.id,
                "failed",
                payload_patch={"error": {"code": "OPERATION_FAILED", "message": message}},
                error={"code": "OPERATION_FAILED", "message": message},
            )
        finally:
            # An executor that ended without its operation.completed (it cannot, but a
            # finished thread must never leave a running operation behind).
            _clean_up(operation.id, prepared)
            if self.store.get_operation(operation.id).status in RUNNING:  # type: ignore[union-attr]
                self.recorder.finish(operation.id, "failed", error={"code": "OPERATION_FAILED"})
            with self._lock:
                self._runs.pop(operation.id, None)

    # --- recovery ---------------------------------------------------------------------------

    def recover(self, *, only: str | None = None) -> list[str]:
        """Report local operations whose process is gone as failed (interrupted); returns
        their ids. An operation another live process runs is left alone."""
        recovered = []
        now = self.iso(self.clock())
        for operation in self.store.list_operations(statuses=RUNNING, limit=10_000):
            if only is not None and operation.id != only:
                continue
            if operation.payload.get("dispatcher") not in (self.name, "api", "cli"):
                continue  # GitHub's runs are the reconciler's
            with self._lock:
                if operation.id in self._runs:
                    continue
            lock = self.store.get_lock(operation.deployment_id, operation.environment)
            holds = lock is not None and lock.operation_id == operation.id
            if holds:
                assert lock is not None
                liveness = owner_liveness(lock.owner.removeprefix("api:"), me=self.owner)
                if liveness == "alive" or (liveness == "unknown" and lock.lease_expires_at > now):
                    continue
                why = (
                    f"its process is gone ({lock.owner.split(':', 1)[1]})"
                    if liveness == "dead"
                    else f"its lease ran out at {lock.lease_expires_at} with no news"
                )
            else:
                why = "it lost its lock"
            self._interrupt(operation, why)
            recovered.append(operation.id)
        return recovered

    def _ended(self, operation_id: str) -> bool:
        operation = self.store.get_operation(operation_id)
        return operation is None or operation.status not in RUNNING

    def _interrupt(self, operation: OperationRecord, why: str) -> None:
        messages = [
            message_of(record)
            for record in self.store.list_events(operation_id=operation.id, limit=1_000_000)
        ]
        stacks = fold_stacks(operation.payload.get("stacks", []), messages, kind=operation.type)
        cut = [s.name for s in stacks.values() if s.status in ("deploying", "destroying")]
        deployment = self.deployment(operation.deployment_id)
        context = {
            "deploymentId": operation.deployment_id,
            "environment": operation.environment,
            "operationId": operation.id,
        }
        failed: list[dict[str, Any]] = []
        for name in cut:
            released = ""
            if deployment is not None:
                try:
                    spec = stack_spec(
                        deployment, name, operation.environment, repo_root=self.repo_root
                    )
                    self.engine().cancel(spec)
                    released = "; its engine lock was released"
                except Exception as error:
                    log.exception("releasing the engine lock of %s failed", name)
                    released = f"; releasing its engine lock failed: {error}"
            failed.append(
                events.event(
                    events.STACK_FAILED,
                    self.iso(self.clock()),
                    **context,
                    stackName=name,
                    error={
                        "code": "INTERRUPTED",
                        "message": f"interrupted: the operation stopped while this stack ran "
                        f"({why}){released}",
                    },
                )
            )
        message = (
            f"interrupted: {why}; "
            f"{sum(s.status in ('deployed', 'destroyed', 'skipped') for s in stacks.values())} "
            "stack(s) had completed and stay as they are; retry runs the rest"
        )
        self.recorder.finish(
            operation.id,
            "failed",
            payload_patch={"error": {"code": INTERRUPTED, "message": message}, "interrupted": True},
            preceding=failed,
            error={"code": INTERRUPTED, "message": message},
            stacksInterrupted=cut or None,
        )


def _clean_up(operation_id: str, prepared: Prepared) -> None:
    """Remove what the operation's preparation left on disk (a rollback's snapshot of the
    catalog), once, before the operation is reported final."""
    cleanup = prepared.extra.pop("cleanup", None)
    if callable(cleanup):
        try:
            cleanup()
        except Exception:
            log.exception("cleaning up after %s failed", operation_id)
