"""The simulated "real cloud": what really exists, beside what the simulator recorded.

The simulated engine's state is what the last `up` recorded. Drift is the cloud changing
behind the state's back, so the simulator keeps a second copy per stack, the resources as
they "really exist", under `<state dir>/cloud/<deploymentId>/<environment>/<stack>.json`.
An `up` makes the cloud what the program declared; `cloud sim edit` / `cloud sim delete`
change it out of band, as a person in the console would; a refresh compares the state with
it (and, unless preview-only, takes it into the state). A stack with no cloud copy yet
(deployed before there was one, or imported) is as recorded. Nothing here touches a real
cloud: every file and every message says "simulated".

The comparison and the edits are plain functions over the resource lists; the class only
reads and writes the files (atomically).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from controller.adapters.private_files import private_dir, write_private
from controller.engines.base import EngineError, ResourceDrift, StackSpec, differences

ROOT_TYPE = "pulumi:pulumi:Stack"


class SimulatedCloudError(EngineError):
    """A `cloud sim` request that names no such stack, resource or property."""


@dataclass(frozen=True)
class SimulatedCloud:
    root: Path

    def path(self, deployment_id: str, environment: str, stack: str) -> Path:
        return self.root / deployment_id / environment / f"{stack}.json"

    def resources(self, spec: StackSpec) -> dict[str, dict[str, Any]] | None:
        """`{urn: {type, id, properties}}` as it really exists, or None: as recorded."""
        path = self.path(spec.deployment_id, spec.environment, spec.stack)
        if not path.exists():
            return None
        try:
            return dict(json.loads(path.read_text())["resources"])
        except (json.JSONDecodeError, KeyError, TypeError) as error:
            raise EngineError(f"simulated cloud {path} is corrupt: {error}") from None

    def write(self, spec: StackSpec, resources: Mapping[str, Mapping[str, Any]]) -> None:
        path = self.path(spec.deployment_id, spec.environment, spec.stack)
        private_dir(path.parent)  # like the state beside it: its owner's alone
        document = {
            "simulated": True,
            "about": "what 'really exists' for the simulated engine; change it with "
            "`cloud sim edit|delete`",
            "resources": dict(resources),
        }
        write_private(path, json.dumps(document, indent=1, sort_keys=True))

    def forget(self, spec: StackSpec) -> None:
        path = self.path(spec.deployment_id, spec.environment, spec.stack)
        path.unlink(missing_ok=True)
        folder = path.parent
        while folder != self.root and folder.is_dir() and not any(folder.iterdir()):
            try:
                folder.rmdir()
            except OSError:
                return
            folder = folder.parent

    def current(self, spec: StackSpec, state_resources: list[dict[str, Any]]) -> dict[str, Any]:
        """What really exists: the cloud copy, or the recorded resources when there is none."""
        found = self.resources(spec)
        return found if found is not None else from_state(state_resources)


# --- plain functions over resources ---------------------------------------------------------


def from_state(resources: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """The cloud as a state records it (the managed resources, the root left out)."""
    return {
        r["urn"]: {
            "type": r["type"],
            "id": r.get("id"),
            "properties": copy.deepcopy(r.get("inputs") or {}),
        }
        for r in resources
        if r.get("type") != ROOT_TYPE
    }


def compare(
    state_resources: Iterable[Mapping[str, Any]], cloud: Mapping[str, Mapping[str, Any]]
) -> tuple[list[ResourceDrift], int]:
    """What differs between the state and the cloud, and how many resources are in sync."""
    drift: list[ResourceDrift] = []
    same = 0
    for resource in state_resources:
        if resource.get("type") == ROOT_TYPE:
            continue
        urn = resource["urn"]
        name = urn.rsplit("::", 1)[-1]
        found = cloud.get(urn)
        if found is None:
            drift.append(ResourceDrift(urn, resource["type"], name, "deleted"))
            continue
        changed = tuple(differences(resource.get("inputs") or {}, found.get("properties") or {}))
        if changed:
            drift.append(ResourceDrift(urn, resource["type"], name, "updated", changed))
        else:
            same += 1
    return drift, same


def refreshed(state: dict[str, Any], cloud: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """The state after a refresh: each resource as the cloud has it, the gone ones removed."""
    updated = copy.deepcopy(state)
    kept = []
    for resource in updated.get("deployment", {}).get("resources") or []:
        if resource.get("type") == ROOT_TYPE:
            kept.append(resource)
            continue
        found = cloud.get(resource["urn"])
        if found is None:
            continue
        resource["inputs"] = copy.deepcopy(found.get("properties") or {})
        kept.append(resource)
    updated.setdefault("deployment", {})["resources"] = kept
    return updated


def applied(
    cloud: Mapping[str, Mapping[str, Any]],
    checkpoint: Mapping[str, Any],
    changes: Iterable[Any],
) -> dict[str, dict[str, Any]]:
    """The cloud after an update: what it created, updated or replaced is as the new state
    says, what it deleted is gone, and what it left alone ("same") stays as it really is,
    drifted or not, as with Pulumi (an `up` does not read the cloud; a refresh does)."""
    declared = from_state(checkpoint.get("deployment", {}).get("resources") or [])
    after = {urn: dict(resource) for urn, resource in cloud.items()}
    for change in changes:
        if change.kind == "delete":
            after.pop(change.urn, None)
        elif change.kind != "same" and change.urn in declared:
            after[change.urn] = declared[change.urn]
    return after


def find_resource(cloud: Mapping[str, Mapping[str, Any]], reference: str) -> str:
    """The URN of the resource `reference` names: a URN, `type::name`, or a name."""
    if reference in cloud:
        return reference
    matches = [
        urn
        for urn, resource in cloud.items()
        if urn.rsplit("::", 1)[-1] == reference
        or f"{resource.get('type')}::{urn.rsplit('::', 1)[-1]}" == reference
    ]
    if len(matches) == 1:
        return matches[0]
    names = sorted(f"{r.get('type')}::{u.rsplit('::', 1)[-1]}" for u, r in cloud.items())
    if not matches:
        raise SimulatedCloudError(
            f"no resource {reference!r} in the simulated cloud; it has: {', '.join(names)}"
        )
    raise SimulatedCloudError(
        f"{reference!r} names {len(matches)} resources; say which with type::name: "
        + ", ".join(sorted(f"{cloud[u].get('type')}::{reference}" for u in matches))
    )


def parse_assignment(text: str) -> tuple[list[str], Any]:
    """`tags.Name=web` → (["tags", "Name"], "web"); a value that is JSON is taken as JSON."""
    path, sep, raw = text.partition("=")
    if not sep or not path.strip():
        raise SimulatedCloudError(f"expected PROPERTY=VALUE, got {text!r}")
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = raw
    return [part for part in path.strip().split(".") if part], value


def assign(properties: dict[str, Any], path: list[str], value: Any) -> Any:
    """Set a (dotted) property; returns the value it had (None if it had none)."""
    target = properties
    for part in path[:-1]:
        child = target.get(part)
        if not isinstance(child, dict):
            child = {}
            target[part] = child
        target = child
    previous = target.get(path[-1])
    target[path[-1]] = value
    return previous
