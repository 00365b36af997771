"""The local executor: one deploy or destroy of a deployment environment, over its DAG.

A pool of worker threads runs stacks; each stack's work happens in a child process (the
Pulumi CLI, or the mock runtime's interpreter), so Pulumi's process-wide runtime state is
never shared. The pure `Scheduler` says what may start: a stack starts the moment its own
dependencies are done. Every step is announced as an event of the API seeds to each
subscriber (the CLI's display, the service's store and WebSocket hub).

Ctrl-C stops starting stacks and lets the running ones finish (their child processes are
in sessions of their own, so the terminal's interrupt does not reach them).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import networkx as nx

from controller.adapters.clock import Clock, SystemClock
from controller.core import events
from controller.core.catalog import Deployment
from controller.core.environments import EnvironmentView
from controller.core.fingerprints import Fingerprint
from controller.core.graph import layer_index
from controller.core.placeholders import MissingOutputError
from controller.core.planning import (
    EnvironmentPlan,
    consumed_digests,
    consumed_outputs,
    dynamic_decision,
)
from controller.core.resolution import resolve_runtime_config
from controller.core.scheduling import Scheduler, State
from controller.core.secret_config import environment_name, resolve_secret_references
from controller.engines.base import (
    DeployRecord,
    Engine,
    EngineError,
    EngineEvent,
    OperationResult,
    StackBusyError,
    drift_data,
    empty_counts,
    mask_outputs,
)
from controller.execution.specs import stack_spec

log = logging.getLogger(__name__)
Subscriber = Callable[[dict[str, Any]], None]
Kind = Literal["deploy", "destroy", "preview", "refresh"]


@dataclass
class StackOutcome:
    stack: str
    state: State
    reason: str = ""
    layer: int = 0
    counts: dict[str, int] = field(default_factory=empty_counts)
    outputs: dict[str, Any] = field(default_factory=dict)
    secret_outputs: frozenset[str] = frozenset()
    duration: float = 0.0
    error: str | None = None
    changes: list[Any] = field(default_factory=list)
    drift: dict[str, Any] | None = None  # a refresh's finding (`drift_data`)

    def to_dict(self) -> dict[str, Any]:
        return ({"drift": self.drift} if self.drift is not None else {}) | {
            "stack": self.stack,
            "status": self.state,
            "reason": self.reason,
            "layer": self.layer,
            "counts": self.counts,
            "duration": round(self.duration, 3),
            "outputs": mask_outputs(self.outputs, self.secret_outputs),
            **({"error": self.error} if self.error else {}),
            "changes": [
                {
                    "urn": c.urn,
                    "type": c.type,
                    "name": c.name,
                    "kind": c.kind,
                    "changedInputs": list(c.changed_inputs),
                    "inputs": [dict(i) for i in c.inputs],
                }
                for c in self.changes
                if c.kind != "same"
            ],
        }


@dataclass
class OperationReport:
    operation_id: str
    deployment_id: str
    environment: str
    kind: Kind
    outcomes: dict[str, StackOutcome]
    started_at: str
    duration: float
    simulated: bool

    @property
    def status(self) -> str:
        states = {outcome.state for outcome in self.outcomes.values()}
        if "failed" in states or "blocked" in states:
            return "failed"
        if "cancelled" in states:
            return "cancelled"
        return "success"

    @property
    def exit_code(self) -> int:
        return 0 if self.status == "success" else 1

    def to_dict(self) -> dict[str, Any]:
        return {
            "operationId": self.operation_id,
            "deploymentId": self.deployment_id,
            "environment": self.environment,
            "type": self.kind,
            "status": self.status,
            "simulated": self.simulated,
            "startedAt": self.started_at,
            "duration": round(self.duration, 3),
            "stacks": [outcome.to_dict() for outcome in self.outcomes.values()],
        }


@dataclass
class RunSettings:
    operation_id: str
    parallel: int = 4
    continue_on_error: bool = False
    smart_skip: bool = True
    commit: str | None = None
    started_by: str = "cli"
    max_retries: int = 0  # attempts of a failed stack update beyond the first (seeds/003)
    env: Mapping[str, str] = field(default_factory=dict)  # the programs' environment (seeds/004)


@dataclass
class DeployJob:
    """A planned deploy (or preview) of one deployment environment."""

    view: EnvironmentView
    plan: EnvironmentPlan
    fingerprints: Mapping[str, Fingerprint]
    records: Mapping[str, DeployRecord | None]

    @property
    def deployment(self) -> Deployment:
        return self.view.deployment


class Executor:
    """Runs one operation at a time (create one per operation)."""

    def __init__(
        self,
        engine: Engine,
        *,
        repo_root: Path,
        settings: RunSettings,
        subscribers: list[Subscriber] | None = None,
        clock: Clock | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self.engine = engine
        self.environ = os.environ if environ is None else environ  # {{SECRET:…}} values
        self.repo_root = repo_root
        self.settings = settings
        self.subscribers = list(subscribers or [])
        self.clock = clock or SystemClock()
        self._emit_lock = threading.Lock()
        self._outputs_lock = threading.Lock()
        self._outputs: dict[str, tuple[dict[str, Any], frozenset[str]]] = {}
        self._failed_resources: dict[str, dict[str, str]] = {}  # stack -> the resource
        self._stop = threading.Event()
        self._stop_reason = ""

    def stop(self, reason: str) -> None:
        """Start no new stack (from any thread); running stacks finish, the rest end as
        cancelled with `reason`. What the service's cancel and shutdown call."""
        self._stop_reason = reason
        self._stop.set()

    # --- public operations ------------------------------------------------------------------

    def deploy(
        self, job: DeployJob, *, preview: bool = False, only: set[str] | None = None
    ) -> OperationReport:
        """Deploy (or preview) the job's plan; `only` runs just those stacks (a CI job)."""
        kind: Kind = "preview" if preview else "deploy"
        graph = job.plan.graph if only is None else job.plan.graph.subgraph(only).copy()
        return self._operate(
            kind,
            job.deployment,
            job.view.environment,
            graph,
            lambda name: self._deploy_one(job, name, preview=preview),
            layer=lambda name: job.plan.entry(name).layer,
        )

    def destroy(
        self, deployment: Deployment, environment: str, graph: nx.DiGraph
    ) -> OperationReport:
        """Destroy every stack in `graph` (edges u -> v: u deployed before v), reversed."""
        reverse = graph.reverse(copy=True)
        order = {
            name: n
            for n, layer in enumerate(nx.topological_generations(reverse), 1)
            for name in layer
        }
        return self._operate(
            "destroy",
            deployment,
            environment,
            reverse,
            lambda name: self._destroy_one(deployment, environment, name),
            layer=order.__getitem__,
        )

    def refresh(
        self, deployment: Deployment, environment: str, graph: nx.DiGraph, *, preview_only: bool
    ) -> OperationReport:
        """Refresh every stack in `graph` (u -> v: u deployed before v) in dependency order,
        in parallel as far as it allows; each stack's outcome says what drifted."""
        order = layer_index([sorted(layer) for layer in nx.topological_generations(graph)])
        return self._operate(
            "refresh",
            deployment,
            environment,
            graph,
            lambda name: self._refresh_one(deployment, environment, name, preview_only),
            layer=order.__getitem__,
        )

    # --- the loop ---------------------------------------------------------------------------

    def _operate(
        self,
        kind: Kind,
        deployment: Deployment,
        environment: str,
        graph: nx.DiGraph,
        work: Callable[[str], StackOutcome],
        *,
        layer: Callable[[str], int],
    ) -> OperationReport:
        started_at = self.clock.now()
        started = self.clock.monotonic()
        scheduler = Scheduler(graph, continue_on_error=self.settings.continue_on_error)
        self._context = {
            "deploymentId": deployment.deployment_id,
            "environment": environment,
            "operationId": self.settings.operation_id,
        }
        self._layer = layer
        self._emit(
            events.OPERATION_STARTED,
            operationType=kind,
            startedBy=self.settings.started_by,
            stacksToProcess=graph.number_of_nodes(),
            simulated=self.engine.simulated or None,
        )
        outcomes: dict[str, StackOutcome] = {}
        running: dict[Future[StackOutcome], str] = {}
        with ThreadPoolExecutor(
            max_workers=max(1, self.settings.parallel), thread_name_prefix="stack"
        ) as pool:
            while True:
                try:
                    if self._stop.is_set() and not scheduler.stopping:
                        scheduler.stop(self._stop_reason)
                        names = ", ".join(sorted(running.values())) or "none"
                        self._emit(
                            events.LOG,
                            level="warning",
                            message=f"{self._stop_reason}: starting nothing new; waiting for "
                            f"running stacks to finish ({names})",
                        )
                    for name in scheduler.ready():
                        if len(running) >= max(1, self.settings.parallel):
                            break
                        scheduler.start(name)
                        running[pool.submit(self._guarded, work, name)] = name
                    if not running and scheduler.done():
                        break
                    # wake up now and then to notice stop() while a long stack runs
                    finished, _ = wait(running, timeout=0.2, return_when=FIRST_COMPLETED)
                    for future in finished:
                        name = running.pop(future)
                        outcome = future.result()
                        outcomes[name] = outcome
                        scheduler.finish(name, outcome.state, outcome.reason)
                except KeyboardInterrupt:
                    scheduler.stop("not started: interrupted (Ctrl-C)")
                    names = ", ".join(sorted(running.values())) or "none"
                    self._emit(
                        events.LOG,
                        level="warning",
                        message=f"interrupted: starting nothing new; waiting for "
                        f"running stacks to finish ({names})",
                    )
        for name, state in scheduler.states.items():
            if name not in outcomes:
                reason = scheduler.reasons.get(name, "")
                outcomes[name] = StackOutcome(name, state, reason, layer=layer(name))
                self._emit(
                    events.STACK_SKIPPED,
                    stackName=name,
                    status=state,
                    reason=reason,
                    layer=layer(name),
                )
        ordered = {name: outcomes[name] for name in sorted(outcomes, key=lambda n: (layer(n), n))}
        report = OperationReport(
            self.settings.operation_id,
            deployment.deployment_id,
            environment,
            kind,
            ordered,
            started_at,
            self.clock.monotonic() - started,
            self.engine.simulated,
        )
        self._emit(
            events.OPERATION_COMPLETED,
            operationType=kind,
            status=report.status,
            duration=round(report.duration, 3),
            stacksSucceeded=sum(o.state == "succeeded" for o in ordered.values()),
            stacksSkipped=sum(o.state == "skipped" for o in ordered.values()),
            stacksFailed=sum(o.state == "failed" for o in ordered.values()),
            stacksBlocked=sum(o.state == "blocked" for o in ordered.values()),
            resourcesCreated=sum(o.counts.get("create", 0) for o in ordered.values()),
        )
        return report

    def _guarded(self, work: Callable[[str], StackOutcome], name: str) -> StackOutcome:
        """Run one stack; whatever goes wrong becomes that stack's failure, never a crash."""
        try:
            return work(name)
        except Exception as error:
            log.exception("stack %s failed unexpectedly", name)
            message = f"internal error: {type(error).__name__}: {error}"
            self._emit(
                events.STACK_FAILED,
                stackName=name,
                error={"code": "INTERNAL_ERROR", "message": message},
            )
            return StackOutcome(name, "failed", message, layer=self._layer(name), error=message)

    # --- one stack --------------------------------------------------------------------------

    def _deploy_one(self, job: DeployJob, name: str, *, preview: bool) -> StackOutcome:
        entry = job.plan.entry(name)
        instance = job.view.instances[name]
        planned = "; ".join(entry.reasons)
        if entry.status == "excluded":
            return self._skipped(name, entry.layer, planned)
        upstream = {stack for stack, _ in consumed_outputs(instance)}
        outputs, secrets, unknown = self._upstream_outputs(job, upstream)
        consumed_now = consumed_digests(instance, outputs)
        reason = planned
        if self.settings.smart_skip and entry.status in ("skipped", "pending-upstream"):
            # Unchanged itself: it runs only if an upstream output it consumes changed,
            # compared with the outputs it was last deployed with (whoever deployed since).
            record = job.records.get(name)
            if unknown and entry.status == "skipped":
                return self._skipped(name, entry.layer, planned)
            if not unknown:
                must_run, why = dynamic_decision(record.consumed if record else None, consumed_now)
                if not must_run:
                    return self._skipped(
                        name, entry.layer, planned if entry.status == "skipped" else why
                    )
                reason = why
        if unknown and preview:
            return self._skipped(
                name,
                entry.layer,
                f"cannot preview before {', '.join(sorted(unknown))} is deployed (outputs unknown)",
            )
        started = self.clock.monotonic()
        self._emit(
            events.STACK_STARTED,
            stackName=name,
            layer=entry.layer,
            estimatedDuration=entry.estimated_duration,
            resourcesTotal=instance.definition.estimated_resources,
            reason=reason,
        )
        try:
            resolved = resolve_runtime_config(instance, outputs, secrets)
        except MissingOutputError as error:
            placeholder = error.placeholder
            message = (
                f"upstream stack {placeholder.stack!r} has no output "
                f"{placeholder.output!r} (needed by {placeholder.text})"
            )
            return self._failed(name, entry.layer, message, started)
        progress = self._progress_sink(name, instance.definition.estimated_resources)
        secrets = resolve_secret_references(resolved.values, self.environ)
        values, kept = secrets.values, frozenset[str]()
        if secrets.unresolved:
            missing = ", ".join(
                f"{key} ({environment_name(secret)})" for key, secret in secrets.unresolved.items()
            )
            if getattr(self.engine, "keeps_stack_config", False):
                kept = frozenset(secrets.unresolved)  # the stack's own config secrets
            elif self.engine.simulated:
                values = values | {k: f"simulated-{s}" for k, s in secrets.unresolved.items()}
                progress(
                    EngineEvent("log", message=f"simulated stand-ins for unset secrets: {missing}")
                )
            else:
                return self._failed(name, entry.layer, f"secrets not set: {missing}", started)
        spec = stack_spec(
            job.deployment,
            name,
            job.view.environment,
            repo_root=self.repo_root,
            config=values,
            secret_keys=resolved.secret_keys | secrets.secret_keys,
            kept_keys=kept,
            env=self.settings.env,
        )
        if not preview:
            repair = self._needs_repair(spec)
            if repair:
                return self._failed(name, entry.layer, repair, started, code="NEEDS_REPAIR")
        try:
            if preview:
                result = self.engine.preview(spec, on_event=progress)
            else:
                fingerprint = job.fingerprints[name]
                record = DeployRecord(
                    fingerprint=entry.fingerprint,
                    components=fingerprint.components,
                    consumed=consumed_now,
                    deployed_at=self.clock.now(),
                    commit=self.settings.commit,
                    operation_id=self.settings.operation_id,
                    values=fingerprint.values,
                    format=fingerprint.format,
                )
                result = self._with_retries(
                    name, lambda: self.engine.up(spec, record=record, on_event=progress)
                )
        except EngineError as error:
            return self._failed(name, entry.layer, str(error), started, code=_code_of(error))
        if result.outputs or not preview:
            with self._outputs_lock:
                self._outputs[name] = (dict(result.outputs), result.secret_outputs)
        return self._succeeded(name, entry.layer, result, started, reason=reason)

    def _destroy_one(self, deployment: Deployment, environment: str, name: str) -> StackOutcome:
        layer = self._layer(name)
        spec = stack_spec(
            deployment, name, environment, repo_root=self.repo_root, env=self.settings.env
        )
        if not self.engine.exists(spec):
            return self._skipped(name, layer, "nothing deployed")
        started = self.clock.monotonic()
        self._emit(events.STACK_STARTED, stackName=name, layer=layer)
        repair = self._needs_repair(spec)
        if repair:
            return self._failed(name, layer, repair, started, code="NEEDS_REPAIR")
        try:
            result = self._with_retries(
                name, lambda: self.engine.destroy(spec, on_event=self._progress_sink(name, 0))
            )
        except EngineError as error:
            return self._failed(name, layer, str(error), started, code=_code_of(error))
        return self._succeeded(name, layer, result, started, reason="destroyed")

    def _refresh_one(
        self, deployment: Deployment, environment: str, name: str, preview_only: bool
    ) -> StackOutcome:
        layer = self._layer(name)
        spec = stack_spec(deployment, name, environment, repo_root=self.repo_root)
        if not self.engine.exists(spec):
            return self._skipped(name, layer, "nothing deployed")
        started = self.clock.monotonic()
        self._emit(events.STACK_STARTED, stackName=name, layer=layer)
        repair = self._needs_repair(spec)
        if repair and not preview_only:
            return self._failed(name, layer, repair, started, code="NEEDS_REPAIR")
        try:
            result = self.engine.refresh(
                spec, preview_only=preview_only, on_event=self._progress_sink(name, 0)
            )
        except EngineError as error:
            return self._failed(name, layer, str(error), started)
        found = drift_data(result)
        if found["driftDetected"]:
            self._emit(
                events.DRIFT_DETECTED,
                stackName=name,
                status=found["status"],
                resources=found["resources"],
                previewOnly=preview_only,
                simulated=result.simulated or None,
            )
        outcome = self._succeeded(
            name, layer, result, started, reason=found["summary"], drift=found
        )
        outcome.drift = found
        return outcome

    # --- helpers ----------------------------------------------------------------------------

    def _upstream_outputs(
        self, job: DeployJob, stacks: set[str]
    ) -> tuple[dict[str, dict[str, Any]], dict[str, frozenset[str]], set[str]]:
        """Outputs of upstream stacks: from this run, else as deployed; and which are unknown."""
        outputs: dict[str, dict[str, Any]] = {}
        secrets: dict[str, frozenset[str]] = {}
        unknown: set[str] = set()
        for stack in sorted(stacks):
            with self._outputs_lock:
                known = self._outputs.get(stack)
            if known is None:
                spec = stack_spec(
                    job.deployment, stack, job.view.environment, repo_root=self.repo_root
                )
                known = self.engine.outputs(spec) if self.engine.exists(spec) else None
                if known is not None:
                    with self._outputs_lock:
                        self._outputs.setdefault(stack, known)
            if known is None or not known[0]:
                unknown.add(stack)
                continue
            outputs[stack], secrets[stack] = known
        return outputs, secrets, unknown

    def _progress_sink(self, name: str, expected: int) -> Callable[[EngineEvent], None]:
        processed = 0
        lock = threading.Lock()

        def sink(item: EngineEvent) -> None:
            nonlocal processed
            if item.kind == "log":
                self._emit(events.LOG, stackName=name, level=item.level, message=item.message)
                return
            if item.kind == "resource.failed":
                with self._outputs_lock:
                    self._failed_resources[name] = {
                        "type": item.resource_type,
                        "name": item.resource_name,
                    }
                return
            if item.kind != "resource.finished":
                return
            with lock:
                processed += 1
                count = processed
            total = max(expected, count)
            self._emit(
                events.STACK_PROGRESS,
                stackName=name,
                progress=min(99, round(100 * count / total)),
                resourcesProcessed=count,
                resourcesTotal=total,
                currentResource={
                    "type": item.resource_type,
                    "name": item.resource_name,
                    "action": item.operation,
                },
            )

        return sink

    def _with_retries(self, name: str, attempt: Callable[[], OperationResult]) -> OperationResult:
        """`attempt` once, and again up to `max_retries` times while it fails (never once
        a stop was asked, nor for a stack another update holds)."""
        total = 1 + max(0, self.settings.max_retries)
        for number in range(1, total + 1):
            try:
                return attempt()
            except StackBusyError:
                raise
            except EngineError as error:
                if number == total or self._stop.is_set():
                    raise
                with self._outputs_lock:
                    self._failed_resources.pop(name, None)
                self._emit(
                    events.LOG,
                    stackName=name,
                    level="warning",
                    message=f"attempt {number} of {total} failed: {error}; retrying",
                )
        raise AssertionError("unreachable")  # pragma: no cover

    def _skipped(self, name: str, layer: int, reason: str) -> StackOutcome:
        self._emit(
            events.STACK_SKIPPED, stackName=name, status="skipped", reason=reason, layer=layer
        )
        with self._outputs_lock:
            outputs = self._outputs.get(name, ({}, frozenset()))
        return StackOutcome(
            name, "skipped", reason, layer=layer, outputs=outputs[0], secret_outputs=outputs[1]
        )

    def _needs_repair(self, spec: Any) -> str | None:
        """Why a stack must not be touched: an interrupted update left pending operations
        in its state (resources Pulumi may have half created or deleted)."""
        pending = self.engine.pending_operations(spec)
        if not pending:
            return None
        kinds = ", ".join(sorted({str(op.get("type", "?")) for op in pending}))
        return (
            f"needs repair: an interrupted update left {len(pending)} pending operation(s) "
            f"({kinds}) in the state of {spec.stack_name}; nothing was changed. Check those "
            "resources in the cloud, then clear them (pulumi refresh --clear-pending-creates, "
            "or `cloud state export`, edit, `cloud state import`) before deploying again"
        )

    def _failed(
        self, name: str, layer: int, message: str, started: float, *, code: str = "STACK_FAILED"
    ) -> StackOutcome:
        with self._outputs_lock:
            resource = self._failed_resources.pop(name, None)
        error = {"code": code, "message": message}
        if resource is not None:
            error["resource"] = resource  # type: ignore[assignment]
        self._emit(events.STACK_FAILED, stackName=name, layer=layer, error=error)
        return StackOutcome(
            name,
            "failed",
            message,
            layer=layer,
            error=message,
            duration=self.clock.monotonic() - started,
        )

    def _succeeded(
        self,
        name: str,
        layer: int,
        result: OperationResult,
        started: float,
        *,
        reason: str,
        **more: Any,
    ) -> StackOutcome:
        duration = self.clock.monotonic() - started
        status = {
            "up": "deployed",
            "destroy": "destroyed",
            "preview": "previewed",
            "refresh": "refreshed",
        }.get(result.operation, result.operation)
        self._emit(
            events.STACK_COMPLETED,
            stackName=name,
            status=status,
            layer=layer,
            duration=round(duration, 3),
            resourcesCreated=result.counts.get("create", 0),
            counts=result.counts,
            outputs=result.masked_outputs(),
            simulated=result.simulated or None,
            **more,
        )
        return StackOutcome(
            name,
            "succeeded",
            reason,
            layer=layer,
            counts=result.counts,
            outputs=result.outputs,
            secret_outputs=result.secret_outputs,
            duration=duration,
            changes=result.changes,
        )

    def _emit(self, kind: str, **data: Any) -> None:
        message = events.event(kind, self.clock.now(), **self._context, **data)
        with self._emit_lock:
            for subscriber in self.subscribers:
                try:
                    subscriber(message)
                except Exception:  # a broken display must not break a deploy
                    log.exception("event subscriber failed")


def _code_of(error: EngineError) -> str:
    """The seeds' code of a stack's failure: another update holding its lock is
    `RESOURCE_LOCKED`, anything else `STACK_FAILED`."""
    return "RESOURCE_LOCKED" if isinstance(error, StackBusyError) else "STACK_FAILED"
