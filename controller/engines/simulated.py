"""The simulated engine: real stack programs under Pulumi's mock runtime, no cloud at all.

It runs a stack's program in a child process under `pulumi.runtime.set_mocks` (see
`mock_runtime`), diffs the resources it registers (by URN) against the state it kept from
the last `up`, and reports create / update / delete / same with the inputs that changed.
State is a Pulumi-shaped checkpoint (`{"version": 3, "deployment": {...}}`) per stack
under `.cloud/sim/<deploymentId>/<environment>/<stack>.json`, written atomically, 0600 in
0700 folders, its secret values sealed (`state_secrets`) rather than in plaintext; the
record of the last deploy is a hidden output of the root stack resource, as with Pulumi.
While an update runs the state carries a pending operation and a lock file exists, so a
killed run is visible afterwards, like an interrupted `pulumi up`.

Beside the state it keeps a simulated "real cloud" (`simulated_cloud`): what an `up`
created, changed out of band by `cloud sim edit|delete`, so a refresh finds drift with no
cloud account. It is chosen explicitly (`--engine simulate` / `CLOUD_ENGINE=simulate`)
and every result it returns says `simulated`.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from controller.adapters.private_files import PRIVATE_FILE, private_dir, write_private
from controller.core.resource_diffs import diff_graphs
from controller.engines.base import (
    RECORD_OUTPUT,
    DeployRecord,
    EngineError,
    EngineEvent,
    EventSink,
    OperationResult,
    ResourceChange,
    StackBusyError,
    StackSpec,
    empty_counts,
    ignore_events,
)
from controller.engines.mock_runtime import ProgramRequest, ProgramResult, run_program
from controller.engines.simulated_cloud import (
    SimulatedCloud,
    applied,
    compare,
    from_state,
    refreshed,
)
from controller.engines.state_secrets import (
    SECRET_SIGNATURE,
    SIGNATURE,
    StateSecretError,
    StateSecrets,
    is_secret,
)

STACK_TYPE = "pulumi:pulumi:Stack"


@dataclass
class SimulatedEngine:
    state_dir: Path
    timeout: float = 300.0
    name: str = "simulate"
    simulated: bool = True
    # Folders are created and pruned by parallel stacks of one environment: one at a time.
    _tree: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)
    _secrets: StateSecrets = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._secrets = StateSecrets(self.state_dir)

    @property
    def cloud(self) -> SimulatedCloud:
        """What "really exists" (see `simulated_cloud`), beside the recorded state."""
        return SimulatedCloud(self.state_dir / "cloud")

    # --- operations -------------------------------------------------------------------------

    def preview(self, spec: StackSpec, *, on_event: EventSink = ignore_events) -> OperationResult:
        state = self._load(spec)
        run = self._run(spec, state, preview=True, on_event=on_event)
        changes = diff_resources(_resources(state), run.resources)
        _emit_changes(changes, on_event, planning=True)
        return self._result("preview", changes, run)

    def up(
        self, spec: StackSpec, *, record: DeployRecord, on_event: EventSink = ignore_events
    ) -> OperationResult:
        with self._locked(spec, "update"):
            state = self._load(spec)
            self._write(spec, _with_pending(state, spec, "updating"))
            try:
                run = self._run(spec, state, preview=False, on_event=on_event)
            except BaseException:  # a failed program changes nothing: put the state back
                if state:
                    self._write(spec, state)
                else:
                    self._path(spec).unlink(missing_ok=True)
                raise
            changes = diff_resources(_resources(state), run.resources)
            _emit_changes(changes, on_event, planning=False)
            checkpoint = _checkpoint(spec, run, record)
            self._write(spec, checkpoint)
            with self._tree:  # what the update touched is now as declared; the rest as it was
                self.cloud.write(
                    spec,
                    applied(self.cloud.current(spec, _resources(state)), checkpoint, changes),
                )
            return self._result("up", changes, run)

    def destroy(self, spec: StackSpec, *, on_event: EventSink = ignore_events) -> OperationResult:
        started = time.monotonic()
        with self._locked(spec, "destroy"):
            state = self._load(spec)
            changes = [
                ResourceChange(r["urn"], r["type"], _name(r["urn"]), "delete")
                for r in reversed(_managed(state))
            ]
            _emit_changes(changes, on_event, planning=False)
            self._path(spec).unlink(missing_ok=True)
        with self._tree:  # once unlocked, so the lock file is gone too
            self.cloud.forget(spec)
            _remove_empty_parents(self._path(spec).parent, self.state_dir)
        counts = empty_counts() | {"delete": len(changes)}
        return OperationResult(
            "destroy", counts, changes, duration=time.monotonic() - started, simulated=True
        )

    def refresh(
        self, spec: StackSpec, *, preview_only: bool = False, on_event: EventSink = ignore_events
    ) -> OperationResult:
        """Compare the recorded state with the simulated cloud; unless `preview_only`, take
        the cloud's values into the state (the gone resources leave it)."""
        started = time.monotonic()
        with self._locked(spec, "refresh"):
            state = self._load(spec)
            if state is None:
                raise EngineError(f"stack {spec.stack_name} has no state to refresh")
            cloud = self.cloud.current(spec, _resources(state))
            drift, same = compare(_resources(state), cloud)
            for item in drift:
                on_event(EngineEvent("resource.started", item.type, item.name, "refresh"))
                detail = ", ".join(
                    f"{p.name}: {json.dumps(p.old)} → {json.dumps(p.new)}" for p in item.properties
                )
                on_event(
                    EngineEvent(
                        "resource.finished",
                        item.type,
                        item.name,
                        "refresh",
                        message=f"drifted: {detail}" if detail else "gone from the cloud",
                        level="warning",
                    )
                )
            if drift and not preview_only:
                self._write(spec, refreshed(state, cloud))
        updated = sum(item.kind == "updated" for item in drift)
        counts = empty_counts() | {"same": same, "update": updated, "delete": len(drift) - updated}
        verb = "would take" if preview_only else "took"
        on_event(
            EngineEvent(
                "log",
                message=f"simulated refresh of {spec.stack_name}: "
                + (
                    f"{len(drift)} resource(s) drifted; {verb} the cloud's values"
                    if drift
                    else "in sync with the simulated cloud"
                ),
            )
        )
        outputs, secret = self.outputs(spec)
        return OperationResult(
            "refresh",
            counts,
            outputs=outputs,
            secret_outputs=secret,
            duration=time.monotonic() - started,
            simulated=True,
            drift=drift,
        )

    # --- state ------------------------------------------------------------------------------

    def outputs(self, spec: StackSpec) -> tuple[dict[str, Any], frozenset[str]]:
        root = _root(self._load(spec))
        values: dict[str, Any] = {}
        secret: set[str] = set()
        for name, value in (root.get("outputs") or {}).items() if root else ():
            if name == RECORD_OUTPUT:
                continue
            if is_secret(value):
                secret.add(name)
                try:
                    value = self._secrets.reveal(value)
                except StateSecretError as error:
                    raise EngineError(f"output {name} of {spec.stack_name}: {error}") from None
            values[name] = value
        return values, frozenset(secret)

    def record(self, spec: StackSpec) -> DeployRecord | None:
        root = _root(self._load(spec))
        return DeployRecord.from_dict((root or {}).get("outputs", {}).get(RECORD_OUTPUT))

    def exists(self, spec: StackSpec) -> bool:
        return self._path(spec).exists()

    def export_state(self, spec: StackSpec) -> dict[str, Any]:
        state = self._load(spec)
        if state is None:
            raise EngineError(f"stack {spec.stack_name} has no state to export")
        return state

    def import_state(self, spec: StackSpec, state: Mapping[str, Any]) -> None:
        if state.get("version") != 3 or not isinstance(state.get("deployment"), Mapping):
            raise EngineError(
                'not a stack checkpoint: expected {"version": 3, "deployment": {...}}'
            )
        with self._locked(spec, "import"):
            before = self._load(spec)
            if before is not None and self.cloud.resources(spec) is None:
                # the cloud does not change with an import: keep it as it was recorded
                with self._tree:
                    self.cloud.write(spec, from_state(_resources(before)))
            self._write(spec, dict(state))

    def pending_operations(self, spec: StackSpec) -> list[dict[str, Any]]:
        state = self._load(spec)
        return list((state or {}).get("deployment", {}).get("pending_operations") or [])

    def cancel(self, spec: StackSpec) -> None:
        """Release the lock of an interrupted update (what `pulumi cancel` does).

        A simulated update writes its resources at the end, all at once, so one that was
        cut short (the process killed) changed nothing: the marker it left goes too, and
        the state is as before it. Pending operations of any other kind (a real engine's,
        or imported) stay, for a human to check.
        """
        self._lock_path(spec).unlink(missing_ok=True)
        state = self._load(spec)
        if state is None:
            return
        pending = list(state.get("deployment", {}).get("pending_operations") or [])
        kept = [op for op in pending if not _own_marker(op)]
        if len(kept) == len(pending):
            return
        if not kept and not _resources(state):
            self._path(spec).unlink(missing_ok=True)  # written only to hold the marker
            return
        state["deployment"]["pending_operations"] = kept
        self._write(spec, state)

    def list_instances(self, deployment_id: str, environment: str) -> list[str]:
        folder = self.state_dir / deployment_id / environment
        return sorted(path.stem for path in folder.glob("*.json")) if folder.is_dir() else []

    def list_all_instances(self) -> dict[str, dict[str, list[str]]]:
        found: dict[str, dict[str, list[str]]] = {}
        for path in sorted(self.state_dir.glob("*/*/*.json")):
            environment = path.parent
            found.setdefault(environment.parent.name, {}).setdefault(environment.name, []).append(
                path.stem
            )
        return found

    # --- helpers ----------------------------------------------------------------------------

    def _run(
        self, spec: StackSpec, state: dict[str, Any] | None, *, preview: bool, on_event: EventSink
    ) -> ProgramResult:
        known_ids = {r["urn"]: r["id"] for r in _resources(state) if r.get("id")}
        request = program_request(spec, preview=preview, known_ids=known_ids)
        on_event(
            EngineEvent(
                "log",
                message=f"simulated {'preview' if preview else 'update'} of {spec.stack_name}",
            )
        )
        result = run_program(request, timeout=self.timeout, env=spec.env)
        for entry in result.logs:
            on_event(EngineEvent("log", message=entry["message"], level=entry["level"]))
        if result.error:
            raise EngineError(f"program failed: {result.error}")
        return result

    def _result(
        self, operation: Any, changes: list[ResourceChange], run: ProgramResult
    ) -> OperationResult:
        counts = empty_counts()
        for change in changes:
            counts[change.kind] += 1
        return OperationResult(
            operation,
            counts,
            changes,
            outputs=dict(run.outputs),
            secret_outputs=frozenset(run.secret_outputs),
            duration=run.duration,
            simulated=True,
        )

    def _path(self, spec: StackSpec) -> Path:
        return self.state_dir / spec.deployment_id / spec.environment / f"{spec.stack}.json"

    def _lock_path(self, spec: StackSpec) -> Path:
        return self._path(spec).with_suffix(".lock")

    def _load(self, spec: StackSpec) -> dict[str, Any] | None:
        path = self._path(spec)
        if not path.exists():
            return None
        try:
            return json.loads(path.read_text())
        except json.JSONDecodeError as error:
            raise EngineError(f"simulated state {path} is corrupt: {error}") from None

    def _write(self, spec: StackSpec, state: Mapping[str, Any]) -> None:
        path = self._path(spec)
        text = json.dumps(self._secrets.seal(state), indent=1, sort_keys=True)
        with self._tree:
            self._folder(path.parent)
            write_private(path, text)

    def _folder(self, folder: Path) -> None:
        private_dir(self.state_dir)  # ours alone: tightened if an older version left it open
        private_dir(folder)

    @contextlib.contextmanager
    def _locked(self, spec: StackSpec, what: str) -> Iterator[None]:
        lock = self._lock_path(spec)
        try:
            with self._tree:
                self._folder(lock.parent)
                handle = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, PRIVATE_FILE)
        except FileExistsError:
            holder = lock.read_text(errors="replace").strip() or "unknown"
            raise StackBusyError(
                f"stack {spec.stack_name} is locked by another update ({holder}); if that "
                f"run is gone, release it with `cloud cancel` (pulumi cancel)"
            ) from None
        with os.fdopen(handle, "w") as stream:
            stream.write(f"{what} by pid {os.getpid()} at {_now()}\n")
        try:
            yield
        finally:
            lock.unlink(missing_ok=True)


def program_request(
    spec: StackSpec, *, preview: bool, known_ids: Mapping[str, str] | None = None
) -> ProgramRequest:
    """What the mock runtime's child process needs to run `spec`'s program."""
    return ProgramRequest(
        program_dir=str(spec.program_dir),
        project=spec.project,
        stack=spec.stack_name,
        config=program_config(spec),
        secret_keys=[f"{spec.project}:{key}" for key in sorted(spec.secret_keys)],
        preview=preview,
        known_ids=dict(known_ids or {}),
        region=spec.region,
        account=spec.account,
    )


def program_config(spec: StackSpec) -> dict[str, str]:
    """Pulumi config as the program reads it: `<project>:<key>` and `cloud:<key>`, as text."""

    def text(value: Any) -> str:
        return value if isinstance(value, str) else json.dumps(value)

    config = {f"{spec.project}:{key}": text(value) for key, value in spec.config.items()}
    config |= {
        f"cloud:{key}": text(value) for key, value in spec.context.items() if value is not None
    }
    config["aws:region"] = spec.region
    if spec.context.get("account"):
        config["aws:allowedAccountIds"] = json.dumps([spec.account])
    return config


def diff_resources(old: list[dict[str, Any]], new: list[Any]) -> list[ResourceChange]:
    """Create / update (with the inputs that changed, old -> new) / delete / same, by URN."""
    registered = [{"urn": r.urn, "type": r.type, "name": r.name, "inputs": r.inputs} for r in new]
    return [
        ResourceChange(
            change["urn"],
            change["type"],
            change["name"],
            change["kind"],
            tuple(sorted({item["path"].split(".", 1)[0] for item in change["inputs"]})),
            tuple(change["inputs"]),
        )
        for change in diff_graphs(old, registered)
    ]


def _emit_changes(changes: list[ResourceChange], on_event: EventSink, *, planning: bool) -> None:
    for change in changes:
        if change.kind == "same":
            continue
        on_event(EngineEvent("resource.started", change.type, change.name, change.kind))
        detail = f" ({', '.join(change.changed_inputs)})" if change.changed_inputs else ""
        on_event(
            EngineEvent(
                "resource.finished",
                change.type,
                change.name,
                change.kind,
                message=("would " if planning else "") + change.kind + detail,
            )
        )


def _checkpoint(spec: StackSpec, run: ProgramResult, record: DeployRecord) -> dict[str, Any]:
    outputs: dict[str, Any] = {
        name: {SIGNATURE: SECRET_SIGNATURE, "plaintext": json.dumps(value)}
        if name in run.secret_outputs
        else value
        for name, value in run.outputs.items()
    }
    outputs[RECORD_OUTPUT] = record.to_dict()
    root_urn = (
        f"urn:pulumi:{spec.stack_name}::{spec.project}::{STACK_TYPE}::"
        f"{spec.project}-{spec.stack_name}"
    )
    resources = [{"urn": root_urn, "type": STACK_TYPE, "custom": False, "outputs": outputs}]
    resources += [
        {
            "urn": r.urn,
            "type": r.type,
            "id": r.id,
            "custom": r.custom,
            "inputs": r.inputs,
            "parent": root_urn,
        }
        for r in run.resources
    ]
    return {
        "version": 3,
        "deployment": {
            "manifest": {"time": _now(), "magic": "simulated", "version": "cloud-simulated"},
            "resources": resources,
            "pending_operations": [],
        },
    }


def _with_pending(state: dict[str, Any] | None, spec: StackSpec, kind: str) -> dict[str, Any]:
    state = (
        json.loads(json.dumps(state))
        if state
        else {
            "version": 3,
            "deployment": {
                "manifest": {"time": _now(), "magic": "simulated", "version": "cloud-simulated"},
                "resources": [],
            },
        }
    )
    state["deployment"]["pending_operations"] = [
        {
            "type": kind,
            "resource": {
                "urn": f"urn:pulumi:{spec.stack_name}::{spec.project}::"
                f"{STACK_TYPE}::{spec.project}-{spec.stack_name}",
                "type": STACK_TYPE,
            },
        }
    ]
    return state


def _own_marker(operation: Mapping[str, Any]) -> bool:
    """The pending operation a simulated update writes on its stack before running."""
    resource = operation.get("resource") or {}
    return operation.get("type") == "updating" and resource.get("type") == STACK_TYPE


def _resources(state: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    return list((state or {}).get("deployment", {}).get("resources") or [])


def _managed(state: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """The resources a program manages (the root stack resource left out)."""
    return [r for r in _resources(state) if r.get("type") != STACK_TYPE]


def _root(state: Mapping[str, Any] | None) -> dict[str, Any] | None:
    return next((r for r in _resources(state) if r.get("type") == STACK_TYPE), None)


def _name(urn: str) -> str:
    return urn.rsplit("::", 1)[-1]


def _remove_empty_parents(folder: Path, stop: Path) -> None:
    while folder != stop and folder.is_dir() and not any(folder.iterdir()):
        try:
            folder.rmdir()
        except OSError:  # another process wrote into it meanwhile: keep it
            return
        folder = folder.parent


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
