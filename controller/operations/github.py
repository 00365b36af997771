"""The GitHub dispatcher: operations run as `deploy.yml` / `destroy.yml` workflow runs.

Dispatch happens after the 202 (in a worker thread): `workflow_dispatch` with the
operation id, asking GitHub for the run id (`return_run_details`), else finding the run
by its run-name `… [<operation id>]`. From then on the run reports through GitHub's
webhooks (`workflow_run`, and `workflow_job` for its one environment job, whose stacks
report through the runner's callbacks and its result artifact), which `GitHubIntake`
turns into the seeds' operation and stack events; the `Reconciler` reads the runs API
for operations that went quiet (a missed webhook, a service restart), through the same
intake, so the two paths agree and a run's end is recorded once. With several replicas,
only the holder of the store's `reconciler` lease reconciles. Every GitHub call follows
GitHub's retry policy (`adapters.github_api`); when it gives up, the operation fails
with that message.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from controller.adapters.github_actions import DispatchedRun, GitHubActions
from controller.adapters.github_api import GitHubApiError
from controller.core import events
from controller.core.operations import fold_stacks
from controller.core.webhooks import JobUpdate, RunUpdate
from controller.operations.control import Prepared
from controller.operations.owners import local_owner
from controller.operations.recorder import Recorder
from controller.operations.records import FINAL, RUNNING, message_of
from controller.store.base import OperationRecord, Store

log = logging.getLogger(__name__)

DISPATCH_FAILED = "GITHUB_DISPATCH_FAILED"
RUN_NOT_FOUND = "GITHUB_RUN_NOT_FOUND"
LEASE = "reconciler"  # the store lease: one replica reconciles at a time
DONE_STATUS = {"deploy": "deployed", "destroy": "destroyed"}


class GitHubDispatcher:
    name = "github"
    initial_status = "pending"

    def __init__(
        self,
        store: Store,
        recorder: Recorder,
        actions: GitHubActions,
        *,
        clock: Callable[[], float],
        iso: Callable[[float], str],
        deploy_workflow: str = "deploy.yml",
        destroy_workflow: str = "destroy.yml",
        lease_seconds: int = 6 * 3600,
        service_url: str | None = None,
        runner_token: Callable[[OperationRecord], str] | None = None,
        find_attempts: int = 5,
        find_wait: float = 3.0,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        self.store = store
        self.recorder = recorder
        self.actions = actions
        self.clock = clock
        self.iso = iso
        self.deploy_workflow = deploy_workflow
        self.destroy_workflow = destroy_workflow
        self.lease_seconds = lease_seconds
        self.service_url = service_url
        self.runner_token = runner_token
        self.find_attempts = find_attempts
        self.find_wait = find_wait
        self._stopped = threading.Event()
        self.sleep = sleep or (lambda seconds: self._stopped.wait(seconds) and None)
        self.owner = f"github:{actions.repository}"
        self.pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="github-dispatch")
        self.pending: list[Future[None]] = []

    def workflow_of(self, operation: OperationRecord) -> str:
        return self.destroy_workflow if operation.type == "destroy" else self.deploy_workflow

    # --- the Dispatcher protocol ------------------------------------------------------------

    def launch(self, operation: OperationRecord, prepared: Prepared) -> None:
        self._submit(self._dispatch, operation, prepared)

    def _submit(self, work: Callable[..., None], *args: Any) -> None:
        self.pending = [future for future in self.pending if not future.done()]
        self.pending.append(self.pool.submit(work, *args))

    def drain(self, timeout: float | None = None) -> None:
        """Wait for the dispatches and cancels under way (tests, shutdown)."""
        for future in list(self.pending):
            future.result(timeout)

    def cancel(self, operation: OperationRecord, *, by: str) -> bool:
        run_id = operation.payload.get("runId")
        if run_id is None:
            # Not dispatched yet, or its run not found: it ends here; a run that appears
            # later is cancelled when it is found (see `_found`).
            self.recorder.finish(
                operation.id,
                "cancelled",
                payload_patch={"cancelledBeforeRun": True},
                reason=f"cancelled by {by} before its run started",
            )
            return True
        self._submit(self._cancel_run, operation.id, int(run_id))
        return True

    def inputs(self, operation: OperationRecord, prepared: Prepared) -> dict[str, str]:
        values = {
            "deployment": operation.deployment_id,
            "environment": operation.environment,
            "stacks": ",".join(prepared.request.patterns),
            "operation-id": operation.id,
        }
        if operation.type == "destroy":
            values["confirm"] = operation.deployment_id
        else:
            values["operation"] = "deploy"
        if prepared.request.commit:
            values["ref"] = prepared.request.commit
        if self.service_url and self.runner_token is not None:
            values["service-url"] = self.service_url
            values["service-token"] = self.runner_token(operation)
        return values

    # --- dispatching ------------------------------------------------------------------------

    def _dispatch(self, operation: OperationRecord, prepared: Prepared) -> None:
        workflow = self.workflow_of(operation)
        try:
            run = self.actions.dispatch(
                workflow, self.inputs(operation, prepared), operation_id=operation.id
            )
            since = datetime.fromtimestamp(self.clock(), UTC)
            attempt = 0
            while run is None and attempt < self.find_attempts:
                self.sleep(self.find_wait * 2**attempt)
                attempt += 1
                run = self.actions.find_run(workflow, operation.id, since=since)
            self.recorder.log(
                operation, f"dispatched {workflow}" + (f": run {run.run_id}" if run else "")
            )
            if run is None:
                self.recorder.update(operation.id, payload_patch={"dispatchedAt": self._now()})
                return  # the webhooks or the reconciler will find it by its run-name
            self._found(operation.id, run)
        except GitHubApiError as error:
            self._failed(operation, f"dispatching {workflow} failed: {error}")
        except Exception as error:  # never a crash: the operation says what went wrong
            log.exception("dispatching %s failed", operation.id)
            self._failed(operation, f"dispatching {workflow} failed: {type(error).__name__}")

    def _found(self, operation_id: str, run: DispatchedRun) -> None:
        updated = self.recorder.update(
            operation_id,
            payload_patch={
                "runId": run.run_id,
                "runUrl": run.html_url,
                "dispatchedAt": self._now(),
            },
        )
        if updated is None:  # it ended meanwhile (cancelled before its run was known)
            current = self.store.get_operation(operation_id)
            if current is not None and current.status == "cancelled":
                self._cancel_run(operation_id, run.run_id)

    def _cancel_run(self, operation_id: str, run_id: int) -> None:
        try:
            self.actions.cancel(run_id)
        except GitHubApiError as error:
            operation = self.store.get_operation(operation_id)
            if operation is not None:
                self.recorder.log(
                    operation, f"cancelling run {run_id} failed: {error}", level="error"
                )

    def _failed(self, operation: OperationRecord, message: str) -> None:
        error = {"code": DISPATCH_FAILED, "message": message}
        self.recorder.finish(operation.id, "failed", payload_patch={"error": error}, error=error)

    def _now(self) -> str:
        return self.iso(self.clock())

    async def start(self) -> None:
        self._stopped.clear()

    async def stop(self) -> None:
        self._stopped.set()
        self.pool.shutdown(wait=False, cancel_futures=True)


class GitHubIntake:
    """GitHub's word on a run (a webhook, or the runs API) as operation and stack events.

    Each update is compared with what the operation's events already say, so hearing the
    same thing twice (a redelivery, the reconciler after a webhook) adds nothing.
    """

    def __init__(
        self,
        store: Store,
        recorder: Recorder,
        actions: GitHubActions | None,
        *,
        clock: Callable[[], float],
        iso: Callable[[float], str],
        lease_seconds: int = 6 * 3600,
    ) -> None:
        self.store = store
        self.recorder = recorder
        self.actions = actions
        self.clock = clock
        self.iso = iso
        self.lease_seconds = lease_seconds
        self._lock = threading.RLock()  # one update at a time: they read, then write

    # --- runs -------------------------------------------------------------------------------

    def apply_run(self, update: RunUpdate, *, jobs_known: bool = False) -> bool:
        """True if it changed anything. At the run's end its jobs are read first (unless the
        caller just did), since their own webhooks may come after the run's."""
        with self._lock:
            operation = self.store.get_operation(update.operation_id)
            if operation is None or operation.payload.get("dispatcher") != "github":
                return False
            if operation.status in FINAL:
                return False
            known = operation.payload.get("runId")
            if known is not None and int(known) != update.run_id:
                return False  # another run carrying the same id in its name: not ours
            changed = False
            if known is None:
                self.recorder.update(
                    operation.id, payload_patch={"runId": update.run_id, "runUrl": update.html_url}
                )
                changed = True
            self._renew(operation)
            if update.state == "in_progress" and operation.status == "pending":
                self.recorder.update(operation.id, status="in_progress")
                changed = True
            if update.state in FINAL:
                if not jobs_known:
                    self._catch_up_jobs(operation, update.run_id)
                self._finish(operation, update)
                changed = True
            return changed

    def _catch_up_jobs(self, operation: OperationRecord, run_id: int) -> None:
        if self.actions is None:
            return
        try:
            _, jobs = self.actions.run_status(run_id)
        except GitHubApiError as error:
            self.recorder.log(
                operation, f"could not read the jobs of run {run_id}: {error}", level="warning"
            )
            return
        for job in jobs:
            self.apply_job(job)

    def _finish(self, operation: OperationRecord, update: RunUpdate) -> None:
        stacks = self._stacks(operation)
        context = _context(operation)
        unfinished = [s for s in stacks.values() if not s.finished]
        for stack in unfinished:
            if update.state == "success":
                status, reason = "skipped", "no job ran it: the run's plan found nothing to do"
            else:
                status, reason = "cancelled", f"not run: the run ended {update.conclusion}"
            self.recorder.append(
                events.event(
                    events.STACK_SKIPPED,
                    self._now(),
                    **context,
                    stackName=stack.name,
                    status=status,
                    reason=reason,
                    layer=stack.layer,
                )
            )
        stacks = self._stacks(operation)
        succeeded = sum(s.status in ("deployed", "destroyed") for s in stacks.values())
        failed = sum(s.status == "failed" for s in stacks.values())
        skipped = sum(s.status == "skipped" for s in stacks.values())
        patch: dict[str, Any] = {
            "runConclusion": update.conclusion,
            "result": {
                "stacksSucceeded": succeeded,
                "stacksFailed": failed,
                "stacksSkipped": skipped,
            },
        }
        if update.state == "failed":
            patch["error"] = {
                "code": "OPERATION_FAILED",
                "message": f"run {update.run_id} ended {update.conclusion}"
                + (f": {update.html_url}" if update.html_url else ""),
            }
        self.recorder.finish(
            operation.id,
            update.state,
            payload_patch=patch,
            stacksSucceeded=succeeded,
            stacksFailed=failed,
            stacksSkipped=skipped,
            runId=update.run_id,
            runUrl=update.html_url,
            conclusion=update.conclusion,
        )

    # --- jobs -------------------------------------------------------------------------------

    def apply_job(self, update: JobUpdate) -> bool:
        """An environment job's state. Its stacks' events come from the runner's callbacks
        as they happen; at the job's end its result artifact fills in any the callbacks
        did not deliver (a service that was down, a runner without a service URL)."""
        with self._lock:
            operation = self._by_run(update.run_id)
            if operation is None or (operation.deployment_id, operation.environment) != (
                update.deployment_id,
                update.environment,
            ):
                return False
            if operation.type != update.operation:
                return False
            self._renew(operation)
            changed = False
            if operation.status == "pending" and update.state != "queued":
                self.recorder.update(operation.id, status="in_progress")
                changed = True
            if update.state != "queued" and operation.payload.get("jobUrl") != update.html_url:
                self.recorder.update(
                    operation.id, payload_patch={"jobId": update.job_id, "jobUrl": update.html_url}
                )
                changed = True
            if update.state in ("succeeded", "failed", "cancelled", "skipped"):
                changed = self._job_done(operation, update) or changed
            return changed

    def _job_done(self, operation: OperationRecord, update: JobUpdate) -> bool:
        stacks = self._stacks(operation)
        if stacks and all(stack.finished for stack in stacks.values()):
            return False  # the callbacks (or an earlier delivery) said it all
        result = self._result(operation, update)
        context = _context(operation)
        at = update.completed_at or self._now()
        appended = False
        for outcome in (result or {}).get("stacks") or []:
            known = stacks.get(outcome.get("stack", ""))
            if known is not None and known.finished:
                continue
            self.recorder.append(_stack_event(operation, outcome, context, at, update.html_url))
            appended = True
        if result is not None and not result.get("stacks"):
            # nothing ran: the job refused (its GitHub environment, the wave before it)
            for stack in self._stacks(operation).values():
                if stack.finished:
                    continue
                self.recorder.append(
                    events.event(
                        events.STACK_SKIPPED,
                        at,
                        **context,
                        stackName=stack.name,
                        status="cancelled",
                        layer=stack.layer,
                        reason=result.get("reason") or f"not run: the job ended {result['status']}",
                        jobUrl=update.html_url,
                    )
                )
                appended = True
        if result is None and update.state in ("failed", "cancelled"):
            self.recorder.log(
                operation,
                f"job {update.job_id} ended {update.conclusion} without a result"
                + (f": {update.html_url}" if update.html_url else ""),
                level="error",
            )
            appended = True
        return appended

    def _result(self, operation: OperationRecord, update: JobUpdate) -> dict[str, Any] | None:
        if self.actions is None or update.state == "skipped":
            return None
        try:
            return self.actions.environment_result(
                update.run_id, operation.deployment_id, operation.environment
            )
        except (GitHubApiError, OSError, ValueError) as error:
            self.recorder.log(
                operation,
                f"could not read the result of job {update.job_id}: {error}",
                level="warning",
            )
            return None

    # --- helpers ----------------------------------------------------------------------------

    def _by_run(self, run_id: int) -> OperationRecord | None:
        for operation in self.store.list_operations(statuses=RUNNING, limit=10_000):
            known = operation.payload.get("runId")
            if (
                operation.payload.get("dispatcher") == "github"
                and known is not None
                and int(known) == run_id
            ):
                return operation
        return None

    def _stacks(self, operation: OperationRecord) -> dict[str, Any]:
        messages = [
            message_of(record)
            for record in self.store.list_events(operation_id=operation.id, limit=1_000_000)
        ]
        return fold_stacks(operation.payload.get("stacks", []), messages, kind=operation.type)

    def _renew(self, operation: OperationRecord) -> None:
        lock = self.store.get_lock(operation.deployment_id, operation.environment)
        if lock is not None and lock.operation_id == operation.id:
            self.store.renew_lock(
                lock, lease_expires_at=self.iso(self.clock() + self.lease_seconds)
            )

    def _now(self) -> str:
        return self.iso(self.clock())


class Reconciler:
    """Reads the runs API for GitHub operations that heard nothing for a while."""

    def __init__(
        self,
        store: Store,
        intake: GitHubIntake,
        dispatcher: GitHubDispatcher,
        *,
        clock: Callable[[], float],
        iso: Callable[[float], str],
        every: float = 60.0,
        quiet: float = 120.0,
        give_up_after: float = 900.0,
        owner: str | None = None,
    ) -> None:
        self.store = store
        self.intake = intake
        self.dispatcher = dispatcher
        self.clock = clock
        self.iso = iso
        self.every = every
        self.quiet = quiet
        self.give_up_after = give_up_after
        self.owner = owner or local_owner()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def quiet_operations(self) -> list[OperationRecord]:
        cutoff = self.iso(self.clock() - self.quiet)
        found = []
        for operation in self.store.list_operations(statuses=RUNNING, limit=10_000):
            if operation.payload.get("dispatcher") != "github":
                continue
            latest = self.store.last_event_at(operation.id)
            heard = max(operation.updated_at, latest or "")
            if heard <= cutoff:
                found.append(operation)
        return found

    def run_once(self) -> list[str]:
        """Reconcile every quiet operation; the ids it looked at."""
        looked = []
        for operation in self.quiet_operations():
            looked.append(operation.id)
            try:
                self._reconcile(operation)
            except GitHubApiError as error:
                log.warning("reconciling %s: %s", operation.id, error)
            except Exception:
                log.exception("reconciling %s failed", operation.id)
        return looked

    def _reconcile(self, operation: OperationRecord) -> None:
        run_id = operation.payload.get("runId")
        workflow = self.dispatcher.workflow_of(operation)
        if run_id is None:
            created = datetime.fromisoformat(operation.created_at.replace("Z", "+00:00"))
            run = self.dispatcher.actions.find_run(workflow, operation.id, since=created)
            if run is None:
                age = self.clock() - created.timestamp()
                if age > self.give_up_after:
                    error = {
                        "code": RUN_NOT_FOUND,
                        "message": f"no {workflow} run named [{operation.id}] appeared within "
                        f"{int(age)}s of the dispatch; check the workflow's run-name and the "
                        "Actions tab",
                    }
                    self.intake.recorder.finish(
                        operation.id, "failed", payload_patch={"error": error}, error=error
                    )
                return
            self.dispatcher._found(operation.id, run)
            run_id = run.run_id
        update, jobs = self.dispatcher.actions.run_status(int(run_id))
        for job in jobs:  # the jobs first, so that the run's end finds its stacks done
            self.intake.apply_job(job)
        if update is not None:
            self.intake.apply_run(update, jobs_known=True)
        else:
            self.intake._renew(operation)

    async def start(self) -> None:
        if self.every <= 0:
            return
        self._stopping.clear()
        self._thread = threading.Thread(target=self._loop, name="reconciler", daemon=True)
        self._thread.start()

    async def stop(self) -> None:
        self._stopping.set()

    def _loop(self) -> None:
        while not self._stopping.wait(self.every):
            if self.lead():
                self.run_once()

    def lead(self) -> bool:
        """Take (or renew) the store's `reconciler` lease: with several replicas, one reads
        GitHub's runs API at a time. The lease outlives two rounds, so a replica that dies
        is replaced within that; a store that cannot answer means no round this time."""
        now = self.clock()
        try:
            return self.store.take_lease(
                LEASE, self.owner, at=self.iso(now), until=self.iso(now + 2.5 * self.every)
            )
        except Exception as error:
            log.warning("reconciler: cannot take its lease: %s", error)
            return False


def _context(operation: OperationRecord) -> dict[str, Any]:
    return {
        "deploymentId": operation.deployment_id,
        "environment": operation.environment,
        "operationId": operation.id,
    }


_COMPLETED_AS = {"skipped": "skipped", "blocked": "blocked", "cancelled": "cancelled"}


def _stack_event(
    operation: OperationRecord,
    outcome: dict[str, Any],
    context: dict[str, Any],
    at: str,
    job_url: str | None,
) -> dict[str, Any]:
    """A stack's outcome in an environment job's result, as the seeds' stack event."""
    name = outcome.get("stack", "")
    layer = int(outcome.get("layer") or 0)
    state = outcome.get("status")
    if state == "failed":
        return events.event(
            events.STACK_FAILED,
            at,
            **context,
            stackName=name,
            layer=layer,
            error={
                "code": "STACK_FAILED",
                "message": outcome.get("error") or outcome.get("reason") or "failed",
            },
            jobUrl=job_url,
        )
    if state in _COMPLETED_AS:  # the stack did not run: skipped, blocked or cancelled
        return events.event(
            events.STACK_SKIPPED,
            at,
            **context,
            stackName=name,
            status=_COMPLETED_AS[str(state)],
            layer=layer,
            reason=outcome.get("reason") or f"not run ({state})",
            jobUrl=job_url,
        )
    counts = outcome.get("counts") or {}
    return events.event(
        events.STACK_COMPLETED,
        at,
        **context,
        stackName=name,
        status=DONE_STATUS.get(operation.type, "deployed"),
        layer=layer,
        reason=outcome.get("reason") or None,
        duration=outcome.get("duration") or 0,
        resourcesCreated=counts.get("create", 0),
        counts=counts or None,
        outputs=outcome.get("outputs") or None,
        jobUrl=job_url,
    )
