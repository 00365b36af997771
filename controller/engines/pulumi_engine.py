"""The Pulumi engine: real previews and deploys through the Automation API.

Each instance is a Pulumi stack named `<deploymentId>-<stack>-<environment>` in the
project named after the stack type, on the backend of `PULUMI_BACKEND_URL` (default: a
file backend under the repo's ignored `.cloud/pulumi/state`). The engine runs the stack's
program through a small generated project (`.cloud/pulumi/work/<stack name>/`) whose
`__main__.py` runs the real program and also exports the deploy record as a hidden
output, so the record is written by the same `up`, into the same state, and can never
disagree with what was deployed. Config comes from the resolved manifest; secret keys
are set as Pulumi secret config.

Without the `pulumi` CLI on PATH it refuses to start, naming the fix; it never falls
back to the simulator. The Automation API calls go through `Workspaces` (the seam the
tests replace), and the mapping of Pulumi's results and events is plain functions.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from controller.core.resource_diffs import input_changes
from controller.engines.base import (
    CHANGE_KINDS,
    RECORD_OUTPUT,
    DeployRecord,
    EngineError,
    EngineEvent,
    EngineUnavailableError,
    EventSink,
    OperationResult,
    PropertyDrift,
    ResourceChange,
    ResourceDrift,
    StackBusyError,
    StackSpec,
    differences,
    empty_counts,
    ignore_events,
)

INSTALL_HINT = (
    "the pulumi CLI is not on PATH: install it (https://www.pulumi.com/docs/install/, e.g. "
    "`curl -fsSL https://get.pulumi.com | sh`) or, to run without a cloud, choose the "
    "simulator explicitly with --engine simulate"
)
_REPLACE_OPS = {
    "replace",
    "create-replacement",
    "delete-replaced",
    "import-replacement",
    "read-replacement",
    "discard-replaced",
}
_SKIPPED_TYPES = {"pulumi:pulumi:Stack"}


class StackLike(Protocol):
    """The part of `pulumi.automation.Stack` the engine uses."""

    def get_all_config(self) -> Mapping[str, Any]: ...
    def remove_all_config(self, keys: list[str]) -> None: ...
    def set_all_config(self, config: Mapping[str, Any]) -> None: ...
    def preview(self, **kwargs: Any) -> Any: ...
    def up(self, **kwargs: Any) -> Any: ...
    def destroy(self, **kwargs: Any) -> Any: ...
    def refresh(self, **kwargs: Any) -> Any: ...
    def preview_refresh(self, **kwargs: Any) -> Any: ...
    def outputs(self) -> Mapping[str, Any]: ...
    def export_stack(self) -> Any: ...
    def import_stack(self, state: Any) -> None: ...
    def cancel(self) -> None: ...


class Workspaces(Protocol):
    """Opens stacks and lists what the backend holds (the Automation API, or a fake)."""

    def open(
        self, spec: StackSpec, work_dir: Path, env: Mapping[str, str], *, create: bool
    ) -> StackLike | None: ...

    def list_stack_names(self, work_dir: Path, env: Mapping[str, str]) -> list[str]: ...

    def deployment(self, version: int, deployment: Mapping[str, Any]) -> Any: ...


class AutomationWorkspaces:
    """`Workspaces` on the real Automation API."""

    def open(
        self, spec: StackSpec, work_dir: Path, env: Mapping[str, str], *, create: bool
    ) -> StackLike | None:
        from pulumi import automation as auto

        options = auto.LocalWorkspaceOptions(work_dir=str(work_dir), env_vars=dict(env))
        try:
            if create:
                return auto.create_or_select_stack(
                    spec.stack_name, work_dir=str(work_dir), opts=options
                )
            return auto.select_stack(spec.stack_name, work_dir=str(work_dir), opts=options)
        except auto.StackNotFoundError:
            return None

    def list_stack_names(self, work_dir: Path, env: Mapping[str, str]) -> list[str]:
        from pulumi import automation as auto

        workspace = auto.LocalWorkspace(work_dir=str(work_dir), env_vars=dict(env))
        # fully qualified ([organization/]project/stack): the project is the stack type
        return [summary.name for summary in workspace.list_stacks(include_all=True)]

    def deployment(self, version: int, deployment: Mapping[str, Any]) -> Any:
        from pulumi import automation as auto

        return auto.Deployment(version=version, deployment=dict(deployment))


@dataclass
class PulumiEngine:
    state_root: Path
    backend_url: str | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    # Cloud credentials of one role (asked before each operation, so they can be renewed);
    # when given, no other AWS_* variable reaches Pulumi.
    credentials: Callable[[], Mapping[str, str]] | None = None
    workspaces: Workspaces = field(default_factory=AutomationWorkspaces)
    require_cli: bool = True
    python: str = sys.prefix
    name: str = "pulumi"
    simulated: bool = False
    keeps_stack_config: bool = True  # a stack's config secrets stand in for unset references

    def __post_init__(self) -> None:
        if self.require_cli and shutil.which("pulumi") is None:
            raise EngineUnavailableError(INSTALL_HINT)
        if self.backend_url is None:
            self.backend_url = (self.state_root / "state").resolve().as_uri()
        if self.backend_url.startswith("file:") and not (
            self.env.get("PULUMI_CONFIG_PASSPHRASE") is not None
            or self.env.get("PULUMI_CONFIG_PASSPHRASE_FILE")
        ):
            raise EngineUnavailableError(
                "a file backend encrypts secrets with a passphrase: set "
                "PULUMI_CONFIG_PASSPHRASE (or PULUMI_CONFIG_PASSPHRASE_FILE), or use a "
                "Pulumi Cloud / object-store backend with PULUMI_BACKEND_URL"
            )

    # --- operations -------------------------------------------------------------------------

    def preview(self, spec: StackSpec, *, on_event: EventSink = ignore_events) -> OperationResult:
        stack = self._prepared(spec, record=None)
        changes: dict[str, ResourceChange] = {}
        shown = _events_to(on_event)

        def collect(event: Any) -> None:
            change = map_change(event)
            if change is not None and (change.urn not in changes or change.kind == "replace"):
                changes[change.urn] = change  # a replacement's several steps: one change
            shown(event)

        result = self._call(spec, stack.preview, on_event=collect, diff=True)
        return OperationResult("preview", map_counts(result.change_summary), list(changes.values()))

    def up(
        self, spec: StackSpec, *, record: DeployRecord, on_event: EventSink = ignore_events
    ) -> OperationResult:
        stack = self._prepared(spec, record=record)
        result = self._call(
            spec, stack.up, on_event=_events_to(on_event), on_output=_lines_to(on_event)
        )
        outputs, secret = map_outputs(result.outputs)
        return OperationResult(
            "up",
            map_counts(result.summary.resource_changes or {}),
            outputs=outputs,
            secret_outputs=secret,
        )

    def destroy(self, spec: StackSpec, *, on_event: EventSink = ignore_events) -> OperationResult:
        stack = self._open(spec, create=False)
        if stack is None:
            return OperationResult("destroy", empty_counts())
        result = self._call(
            spec,
            stack.destroy,
            on_event=_events_to(on_event),
            on_output=_lines_to(on_event),
            remove=True,
        )
        return OperationResult("destroy", map_counts(result.summary.resource_changes or {}))

    def refresh(
        self, spec: StackSpec, *, preview_only: bool = False, on_event: EventSink = ignore_events
    ) -> OperationResult:
        """`pulumi refresh` (`--preview-only`: `preview_refresh`) on the stack as it is: its
        config stays the one its last `up` set, so nothing but the cloud is read."""
        stack = self._open(spec, create=False)
        if stack is None:
            raise EngineError(f"stack {spec.stack_name} does not exist")
        found = DriftCollector(on_event)
        if preview_only:
            method = getattr(stack, "preview_refresh", None)
            if method is None:  # a Pulumi SDK before preview_refresh
                result = self._call(spec, stack.refresh, on_event=found, preview_only=True)
                counts = map_counts(result.summary.resource_changes or {})
            else:
                result = self._call(spec, method, on_event=found)
                counts = map_counts(result.change_summary)
        else:
            result = self._call(spec, stack.refresh, on_event=found, on_output=_lines_to(on_event))
            counts = map_counts(result.summary.resource_changes or {})
        return OperationResult("refresh", counts, drift=found.drift())

    # --- state ------------------------------------------------------------------------------

    def outputs(self, spec: StackSpec) -> tuple[dict[str, Any], frozenset[str]]:
        stack = self._open(spec, create=False)
        return map_outputs(stack.outputs()) if stack else ({}, frozenset())

    def record(self, spec: StackSpec) -> DeployRecord | None:
        stack = self._open(spec, create=False)
        if stack is None:
            return None
        value = stack.outputs().get(RECORD_OUTPUT)
        return DeployRecord.from_dict(getattr(value, "value", None))

    def exists(self, spec: StackSpec) -> bool:
        return self._open(spec, create=False) is not None

    def export_state(self, spec: StackSpec) -> dict[str, Any]:
        stack = self._open(spec, create=False)
        if stack is None:
            raise EngineError(f"stack {spec.stack_name} does not exist")
        exported = stack.export_stack()
        return {"version": exported.version, "deployment": dict(exported.deployment or {})}

    def import_state(self, spec: StackSpec, state: Mapping[str, Any]) -> None:
        stack = self._prepared(spec, record=None)
        stack.import_stack(
            self.workspaces.deployment(int(state.get("version", 3)), state.get("deployment") or {})
        )

    def pending_operations(self, spec: StackSpec) -> list[dict[str, Any]]:
        if not self.exists(spec):
            return []
        return list(self.export_state(spec)["deployment"].get("pending_operations") or [])

    def cancel(self, spec: StackSpec) -> None:
        stack = self._open(spec, create=False)
        if stack is not None:
            stack.cancel()

    def list_instances(self, deployment_id: str, environment: str) -> list[str]:
        work_dir = self.state_root / "work"
        work_dir.mkdir(parents=True, exist_ok=True)
        prefix, suffix = f"{deployment_id}-", f"-{environment}"
        return sorted(
            name[len(prefix) : -len(suffix)]
            for name in (
                qualified.split("/")[-1]
                for qualified in self.workspaces.list_stack_names(work_dir, self._env())
            )
            if name.startswith(prefix) and name.endswith(suffix)
        )

    def list_all_instances(self) -> dict[str, dict[str, list[str]]]:
        work_dir = self.state_root / "work"
        work_dir.mkdir(parents=True, exist_ok=True)
        found: dict[str, dict[str, list[str]]] = {}
        for qualified in self.workspaces.list_stack_names(work_dir, self._env()):
            parsed = parse_stack_name(qualified)
            if parsed is not None:
                deployment_id, stack, environment = parsed
                found.setdefault(deployment_id, {}).setdefault(environment, []).append(stack)
        return {d: {e: sorted(s) for e, s in envs.items()} for d, envs in sorted(found.items())}

    # --- helpers ----------------------------------------------------------------------------

    def _env(self) -> dict[str, str]:
        env = dict(self.env)
        if self.credentials is not None:
            env = {key: value for key, value in env.items() if not key.startswith("AWS_")}
            env |= self.credentials()
        return {
            **env,
            "PULUMI_BACKEND_URL": str(self.backend_url),
            "PULUMI_SKIP_UPDATE_CHECK": "true",
        }

    def _open(self, spec: StackSpec, *, create: bool) -> StackLike | None:
        env = {**spec.env, **self._env()}  # the operation's variables, never over the backend's
        return self.workspaces.open(spec, self.project_dir(spec), env, create=create)

    def _prepared(self, spec: StackSpec, *, record: DeployRecord | None) -> StackLike:
        stack = self._open(spec, create=True)
        if stack is None:  # pragma: no cover - create_or_select always returns a stack
            raise EngineError(f"could not create stack {spec.stack_name}")
        wanted = stack_config(spec, record)
        current = stack.get_all_config()
        kept = {f"{spec.project}:{key}" for key in spec.kept_keys}
        absent = sorted(kept - set(current))
        if absent:
            raise EngineError(
                f"{spec.stack_name}: {', '.join(absent)} takes a {{{{SECRET:…}}}} reference whose "
                "CLOUD_SECRET_… variable is not set, and the stack holds no such config secret: "
                f"set the variable, or `pulumi config set --secret {absent[0]} …` on the stack"
            )
        stale = sorted(set(current) - set(wanted) - kept)
        if stale:
            stack.remove_all_config(stale)
        stack.set_all_config(wanted)
        return stack

    def project_dir(self, spec: StackSpec) -> Path:
        """The generated project that runs the stack's program and exports the record."""
        folder = self.state_root / "work" / spec.stack_name
        files = project_files(spec, python=self.python)
        folder.mkdir(parents=True, exist_ok=True)
        for name, text in files.items():
            path = folder / name
            if not path.exists() or path.read_text() != text:
                temporary = path.with_name(f".{name}.tmp")
                temporary.write_text(text)
                os.replace(temporary, path)
        return folder

    def _call(self, spec: StackSpec, method: Any, **kwargs: Any) -> Any:
        from pulumi import automation as auto

        try:
            return method(**kwargs)
        except auto.ConcurrentUpdateError as error:
            raise StackBusyError(
                f"stack {spec.stack_name} is locked by another update: {_tail(error)}"
            ) from None
        except auto.CommandError as error:
            raise EngineError(f"pulumi failed on {spec.stack_name}: {_tail(error)}") from None


_STACK_NAME = re.compile(r"^(D[0-9A-Z]{6})-(.+)$")


def parse_stack_name(qualified: str) -> tuple[str, str, str] | None:
    """(deploymentId, stack type, environment) of `[org/]project/<id>-<stack>-<env>`, the
    project naming the stack type (so a `-` in either name is no ambiguity); None for a
    stack this controller did not name."""
    parts = qualified.split("/")
    match = _STACK_NAME.match(parts[-1])
    if match is None or len(parts) < 2:
        return None
    project, rest = parts[-2], match.group(2)
    if not rest.startswith(project + "-") or len(rest) == len(project) + 1:
        return None
    return match.group(1), project, rest[len(project) + 1 :]


def stack_config(spec: StackSpec, record: DeployRecord | None) -> dict[str, Any]:
    """The stack's Pulumi config: its keys (secret ones as secrets), `cloud:*`, the record."""
    from pulumi import automation as auto

    def text(value: Any) -> str:
        return value if isinstance(value, str) else json.dumps(value)

    config = {
        f"{spec.project}:{key}": auto.ConfigValue(text(value), secret=key in spec.secret_keys)
        for key, value in spec.config.items()
    }
    config |= {
        f"cloud:{key}": auto.ConfigValue(text(value))
        for key, value in spec.context.items()
        if value is not None
    }
    config["aws:region"] = auto.ConfigValue(spec.region)
    if spec.context.get("account"):
        # The provider refuses any other account, whatever credentials the job holds.
        config["aws:allowedAccountIds"] = auto.ConfigValue(json.dumps([spec.account]))
    if record is not None:
        config["cloud:record"] = auto.ConfigValue(json.dumps(record.to_dict()))
    return config


def project_files(spec: StackSpec, *, python: str) -> dict[str, str]:
    program = (spec.program_dir / "__main__.py").resolve()
    return {
        "Pulumi.yaml": (
            f"name: {spec.project}\n"
            "description: generated by cloud; runs the stack program of the catalog\n"
            "runtime:\n  name: python\n  options:\n"
            f"    virtualenv: {json.dumps(python)}\n"
        ),
        "__main__.py": (
            '"""Generated by cloud: runs the catalog program, then records the deploy."""\n'
            "import runpy\n\nimport pulumi\n\n"
            f"runpy.run_path({str(program)!r}, run_name='__main__')\n"
            "record = pulumi.Config('cloud').get_object('record')\n"
            "if record is not None:\n"
            f"    pulumi.export({RECORD_OUTPUT!r}, record)\n"
        ),
    }


def map_counts(changes: Mapping[Any, int]) -> dict[str, int]:
    """Pulumi's per-operation counts folded into create/update/delete/replace/same."""
    counts = empty_counts()
    for op, number in changes.items():
        op = getattr(op, "value", op)
        if op in CHANGE_KINDS:  # a replacement's own steps are not counted twice
            counts[op] += number
    return counts


def map_outputs(outputs: Mapping[str, Any]) -> tuple[dict[str, Any], frozenset[str]]:
    """Stack outputs as values plus the names of the secret ones (the record left out)."""
    values = {name: out.value for name, out in outputs.items() if name != RECORD_OUTPUT}
    secret = frozenset(
        name
        for name, out in outputs.items()
        if name != RECORD_OUTPUT and getattr(out, "secret", False)
    )
    return values, secret


def map_change(event: Any) -> ResourceChange | None:
    """A preview's planned step as a change, with its inputs old → new (None otherwise)."""
    pre = event.resource_pre_event
    if pre is None:
        return None
    meta = pre.metadata
    if meta.type in _SKIPPED_TYPES or meta.type.startswith("pulumi:providers:"):
        return None
    kind = _op(meta.op)
    if kind not in ("create", "update", "delete", "replace"):
        return None
    old = dict(getattr(meta.old, "inputs", None) or {})
    new = dict(getattr(meta.new, "inputs", None) or {})
    inputs = input_changes(old, new) if kind in ("update", "replace") else []
    return ResourceChange(
        meta.urn,
        meta.type,
        _urn_name(meta.urn),
        kind,
        tuple(meta.diffs or sorted({item["path"].split(".", 1)[0] for item in inputs})),
        tuple(inputs),
    )


def map_event(event: Any) -> EngineEvent | None:
    """One Automation API engine event as ours (None for the ones we do not show)."""
    if event.resource_pre_event is not None:
        meta = event.resource_pre_event.metadata
        if meta.type in _SKIPPED_TYPES or meta.type.startswith("pulumi:providers:"):
            return None
        return EngineEvent("resource.started", meta.type, _urn_name(meta.urn), _op(meta.op))
    if event.res_outputs_event is not None:
        meta = event.res_outputs_event.metadata
        if meta.type in _SKIPPED_TYPES or meta.type.startswith("pulumi:providers:"):
            return None
        detail = f" ({', '.join(meta.diffs)})" if meta.diffs else ""
        return EngineEvent(
            "resource.finished",
            meta.type,
            _urn_name(meta.urn),
            _op(meta.op),
            message=_op(meta.op) + detail,
        )
    if event.res_op_failed_event is not None:
        meta = event.res_op_failed_event.metadata
        return EngineEvent(
            "resource.failed", meta.type, _urn_name(meta.urn), _op(meta.op), level="error"
        )
    if event.diagnostic_event is not None:
        diagnostic = event.diagnostic_event
        level = {"warning": "warning", "error": "error", "debug": "debug"}.get(
            diagnostic.severity, "info"
        )
        return EngineEvent("log", message=diagnostic.message.rstrip(), level=level)
    return None


_DRIFTED_OPS = {"update", "refresh", "replace"}


def drift_of_event(event: Any) -> ResourceDrift | None:
    """What a refresh step says drifted (None: in sync, or not a resource step).

    In a refresh the step's `old` state is what the stack recorded and its `new` state what
    the provider read from the cloud; `diffs` / `detailed_diff` name the properties.
    """
    holder = event.resource_pre_event or event.res_outputs_event
    if holder is None:
        return None
    meta = holder.metadata
    if meta.type in _SKIPPED_TYPES or meta.type.startswith("pulumi:providers:"):
        return None
    op = _op(meta.op)
    if op == "delete":
        return ResourceDrift(meta.urn, meta.type, _urn_name(meta.urn), "deleted")
    if op not in _DRIFTED_OPS:
        return None
    old = (meta.old.outputs if meta.old is not None else None) or {}
    new = (meta.new.outputs if meta.new is not None else None) or {}
    keys = list(meta.diffs or []) or sorted((meta.detailed_diff or {}).keys())
    properties = tuple(
        PropertyDrift(key, *_masked(_at(old, key), _at(new, key))) for key in keys
    ) or tuple(differences(old, new))
    if not properties and op == "refresh":
        return None
    return ResourceDrift(meta.urn, meta.type, _urn_name(meta.urn), "updated", properties)


def _at(data: Any, path: str) -> Any:
    for part in path.replace("[", ".").replace("]", "").split("."):
        if isinstance(data, Mapping):
            data = data.get(part)
        elif isinstance(data, list) and part.isdigit() and int(part) < len(data):
            data = data[int(part)]
        else:
            return None
    return data


def _masked(old: Any, new: Any) -> tuple[Any, Any]:
    found = differences(old, new)
    return (found[0].old, found[0].new) if found else (old, new)


class DriftCollector:
    """An Automation API event sink that keeps the drift it sees (by URN) and forwards the
    events it maps to ours."""

    def __init__(self, sink: EventSink) -> None:
        self.sink = sink
        self.found: dict[str, ResourceDrift] = {}

    def __call__(self, event: Any) -> None:
        drift = drift_of_event(event)
        if drift is not None:
            self.found[drift.urn] = drift
        mapped = map_event(event)
        if mapped is not None:
            self.sink(mapped)

    def drift(self) -> list[ResourceDrift]:
        return [self.found[urn] for urn in sorted(self.found)]


def _events_to(sink: EventSink) -> Any:
    def forward(event: Any) -> None:
        mapped = map_event(event)
        if mapped is not None:
            sink(mapped)

    return forward


def _lines_to(sink: EventSink) -> Any:
    def forward(line: str) -> None:
        if line.strip():
            sink(EngineEvent("log", message=line.rstrip()))

    return forward


def _op(op: Any) -> str:
    value = getattr(op, "value", op)
    return "replace" if value in _REPLACE_OPS else str(value)


def _urn_name(urn: str) -> str:
    return urn.rsplit("::", 1)[-1]


def _tail(error: Exception) -> str:
    lines = [line for line in str(error).splitlines() if line.strip()]
    return " | ".join(lines[-4:]) if lines else type(error).__name__
