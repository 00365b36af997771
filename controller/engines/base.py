"""The engine protocol: what running one stack instance means, whoever runs it.

An engine previews, deploys (`up`), destroys and refreshes one stack instance (a refresh
reads what really exists and reports the drift from the recorded state), streams
events while it works (a resource step started or finished, a log line), and returns the
counts per kind of change. It also keeps, with the stack's own state, the record of the
last successful deploy (fingerprint and consumed upstream outputs), so any runner can read
it and it can never disagree with what was deployed.

Two engines implement it: `PulumiEngine` (Automation API, real clouds) and
`SimulatedEngine` (the same programs under Pulumi's mock runtime, explicit opt-in).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

Operation = Literal["preview", "up", "destroy", "refresh"]
ChangeKind = Literal["create", "update", "delete", "replace", "same"]
CHANGE_KINDS: tuple[ChangeKind, ...] = ("create", "update", "delete", "replace", "same")
SECRET = "[secret]"
RECORD_OUTPUT = "__cloudRecord"  # hidden stack output holding the DeployRecord
_PULUMI_SECRET = "4dabf18193072939515e22adb298388d"  # the signature key of a secret value


@dataclass(frozen=True)
class StackSpec:
    """Everything an engine needs to run one instance: resolved, placeholders filled."""

    deployment_id: str
    stack: str
    environment: str
    program_dir: Path
    config: Mapping[str, Any]
    secret_keys: frozenset[str] = frozenset()
    context: Mapping[str, Any] = field(default_factory=dict)
    # the operation's environment variables (seeds/004 `env`), given to the program's process
    env: Mapping[str, str] = field(default_factory=dict)
    # config keys whose value the stack already holds (a secret reference not in the
    # environment): an engine that keeps stack config leaves them as they are
    kept_keys: frozenset[str] = frozenset()

    @property
    def stack_name(self) -> str:
        """The Pulumi stack name (v3.1 naming): `<deploymentId>-<stack>-<environment>`."""
        return f"{self.deployment_id}-{self.stack}-{self.environment}"

    @property
    def project(self) -> str:
        return self.stack

    @property
    def region(self) -> str:
        return str(self.context.get("region", "us-east-1"))

    @property
    def account(self) -> str:
        return str(self.context.get("account") or "000000000000")


@dataclass(frozen=True)
class EngineEvent:
    """One thing that happened while an engine worked on a stack."""

    kind: Literal["resource.started", "resource.finished", "resource.failed", "log"]
    resource_type: str = ""
    resource_name: str = ""
    operation: str = ""
    message: str = ""
    level: str = "info"


EventSink = Callable[[EngineEvent], None]


def ignore_events(_: EngineEvent) -> None:
    return None


@dataclass(frozen=True)
class ResourceChange:
    urn: str
    type: str
    name: str
    kind: ChangeKind
    changed_inputs: tuple[str, ...] = ()
    # each changed input as {"path", "old", "new"}, values as a reviewer reads them
    # (`controller.core.resource_diffs.show_value`: secrets masked, cut short)
    inputs: tuple[Mapping[str, str], ...] = ()


@dataclass(frozen=True)
class PropertyDrift:
    """A property whose value in the cloud is not the one the state recorded."""

    name: str  # a path: `tags.Name`
    old: Any  # as recorded in the state
    new: Any  # as found in the cloud (SECRET where either is a secret)


@dataclass(frozen=True)
class ResourceDrift:
    """A resource the cloud no longer has as recorded: changed, or gone."""

    urn: str
    type: str
    name: str
    kind: Literal["updated", "deleted"]
    properties: tuple[PropertyDrift, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "urn": self.urn,
            "type": self.type,
            "name": self.name,
            "kind": self.kind,
            "properties": [{"name": p.name, "old": p.old, "new": p.new} for p in self.properties],
        }


@dataclass
class OperationResult:
    operation: Operation
    counts: dict[str, int]
    changes: list[ResourceChange] = field(default_factory=list)
    outputs: dict[str, Any] = field(default_factory=dict)
    secret_outputs: frozenset[str] = frozenset()
    duration: float = 0.0
    simulated: bool = False
    drift: list[ResourceDrift] = field(default_factory=list)  # a refresh's findings

    @property
    def changed(self) -> bool:
        return any(self.counts.get(kind, 0) for kind in CHANGE_KINDS if kind != "same")

    def masked_outputs(self) -> dict[str, Any]:
        return mask_outputs(self.outputs, self.secret_outputs)


@dataclass(frozen=True)
class DeployRecord:
    """What the last successful `up` was made from; stored with the stack's state.

    It holds the fingerprint and its components (digests; toolchain versions in clear),
    `values`: the short non-secret config values and deployment settings in clear (so a
    plan can say "old → new"; a secret value is never in it, only its salted digest),
    the digests of the upstream outputs consumed, and when, from which commit and by which
    operation. A record without `format` was written by format 1 (files by blob id).
    """

    fingerprint: str
    components: Mapping[str, Any]
    consumed: Mapping[str, str] = field(default_factory=dict)
    deployed_at: str = ""
    commit: str | None = None
    operation_id: str | None = None
    values: Mapping[str, Any] = field(default_factory=dict)
    format: int = 2  # controller.core.fingerprints.FORMAT; the executor passes it

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> DeployRecord | None:
        if not isinstance(data, Mapping) or "fingerprint" not in data:
            return None
        known = {name: data[name] for name in cls.__dataclass_fields__ if name in data}
        known.setdefault("format", 1)  # written before formats were recorded
        return cls(**known)


def empty_counts() -> dict[str, int]:
    return dict.fromkeys(CHANGE_KINDS, 0)


def drift_status(result: OperationResult) -> str:
    """A refreshed stack: `in_sync`, `drifted`, or `gone` (every resource it had is gone)."""
    if not result.drift:
        return "in_sync"
    if all(item.kind == "deleted" for item in result.drift) and not result.counts.get("same"):
        return "gone"
    return "drifted"


def drift_data(result: OperationResult) -> dict[str, Any]:
    """A refresh's finding as events and reports carry it (secrets already masked)."""
    status = drift_status(result)
    changed = sum(item.kind == "updated" for item in result.drift)
    gone = len(result.drift) - changed
    parts = [f"{changed} resource(s) changed"] * bool(changed) + [f"{gone} gone"] * bool(gone)
    return {
        "status": status,
        "driftDetected": status != "in_sync",
        "resources": [item.to_dict() for item in result.drift],
        "inSync": int(result.counts.get("same", 0)),
        "summary": "in sync" if status == "in_sync" else ", ".join(parts),
        "simulated": result.simulated,
    }


def differences(old: Any, new: Any, path: str = "") -> list[PropertyDrift]:
    """Property paths whose values differ (into mappings), secrets masked."""
    if _secret(old) or _secret(new):
        return [] if old == new else [PropertyDrift(path or "(value)", SECRET, SECRET)]
    if isinstance(old, Mapping) and isinstance(new, Mapping):
        found: list[PropertyDrift] = []
        for key in sorted(set(old) | set(new), key=str):
            where = f"{path}.{key}" if path else str(key)
            found += differences(old.get(key), new.get(key), where)
        return found
    return [] if old == new else [PropertyDrift(path or "(value)", old, new)]


def _secret(value: Any) -> bool:
    """A secret as the simulator keeps it (`{"[secret]": hash}`), as Pulumi marks one (its
    signature key), or already masked."""
    if isinstance(value, str):
        return value == SECRET
    return isinstance(value, Mapping) and (SECRET in value or _PULUMI_SECRET in value)


def mask_outputs(outputs: Mapping[str, Any], secret: frozenset[str] | set[str]) -> dict[str, Any]:
    """Outputs with every secret value replaced by `[secret]`."""
    return {name: SECRET if name in secret else value for name, value in outputs.items()}


class EngineError(RuntimeError):
    """The engine could not do what was asked (the stack failed, or the engine itself)."""


class EngineUnavailableError(EngineError):
    """The engine cannot run on this machine at all (e.g. no `pulumi` CLI)."""


class StackBusyError(EngineError):
    """Another update holds the stack's lock."""


class Engine(Protocol):
    name: str
    simulated: bool

    def preview(self, spec: StackSpec, *, on_event: EventSink = ...) -> OperationResult: ...

    def up(
        self, spec: StackSpec, *, record: DeployRecord, on_event: EventSink = ...
    ) -> OperationResult: ...

    def destroy(self, spec: StackSpec, *, on_event: EventSink = ...) -> OperationResult: ...

    def refresh(
        self, spec: StackSpec, *, preview_only: bool = False, on_event: EventSink = ...
    ) -> OperationResult:
        """Read what really exists and compare it with the state: `drift` lists what differs
        (counts: `same` in sync, `update` drifted, `delete` gone). Without `preview_only`
        the state is then made to match the cloud."""
        ...

    def outputs(self, spec: StackSpec) -> tuple[dict[str, Any], frozenset[str]]:
        """Current outputs (secrets included, in clear) and the names of the secret ones."""
        ...

    def record(self, spec: StackSpec) -> DeployRecord | None: ...

    def exists(self, spec: StackSpec) -> bool: ...

    def export_state(self, spec: StackSpec) -> dict[str, Any]: ...

    def import_state(self, spec: StackSpec, state: Mapping[str, Any]) -> None: ...

    def pending_operations(self, spec: StackSpec) -> list[dict[str, Any]]: ...

    def cancel(self, spec: StackSpec) -> None: ...

    def list_instances(self, deployment_id: str, environment: str) -> list[str]:
        """Stack types this backend holds state for, in one deployment environment."""
        ...

    def list_all_instances(self) -> dict[str, dict[str, list[str]]]:
        """`{deploymentId: {environment: [stack types]}}` of everything holding state here
        (to find what is no longer wanted: a deleted deployment, a disabled environment)."""
        ...
