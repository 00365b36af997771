"""In-memory fakes of our own seams, for the tests of what sits above them."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import Any

from controller.engines.base import (
    DeployRecord,
    EngineError,
    EngineEvent,
    EventSink,
    OperationResult,
    StackSpec,
    empty_counts,
    ignore_events,
)


def mini_outputs(spec: StackSpec) -> dict[str, Any]:
    """Outputs of the mini catalog's stacks, derived from their config like real ones."""
    config = spec.config
    return {
        "net": lambda: {"vpcId": f"vpc-{config.get('cidr')}", "subnetIds": ["s-1", "s-2"]},
        "sec": lambda: {"groupId": f"sg-in-{config.get('vpcId')}"},
        "db": lambda: {"endpoint": f"db-{config.get('engine')}.local"},
        "app": lambda: {"url": f"https://{config.get('banner')}"},
    }[spec.stack]()


class FakeEngine:
    """The engine protocol in memory: records calls, keeps outputs and records per stack."""

    name = "fake"
    simulated = True

    def __init__(
        self,
        outputs_for: Callable[[StackSpec], dict[str, Any]] = mini_outputs,
        *,
        fail: Mapping[str, str | Exception] | None = None,
        secret: Mapping[str, set[str]] | None = None,
        flaky: Mapping[str, int] | None = None,
    ) -> None:
        self.outputs_for = outputs_for
        self.fail = dict(fail or {})
        self.flaky = dict(flaky or {})  # stack -> how many of its next ups fail
        self.secret = {k: frozenset(v) for k, v in (secret or {}).items()}
        self.stacks: dict[str, dict[str, Any]] = {}
        self.calls: list[tuple[str, str]] = []
        self.specs: dict[str, StackSpec] = {}
        self.owners: dict[str, tuple[str, str, str]] = {}
        self.lock = threading.Lock()

    def _call(self, operation: str, spec: StackSpec) -> None:
        with self.lock:
            self.calls.append((operation, spec.stack))
        if spec.stack in self.fail:
            failure = self.fail[spec.stack]
            raise failure if isinstance(failure, Exception) else EngineError(failure)

    def preview(self, spec: StackSpec, *, on_event: EventSink = ignore_events) -> OperationResult:
        self._call("preview", spec)
        return OperationResult(
            "preview",
            empty_counts() | {"update": 1},
            outputs=self.outputs_for(spec),
            secret_outputs=self.secret.get(spec.stack, frozenset()),
        )

    def up(
        self, spec: StackSpec, *, record: DeployRecord, on_event: EventSink = ignore_events
    ) -> OperationResult:
        self._call("up", spec)
        on_event(EngineEvent("resource.started", "test:Thing", "thing", "create"))
        with self.lock:
            flaky = self.flaky.get(spec.stack, 0)
            if flaky:
                self.flaky[spec.stack] = flaky - 1
        if flaky:
            on_event(EngineEvent("resource.failed", "test:Thing", "thing", "create"))
            raise EngineError(f"{spec.stack}: thing failed (transient)")
        on_event(EngineEvent("resource.finished", "test:Thing", "thing", "create"))
        on_event(EngineEvent("log", message=f"deployed {spec.stack}"))
        outputs = self.outputs_for(spec)
        secret = self.secret.get(spec.stack, frozenset())
        if spec.secret_keys:  # as Pulumi does: what is computed from a secret stays secret
            secret = frozenset(outputs)
        with self.lock:
            known = spec.stack_name in self.stacks
            self.stacks[spec.stack_name] = {"outputs": outputs, "secret": secret, "record": record}
            self.specs[spec.stack] = spec
            self.owners[spec.stack_name] = (spec.deployment_id, spec.environment, spec.stack)
        kind = "same" if known else "create"
        return OperationResult(
            "up", empty_counts() | {kind: 1}, outputs=outputs, secret_outputs=secret, simulated=True
        )

    def destroy(self, spec: StackSpec, *, on_event: EventSink = ignore_events) -> OperationResult:
        self._call("destroy", spec)
        with self.lock:
            self.stacks.pop(spec.stack_name, None)
        return OperationResult("destroy", empty_counts() | {"delete": 1}, simulated=True)

    def refresh(
        self, spec: StackSpec, *, preview_only: bool = False, on_event: EventSink = ignore_events
    ) -> OperationResult:
        return OperationResult("refresh", empty_counts(), simulated=True)

    def outputs(self, spec: StackSpec) -> tuple[dict[str, Any], frozenset[str]]:
        entry = self.stacks.get(spec.stack_name)
        return (dict(entry["outputs"]), entry["secret"]) if entry else ({}, frozenset())

    def record(self, spec: StackSpec) -> DeployRecord | None:
        entry = self.stacks.get(spec.stack_name)
        return entry["record"] if entry else None

    def exists(self, spec: StackSpec) -> bool:
        return spec.stack_name in self.stacks

    def export_state(self, spec: StackSpec) -> dict[str, Any]:
        return dict(self.stacks[spec.stack_name])

    def import_state(self, spec: StackSpec, state: Mapping[str, Any]) -> None:
        self.stacks[spec.stack_name] = dict(state)

    def pending_operations(self, spec: StackSpec) -> list[dict[str, Any]]:
        return []

    def cancel(self, spec: StackSpec) -> None:
        return None

    def list_instances(self, deployment_id: str, environment: str) -> list[str]:
        prefix, suffix = f"{deployment_id}-", f"-{environment}"
        return sorted(
            n[len(prefix) : -len(suffix)]
            for n in self.stacks
            if n.startswith(prefix) and n.endswith(suffix)
        )

    def list_all_instances(self) -> dict[str, dict[str, list[str]]]:
        found: dict[str, dict[str, list[str]]] = {}
        for name, (deployment_id, environment, stack) in self.owners.items():
            if name in self.stacks:
                found.setdefault(deployment_id, {}).setdefault(environment, []).append(stack)
        return {d: {e: sorted(s) for e, s in envs.items()} for d, envs in found.items()}

    def ups(self) -> list[str]:
        return [stack for operation, stack in self.calls if operation == "up"]


class Breakable:
    """Another engine with failures put in on purpose: `up` fails while `breaks(spec)`
    says why; every spec it was asked to deploy is kept."""

    def __init__(self, engine: Any, breaks: Callable[[StackSpec], str | None]) -> None:
        self.engine = engine
        self.breaks = breaks
        self.name = engine.name
        self.simulated = engine.simulated
        self.ups: list[StackSpec] = []

    def up(self, spec: StackSpec, **options: Any) -> OperationResult:
        self.ups.append(spec)
        reason = self.breaks(spec)
        if reason:
            raise EngineError(reason)
        return self.engine.up(spec, **options)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.engine, name)
