"""Starting, watching, cancelling, retrying and rolling back operations.

`Operations` is what the API's operation endpoints call. Starting one is three steps:
`prepare` plans it with the engine issue's planner (what runs, in which layer, what is
skipped and why), `start` takes the deployment environment's lock and records the
operation with its first event in one transaction (a second start finds the lock and
gets `OperationInProgressError` naming the running operation), and the dispatcher runs
it (the local executor, or a GitHub workflow). The caller answers 202 only after
`start` returned: the operation and its events are in the store before anyone is told.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, Protocol

import networkx as nx

from controller.core import events
from controller.core.catalog import Catalog, Deployment
from controller.core.operations import (
    MASK,
    fold_stacks,
    masked_env,
    summarize,
    to_retry,
)
from controller.engines.base import Engine, EngineError
from controller.execution.executor import DeployJob
from controller.execution.preparation import (
    Selection,
    SelectionError,
    UnmetInputsError,
    destroy_graph,
    prepare_deploy,
)
from controller.operations.drift import latest_drift, refreshed_drift
from controller.operations.planning import Announced, announce_deploy, announce_destroy
from controller.operations.recorder import Recorder
from controller.operations.records import FINAL, RUNNING, message_of, operation_view
from controller.store.base import (
    LockRecord,
    OperationRecord,
    RunningLimit,
    RunningLimitError,
    Store,
)

Kind = Literal["deploy", "destroy"]
ErrorKind = Literal[
    "invalid", "not_found", "conflict", "unavailable", "quota", "locked", "unprocessable"
]

# The seeds' operation quotas: concurrent operations per tier.
CONCURRENT_OPERATIONS: dict[str, int | None] = {"free": 1, "standard": 5, "enterprise": 20}


class OperationError(Exception):
    """An operation that cannot start or change as asked, said the way the API says it."""

    def __init__(
        self, kind: ErrorKind, code: str, message: str, details: dict[str, Any] | None = None
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.code = code
        self.message = message
        self.details = details or {}


def backend_unreadable(error: EngineError) -> OperationError:
    """What is deployed could not be read from the engine's backend."""
    return OperationError(
        "unavailable",
        "PULUMI_STATE_ERROR",
        f"cannot read what is deployed from the engine's backend: {error}",
    )


class OperationInProgressError(OperationError):
    def __init__(self, holder: LockRecord) -> None:
        super().__init__(
            "conflict",
            "OPERATION_IN_PROGRESS",
            f"operation {holder.operation_id} is running on {holder.deployment_id} / "
            f"{holder.environment}; wait for it to end or cancel it",
            {
                "operationId": holder.operation_id,
                "deploymentId": holder.deployment_id,
                "environment": holder.environment,
                "since": holder.acquired_at,
                "statusUrl": status_url(holder.deployment_id, holder.operation_id),
            },
        )
        self.holder = holder


class ResourceLockedError(OperationError):
    """A change that is not an operation of its own (a state import, a sync) found the
    environment locked by one (seeds/001 `RESOURCE_LOCKED`, 423)."""

    def __init__(self, holder: LockRecord, lock_type: str) -> None:
        super().__init__(
            "locked",
            "RESOURCE_LOCKED",
            f"{holder.deployment_id} / {holder.environment} is locked by operation "
            f"{holder.operation_id} ({lock_type}); wait for it to end or cancel it",
            {
                "deploymentId": holder.deployment_id,
                "environment": holder.environment,
                "lockedBy": holder.operation_id,
                "lockedAt": holder.acquired_at,
                "lockType": lock_type,
                # the key seeds/001's OPERATION_IN_PROGRESS uses, for clients that read it
                "operationId": holder.operation_id,
                "statusUrl": status_url(holder.deployment_id, holder.operation_id),
            },
        )
        self.holder = holder


@dataclass(frozen=True)
class OperationRequest:
    deployment_id: str
    environment: str
    kind: Kind
    started_by: str
    preview: bool = False
    parallel: int | None = None
    continue_on_error: bool = False
    smart_skip: bool = True
    stack_filter: tuple[str, ...] = ()
    force: bool = False
    stack: str | None = None  # a single-stack operation
    webhook_url: str | None = None
    retry_of: str | None = None
    rollback_of: str | None = None
    commit: str | None = None  # run the repo as it was at this commit (a rollback)
    tier: str = "standard"
    max_retries: int = 0  # seeds/003: attempts of a failed stack beyond the first
    rollback_on_failure: bool = False  # seeds/003: failed stacks go back to their last deploy
    env: Mapping[str, str] = field(default_factory=dict)  # seeds/004: the run's variables

    @property
    def patterns(self) -> tuple[str, ...]:
        """The stacks it selects: the single stack, or the stackFilter globs."""
        return (self.stack,) if self.stack else self.stack_filter

    def options(self) -> dict[str, Any]:
        return {
            "preview": self.preview,
            "parallel": self.parallel,
            "continueOnError": self.continue_on_error,
            "smartSkip": self.smart_skip,
            "stackFilter": list(self.stack_filter),
            "force": self.force,
            "stack": self.stack,
            "maxRetries": self.max_retries,
            "rollbackOnFailure": self.rollback_on_failure,
            "tier": self.tier,
        }


@dataclass
class Prepared:
    """A planned operation, ready to record and dispatch."""

    request: OperationRequest
    deployment: Deployment
    announced: Announced
    repo_root: Path
    engine: Engine
    commit: str | None
    job: DeployJob | None = None
    graph: nx.DiGraph | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Source:
    """The repo an operation runs: its catalog, stack files' ids and where its programs are."""

    catalog: Catalog
    deployments: Mapping[str, Deployment]
    file_ids: Callable[[], Mapping[str, str]]
    root: Path
    commit: str | None


class Dispatcher(Protocol):
    name: str
    owner: str
    initial_status: str
    lease_seconds: int

    def launch(self, operation: OperationRecord, prepared: Prepared) -> None:
        """Run it, without blocking; whatever happens ends in the recorder."""
        ...

    def cancel(self, operation: OperationRecord, *, by: str) -> bool:
        """Ask the running operation to stop; False when this dispatcher does not run it."""
        ...


def new_operation_id() -> str:
    return f"op-{secrets.token_hex(6)}"


def operation_payload(
    announced: Announced, options: dict[str, Any], *, commit: str | None, simulated: bool
) -> dict[str, Any]:
    """What an operation's record says it will do (its stacks, what it skips, why)."""
    return {
        "request": options,
        "stacks": announced.planned,
        "toRun": [item["name"] for item in announced.run],
        "skipped": announced.skipped,
        "estimatedDuration": announced.estimated_duration,
        "commit": commit,
        "simulated": simulated,
    }


def record_start(
    recorder: Recorder,
    *,
    deployment_id: str,
    environment: str,
    kind: str,
    started_by: str,
    owner: str,
    lease_seconds: int,
    payload: dict[str, Any],
    epoch: float,
    iso: Callable[[float], str],
    started: Mapping[str, Any] | None = None,
) -> tuple[OperationRecord, LockRecord]:
    """Take the environment's lock and record an in-progress operation with its
    `operation.started` (`started`: more of that message's data), in one transaction;
    `OperationInProgressError` naming the holder when another operation has the lock."""
    now = iso(epoch)
    operation_id = new_operation_id()
    record = OperationRecord(
        id=operation_id,
        deployment_id=deployment_id,
        environment=environment,
        type=kind,
        status="in_progress",
        created_at=now,
        updated_at=now,
        created_by=started_by,
        started_at=now,
        payload=payload,
    )
    lock = LockRecord(
        deployment_id, environment, operation_id, owner, now, iso(epoch + lease_seconds)
    )
    message = events.event(
        events.OPERATION_STARTED,
        now,
        deploymentId=deployment_id,
        environment=environment,
        operationId=operation_id,
        operationType=kind,
        startedBy=started_by,
        **dict(started or {}),
    )
    holder = recorder.start(record, lock, message)
    if holder != lock:
        raise OperationInProgressError(holder)
    return record, lock


def status_url(deployment_id: str, operation_id: str) -> str:
    return f"/api/v1/deployments/{deployment_id}/operations/{operation_id}"


def channel_of(deployment_id: str, operation_id: str) -> str:
    return f"deployments/{deployment_id}/operations/{operation_id}"


class Operations:
    def __init__(
        self,
        store: Store,
        recorder: Recorder,
        dispatcher: Dispatcher,
        *,
        engine: Callable[[], Engine],
        clock: Callable[[], float],
        iso: Callable[[float], str],
        default_parallel: int = 4,
        check_callback: Callable[[str], None] | None = None,
        sources: Callable[[str | None], tuple[Source, Callable[[], None] | None]] | None = None,
    ) -> None:
        self.store = store
        self.recorder = recorder
        self.dispatcher = dispatcher
        self.engine = engine
        self.clock = clock
        self.iso = iso
        self.default_parallel = default_parallel
        self.check_callback = check_callback
        # the repo an operation runs (at a commit, for a rollback), and its cleanup
        self.sources = sources

    # --- starting ---------------------------------------------------------------------------

    def prepare(self, request: OperationRequest, source: Source) -> Prepared:
        """Plan `request` against what the engine's backend recorded (slow: call off the
        event loop). Raises `OperationError` for what cannot run as asked."""
        deployment = source.deployments.get(request.deployment_id)
        if deployment is None:
            raise OperationError(
                "not_found",
                "RESOURCE_NOT_FOUND",
                f"deployment {request.deployment_id!r} not found"
                + (f" at commit {source.commit[:12]}" if request.commit and source.commit else ""),
                {"deployment": request.deployment_id},
            )
        environments = deployment.manifest.environments
        if request.environment not in environments:
            raise OperationError(
                "not_found",
                "RESOURCE_NOT_FOUND",
                f"deployment {request.deployment_id} has no environment "
                f"{request.environment!r} ({', '.join(environments)})",
                {"environment": request.environment},
            )
        if request.webhook_url and self.check_callback is not None:
            try:
                self.check_callback(request.webhook_url)
            except ValueError as error:
                raise OperationError(
                    "invalid",
                    "VALIDATION_INVALID_FORMAT",
                    f"webhookUrl: {error}",
                    {"field": "webhookUrl"},
                ) from None
        try:
            engine = self.engine()
        except EngineError as error:
            raise OperationError(
                "unavailable", "SERVICE_UNAVAILABLE", f"the engine cannot run here: {error}"
            ) from None
        prepared = (
            self._prepare_deploy(request, source, deployment, engine)
            if request.kind == "deploy"
            else self._prepare_destroy(request, source, deployment, engine)
        )
        return prepared

    def _prepare_deploy(
        self, request: OperationRequest, source: Source, deployment: Deployment, engine: Engine
    ) -> Prepared:
        if not deployment.manifest.environments[request.environment].enabled:
            raise OperationError(
                "conflict",
                "RESOURCE_CONFLICT",
                f"environment {request.environment} of {request.deployment_id} is disabled in "
                "its manifest; enable it before deploying "
                f"(POST /api/v1/deployments/{request.deployment_id}/environments/"
                f"{request.environment}/enable)",
                {"environment": request.environment},
            )
        patterns = request.patterns
        try:
            job = prepare_deploy(
                source.catalog,
                deployment,
                request.environment,
                engine=engine,
                file_ids=source.file_ids(),
                repo_root=source.root,
                selection=Selection(
                    patterns,
                    request.force,
                    refreshed=refreshed_drift(
                        latest_drift(self.store, request.deployment_id, request.environment)
                    ),
                ),
                require_inputs=not request.preview,
            )
        except EngineError as error:
            raise backend_unreadable(error) from None
        except UnmetInputsError as error:
            field = "stack" if request.stack else "stackFilter"
            raise OperationError(
                "unprocessable",
                "VALIDATION_UNRESOLVABLE_PLACEHOLDER",
                str(error),
                {
                    "field": field,
                    "missing": [
                        {"stack": stack, "upstream": upstream, "output": output}
                        for stack, upstream, output in error.missing
                    ],
                },
            ) from None
        except SelectionError as error:
            if request.stack:
                raise OperationError(
                    "not_found",
                    "RESOURCE_NOT_FOUND",
                    f"{request.stack} is not a stack of {request.deployment_id} in "
                    f"{request.environment}",
                    {"stack": request.stack},
                ) from None
            raise OperationError(
                "invalid",
                "VALIDATION_INVALID_FORMAT",
                str(error).replace("--stacks", "stackFilter"),
                {"field": "stackFilter"},
            ) from None
        announced = announce_deploy(job.plan, smart_skip=request.smart_skip and not request.force)
        return Prepared(request, deployment, announced, source.root, engine, source.commit, job=job)

    def _prepare_destroy(
        self, request: OperationRequest, source: Source, deployment: Deployment, engine: Engine
    ) -> Prepared:
        patterns = request.patterns
        try:
            graph = destroy_graph(
                source.catalog,
                deployment,
                request.environment,
                engine=engine,
                patterns=patterns,
            )
            deployed = engine.list_instances(request.deployment_id, request.environment)
        except SelectionError as error:
            message = str(error).replace("--stacks", "stackFilter")
            kind: ErrorKind = "invalid" if "matches no stack" in message else "conflict"
            code = "VALIDATION_INVALID_FORMAT" if kind == "invalid" else "RESOURCE_CONFLICT"
            raise OperationError(kind, code, message, {"field": "stackFilter"}) from None
        except EngineError as error:
            raise backend_unreadable(error) from None
        durations = {
            name: source.catalog.stacks[name].estimated_duration
            for name in graph.nodes
            if name in source.catalog.stacks
        }
        announced = announce_destroy(graph, deployed=deployed, durations=durations)
        return Prepared(
            request, deployment, announced, source.root, engine, source.commit, graph=graph
        )

    def start(self, prepared: Prepared) -> OperationRecord:
        """Lock, record, dispatch. `OperationInProgressError` if another one holds the lock."""
        request = prepared.request
        epoch = self.clock()
        now = self.iso(epoch)
        operation_id = new_operation_id()
        announced = prepared.announced
        dispatcher = self.dispatcher
        payload: dict[str, Any] = {
            "dispatcher": dispatcher.name,
            **operation_payload(
                announced,
                request.options(),
                commit=prepared.commit,
                simulated=prepared.engine.simulated,
            ),
        }
        if request.env:
            payload["env"] = masked_env(request.env)  # the values of secrets are never kept
        if prepared.job is not None:  # what each stack runs from now, to return to
            records = prepared.job.records
            payload["previous"] = {
                item["name"]: (records.get(item["name"]).commit or None)  # type: ignore[union-attr]
                if records.get(item["name"])
                else None
                for item in announced.run
            }
        for key, value in (
            ("webhookUrl", request.webhook_url),
            ("retryOf", request.retry_of),
            ("rollbackOf", request.rollback_of),
        ):
            if value:
                payload[key] = value
        record = OperationRecord(
            id=operation_id,
            deployment_id=request.deployment_id,
            environment=request.environment,
            type="preview" if request.preview else request.kind,
            status=dispatcher.initial_status,
            created_at=now,
            updated_at=now,
            created_by=request.started_by,
            started_at=now,
            payload=payload,
        )
        lock = LockRecord(
            request.deployment_id,
            request.environment,
            operation_id,
            dispatcher.owner,
            now,
            self.iso(epoch + dispatcher.lease_seconds),
        )
        message = events.event(
            events.OPERATION_STARTED,
            now,
            deploymentId=request.deployment_id,
            environment=request.environment,
            operationId=operation_id,
            operationType="preview" if request.preview else request.kind,
            startedBy=request.started_by,
            stacksToProcess=len(announced.run),
            stackName=request.stack,
            preview=request.preview or None,
            simulated=prepared.engine.simulated or None,
            retryOf=request.retry_of,
            rollbackOf=request.rollback_of,
        )
        allowed = CONCURRENT_OPERATIONS.get(request.tier)
        limit = RunningLimit(request.started_by, allowed, RUNNING) if allowed else None
        try:
            holder = self.recorder.start(record, lock, message, running_limit=limit)
        except RunningLimitError as error:  # counted and refused in the lock's transaction
            raise OperationError(
                "quota",
                "QUOTA_EXCEEDED",
                f"the {request.tier} tier allows {allowed} concurrent operation(s); "
                f"{', '.join(error.running)} still running",
                {"limit": allowed, "running": error.running},
            ) from None
        if holder != lock:
            raise OperationInProgressError(holder)
        try:
            dispatcher.launch(record, prepared)
        except Exception as error:  # recorded and locked: it must end, not hang
            text = f"could not start: {type(error).__name__}: {error}"
            self.recorder.finish(
                operation_id,
                "failed",
                payload_patch={"error": {"code": "OPERATION_FAILED", "message": text}},
                error={"code": "OPERATION_FAILED", "message": text},
            )
            raise OperationError("unavailable", "SERVICE_UNAVAILABLE", text) from None
        return record

    # --- reading ----------------------------------------------------------------------------

    def get(self, operation_id: str) -> OperationRecord:
        operation = self.store.get_operation(operation_id)
        if operation is None:
            raise OperationError(
                "not_found",
                "RESOURCE_NOT_FOUND",
                f"operation {operation_id!r} not found",
                {"operation": operation_id},
            )
        return operation

    def messages(self, operation_id: str) -> list[dict[str, Any]]:
        return [
            message_of(record)
            for record in self.store.list_events(operation_id=operation_id, limit=1_000_000)
        ]

    def describe(self, operation: OperationRecord) -> dict[str, Any]:
        """`GET /deployments/:id/operations/:opId`: progress folded from the events."""
        body = summarize(
            operation_view(operation),
            self.messages(operation.id),
            now=datetime.fromtimestamp(self.clock(), UTC),
        )
        payload = operation.payload
        request = payload.get("request", {})
        body["stacksSkipped"] = payload.get("skipped", [])
        body["preview"] = bool(request.get("preview"))
        if request.get("stack"):
            body["stackName"] = request["stack"]
        for key in (
            "commit", "dispatcher", "retryOf", "rollbackOf", "runId", "runUrl", "error", "env",
            "rollback",
        ):  # fmt: skip
            if payload.get(key) is not None:
                body[key] = payload[key]
        if "result" in payload:
            body["result"] = payload["result"]
        body["statusUrl"] = status_url(operation.deployment_id, operation.id)
        body["websocketChannel"] = channel_of(operation.deployment_id, operation.id)
        return body

    # --- changing ---------------------------------------------------------------------------

    def cancel(self, operation_id: str, *, by: str) -> OperationRecord:
        operation = self.get(operation_id)
        if operation.status in FINAL:
            raise OperationError(
                "conflict",
                "RESOURCE_CONFLICT",
                f"operation {operation_id} already ended ({operation.status})",
                {"operationId": operation_id, "status": operation.status},
            )
        self.recorder.update(
            operation_id, payload_patch={"cancelRequestedBy": by, "cancelRequestedAt": self._now()}
        )
        self.recorder.log(operation, f"cancel requested by {by}", level="warning")
        if not self.dispatcher.cancel(operation, by=by):
            raise OperationError(
                "conflict",
                "RESOURCE_CONFLICT",
                f"operation {operation_id} is run by another service process "
                "(its lock's owner); cancel it there, or wait for its lease to run out",
                {"operationId": operation_id},
            )
        return self.get(operation_id)

    def retry_request(
        self,
        operation_id: str,
        *,
        by: str,
        tier: str,
        step_name: str | None = None,
        max_retries: int | None = None,
        env: Mapping[str, str] | None = None,
    ) -> OperationRequest:
        """A new operation running only the stacks that failed, were blocked or never ran
        (or only `step_name` of them, seeds/003)."""
        operation = self.get(operation_id)
        if operation.status in RUNNING:
            raise OperationError(
                "conflict",
                "OPERATION_IN_PROGRESS",
                f"operation {operation_id} is still running; retry it once it ended",
                {"operationId": operation_id},
            )
        stacks = fold_stacks(
            operation.payload.get("stacks", []),
            self.messages(operation_id),
            kind=operation.type,
        )
        names = to_retry(stacks)
        if operation.status == "success" or not names:
            raise OperationError(
                "conflict",
                "RESOURCE_CONFLICT",
                f"operation {operation_id} left nothing to retry: every stack succeeded",
                {"operationId": operation_id, "status": operation.status},
            )
        if step_name is not None:
            if step_name not in stacks:
                raise OperationError(
                    "not_found",
                    "RESOURCE_NOT_FOUND",
                    f"{step_name} is not a stack of operation {operation_id}",
                    {"field": "stepName"},
                )
            if step_name not in names:
                raise OperationError(
                    "conflict",
                    "RESOURCE_CONFLICT",
                    f"{step_name} did not fail in operation {operation_id} "
                    f"({stacks[step_name].status}); retry one of {', '.join(names)}",
                    {"field": "stepName", "retryable": names},
                )
            names = [step_name]
        options = operation.payload.get("request", {})
        kept = {k: v for k, v in operation.payload.get("env", {}).items() if v != MASK}
        return OperationRequest(
            deployment_id=operation.deployment_id,
            environment=operation.environment,
            kind="destroy" if operation.type == "destroy" else "deploy",
            started_by=by,
            preview=operation.type == "preview",
            parallel=options.get("parallel"),
            continue_on_error=bool(options.get("continueOnError")),
            smart_skip=bool(options.get("smartSkip", True)),
            stack_filter=tuple(names),
            force=bool(options.get("force")),
            webhook_url=operation.payload.get("webhookUrl"),
            retry_of=operation_id,
            commit=operation.payload.get("commit") if operation.payload.get("rollbackOf") else None,
            tier=tier,
            max_retries=int(options.get("maxRetries") or 0) if max_retries is None else max_retries,
            rollback_on_failure=bool(options.get("rollbackOnFailure")),
            env=kept | dict(env or {}),
        )

    def rollback_request(
        self,
        deployment_id: str,
        environment: str,
        *,
        by: str,
        tier: str,
        target: str | None = None,
    ) -> tuple[OperationRequest, OperationRecord]:
        """Redeploy the manifest at the commit of the last successful deploy before the
        latest one (or of `target`, an operation id), over the stacks deployed now."""
        history = [
            op
            for op in self.store.list_operations(
                deployment_id=deployment_id, environment=environment, limit=500
            )
            if op.type == "deploy"
        ]
        if any(op.status in RUNNING for op in history):
            running = next(op for op in history if op.status in RUNNING)
            raise OperationError(
                "conflict",
                "OPERATION_IN_PROGRESS",
                f"operation {running.id} is running on {deployment_id} / {environment}",
                {"operationId": running.id},
            )
        if target is not None:
            chosen = next((op for op in history if op.id == target), None)
            if chosen is None or chosen.status != "success" or not chosen.payload.get("commit"):
                raise OperationError(
                    "invalid",
                    "VALIDATION_INVALID_FORMAT",
                    f"targetOperationId {target}: not a successful deploy of {deployment_id} / "
                    f"{environment} with a known commit",
                    {"field": "targetOperationId"},
                )
        else:
            earlier = history[1:]  # the latest deploy is the one rolled back
            chosen = next(
                (op for op in earlier if op.status == "success" and op.payload.get("commit")),
                None,
            )
            if chosen is None:
                raise OperationError(
                    "conflict",
                    "RESOURCE_CONFLICT",
                    f"no earlier successful deploy of {deployment_id} / {environment} with a "
                    "known commit to roll back to",
                    {"deploymentId": deployment_id, "environment": environment},
                )
        try:
            deployed = self.engine().list_instances(deployment_id, environment)
        except EngineError as error:
            raise backend_unreadable(error) from None
        if not deployed:
            raise OperationError(
                "conflict",
                "RESOURCE_CONFLICT",
                f"nothing of {deployment_id} / {environment} is deployed: nothing to roll back",
            )
        options = chosen.payload.get("request", {})
        request = OperationRequest(
            deployment_id=deployment_id,
            environment=environment,
            kind="deploy",
            started_by=by,
            parallel=options.get("parallel"),
            smart_skip=True,
            # what is deployed now goes back; a rollback creates no stack
            stack_filter=tuple(sorted(deployed)),
            rollback_of=chosen.id,
            commit=chosen.payload["commit"],
            tier=tier,
        )
        return request, chosen

    def follow_up(self, operation: OperationRecord) -> None:
        """After an operation ended: with `rollbackOnFailure` (seeds/003), a deploy that
        failed starts a rollback of its failed stacks to the commit they were last deployed
        from (forced: a failed update may have changed some of their resources). A stack
        the operation was creating has no earlier state to return to; it is named, not
        destroyed. What happens is written on the failed operation (`rollback`)."""
        options = operation.payload.get("request", {})
        if (
            operation.status != "failed"
            or operation.type != "deploy"
            or not options.get("rollbackOnFailure")
            or self.sources is None
        ):
            return
        stacks = fold_stacks(
            operation.payload.get("stacks", []), self.messages(operation.id), kind="deploy"
        )
        failed = [name for name, stack in stacks.items() if stack.status == "failed"]
        previous = operation.payload.get("previous", {})
        commits = [previous[name] for name in failed if previous.get(name)]
        info: dict[str, Any] = {"stacks": [], "notRolledBack": {}}
        for name in failed:
            if not previous.get(name):
                info["notRolledBack"][name] = (
                    "it had not been deployed before: nothing to return to"
                )
        if commits:
            commit = max(set(commits), key=commits.count)  # normally the one last good deploy
            chosen = [name for name in failed if previous.get(name) == commit]
            for name in failed:
                if previous.get(name) and name not in chosen:
                    info["notRolledBack"][name] = (
                        f"last deployed from another commit ({previous[name][:12]})"
                    )
            request = OperationRequest(
                deployment_id=operation.deployment_id,
                environment=operation.environment,
                kind="deploy",
                started_by=operation.created_by,
                stack_filter=tuple(chosen),
                force=True,
                rollback_of=operation.id,
                commit=commit,
                tier=str(options.get("tier") or "standard"),
                parallel=options.get("parallel"),
            )
            info |= {"stacks": chosen, "commit": commit}
            try:
                source, cleanup = self.sources(commit)
                prepared = self.prepare(request, source)
                if cleanup is not None:
                    prepared.extra["cleanup"] = cleanup
                started = self.start(prepared)
            except (OperationError, Exception) as error:  # the failure stays the news
                text = error.message if isinstance(error, OperationError) else str(error)
                info["error"] = f"the rollback could not start: {text}"
            else:
                info["operationId"] = started.id
        message = (
            f"rolling back {', '.join(info['stacks'])} to commit {info['commit'][:12]} "
            f"(operation {info['operationId']})"
            if info.get("operationId")
            else info.get("error") or "nothing to roll back"
        )
        self.recorder.log(operation, message, level="warning")
        self.store.transition_operation(
            operation.id,
            from_statuses=("failed",),
            status="failed",
            at=self._now(),
            payload_patch={"rollback": info},
        )

    def exclusive(
        self,
        deployment_id: str,
        environment: str,
        kind: str,
        *,
        by: str,
        work: Callable[[], dict[str, Any]],
        details: dict[str, Any] | None = None,
    ) -> tuple[OperationRecord, dict[str, Any]]:
        """Run `work` (a state import, a sync) holding the environment's operation lock,
        recorded as an operation of its own; `OperationInProgressError` if another runs."""
        try:
            record, _ = record_start(
                self.recorder,
                deployment_id=deployment_id,
                environment=environment,
                kind=kind,
                started_by=by,
                owner=f"api:{self.dispatcher.owner}",
                lease_seconds=3600,
                payload={"dispatcher": "api", "request": details or {}, "stacks": []},
                epoch=self.clock(),
                iso=self.iso,
            )  # brief: no quota
        except OperationInProgressError as busy:
            running = self.store.get_operation(busy.holder.operation_id)
            lock_type = running.type if running else "operation"
            raise ResourceLockedError(busy.holder, lock_type) from None
        operation_id = record.id
        try:
            result = work()
        except BaseException as error:
            text = str(error) or type(error).__name__
            self.recorder.finish(
                operation_id,
                "failed",
                payload_patch={"error": {"code": "OPERATION_FAILED", "message": text}},
                error={"code": "OPERATION_FAILED", "message": text},
            )
            raise
        done = self.recorder.finish(operation_id, "success", payload_patch={"result": result})
        return done or record, result

    def _now(self) -> str:
        return self.iso(self.clock())
