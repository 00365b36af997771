"""Plans: which instances must run, which may be skipped, and why.

Static plan (PR and push time): an instance is *new* when nothing was recorded for it,
*changed* when its fingerprint differs from the recorded one (the last successful deploy,
or the base commit in a pull request), *pending-upstream* when only something upstream of
it changed, and *skipped* otherwise. Stacks that hold state but are no longer in the
deployment (removed from Git, or disabled in this environment) are listed for removal.

Dynamic skip (run time): when a pending-upstream instance's turn comes, it runs only if an
upstream output it consumes differs from what it was last deployed with. A network change
that leaves `vpcId` as it was redeploys nothing downstream.
A purely computational module.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Any, Literal

import networkx as nx

from controller.core.environments import EnvironmentView, Instance
from controller.core.fingerprints import Fingerprint, digest, explain_difference
from controller.core.graph import build_graph, layer_index, view_layers
from controller.core.placeholders import find_placeholders

Status = Literal["new", "changed", "pending-upstream", "skipped", "excluded"]
RUNNABLE: tuple[Status, ...] = ("new", "changed", "pending-upstream")


@dataclass(frozen=True)
class Previous:
    """What a plan compares with: a recorded deploy, or the base commit's fingerprint."""

    fingerprint: str
    components: Mapping[str, Mapping[str, str]]
    deployed_at: str | None = None


@dataclass(frozen=True)
class PlanEntry:
    deployment_id: str
    environment: str
    stack: str
    status: Status
    reasons: tuple[str, ...]
    layer: int
    estimated_duration: int
    dependencies: tuple[str, ...] = ()
    fingerprint: str = ""
    last_deployed_at: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "deploymentId": self.deployment_id,
            "environment": self.environment,
            "stack": self.stack,
            "status": self.status,
            "reason": "; ".join(self.reasons),
            "layer": self.layer,
            "estimatedDuration": self.estimated_duration,
            "dependencies": list(self.dependencies),
            "lastDeployedAt": self.last_deployed_at,
        }


@dataclass(frozen=True)
class Removal:
    deployment_id: str
    environment: str
    stack: str
    reason: str


@dataclass
class EnvironmentPlan:
    deployment_id: str
    environment: str
    entries: list[PlanEntry]
    layers: list[list[str]]
    removals: list[Removal] = field(default_factory=list)
    graph: nx.DiGraph = field(default_factory=nx.DiGraph, repr=False)

    def entry(self, stack: str) -> PlanEntry:
        return next(entry for entry in self.entries if entry.stack == stack)

    def runnable(self) -> list[PlanEntry]:
        return [entry for entry in self.entries if entry.status in RUNNABLE]

    @property
    def changed(self) -> bool:
        return bool(self.runnable() or self.removals)


def plan_environment(
    view: EnvironmentView,
    fingerprints: Mapping[str, Fingerprint],
    previous: Mapping[str, Previous | None],
    *,
    deployed: Iterable[str] = (),
    selected: Iterable[str] | None = None,
    force: bool = False,
    baseline: str = "last deploy",
    drifted: Mapping[str, str] | None = None,
) -> EnvironmentPlan:
    """The static plan of one deployment environment.

    `previous` maps each stack to what it is compared with; `deployed` names the stacks
    that hold state (to find removals); `selected` limits the plan to some stacks (others
    are *excluded*); `force` marks every selected stack changed; `drifted` (stack →
    what a refresh found) marks those changed too: their cloud is not what they declare.
    """
    graph = build_graph(view)
    ordered = view_layers(view)
    index = layer_index(ordered)
    chosen = set(selected) if selected is not None else None
    statuses: dict[str, Status] = {}
    entries: list[PlanEntry] = []
    for name in (name for layer in ordered for name in layer):
        instance = view.instances[name]
        current = fingerprints[name]
        before = previous.get(name)
        upstream_moving = sorted(
            up for up in graph.predecessors(name) if statuses.get(up) in RUNNABLE
        )
        if chosen is not None and name not in chosen:
            status: Status = "excluded"
            reasons = ["not selected"]
        elif before is None:
            status, reasons = "new", [f"no {baseline} recorded"]
        elif force:
            status, reasons = "changed", ["forced"]
        elif drifted and name in drifted:
            status, reasons = "changed", [f"drift found by the refresh: {drifted[name]}"]
        elif before.fingerprint != current.value:
            status, reasons = "changed", explain_difference(before.components, current.components)
        elif upstream_moving:
            status = "pending-upstream"
            reasons = [
                f"upstream {', '.join(upstream_moving)} will run; redeploys only if an "
                "output it consumes changes"
            ]
        else:
            status = "skipped"
            when = f" (deployed {before.deployed_at})" if before.deployed_at else ""
            reasons = [f"unchanged since {baseline}{when}"]
        statuses[name] = status
        entries.append(
            PlanEntry(
                view.deployment_id,
                view.environment,
                name,
                status,
                tuple(reasons),
                index[name],
                instance.definition.estimated_duration,
                tuple(sorted(graph.predecessors(name))),
                current.value,
                before.deployed_at if before else None,
            )
        )
    removals = [
        Removal(
            view.deployment_id,
            view.environment,
            stack,
            f"disabled in environment {view.environment}"
            if stack in view.declared_stacks
            else "no longer in the deployment",
        )
        for stack in sorted(set(deployed) - set(view.instances))
    ]
    return EnvironmentPlan(view.deployment_id, view.environment, entries, ordered, removals, graph)


def select_stacks(names: Iterable[str], patterns: Iterable[str] | None) -> set[str] | None:
    """The stacks matching any glob (`compute-*`), or None when no filter was given."""
    patterns = [pattern.strip() for pattern in patterns or () if pattern.strip()]
    if not patterns:
        return None
    return {name for name in names if any(fnmatchcase(name, p) for p in patterns)}


# --- run time -----------------------------------------------------------------------------


def consumed_outputs(instance: Instance) -> list[tuple[str, str]]:
    """The (stack, output) pairs an instance reads through placeholders, sorted."""
    pairs = {
        (placeholder.stack, placeholder.output)
        for resolved in instance.config.values()
        for placeholder in find_placeholders(resolved.value)
    }
    return sorted(pairs)


def consumed_digests(
    instance: Instance, outputs: Mapping[str, Mapping[str, Any]]
) -> dict[str, str]:
    """`{"stack.output": digest}` of the upstream outputs this instance consumes now."""
    return {
        f"{stack}.{output}": digest(outputs.get(stack, {}).get(output))
        for stack, output in consumed_outputs(instance)
    }


def dynamic_decision(
    recorded: Mapping[str, str] | None, now: Mapping[str, str]
) -> tuple[bool, str]:
    """Whether a pending-upstream instance must run, and why (or why not)."""
    if recorded is None:
        return True, "never deployed"
    changed = sorted(key for key, value in now.items() if recorded.get(key) != value)
    if changed:
        return True, f"upstream output {', '.join(changed)} changed"
    if not now:
        return False, "consumes no upstream output"
    names = sorted(now)
    shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
    return False, f"upstream outputs it consumes are unchanged ({shown})"


def github_matrix(plans: Iterable[EnvironmentPlan]) -> dict[str, list[dict[str, Any]]]:
    """`{"layer-N": [include, …]}` for the deploy workflow's matrix jobs (runnable only)."""
    matrix: dict[str, list[dict[str, Any]]] = {}
    for plan in plans:
        for entry in plan.runnable():
            matrix.setdefault(f"layer-{entry.layer}", []).append(
                {
                    "deployment": entry.deployment_id,
                    "environment": entry.environment,
                    "stack": entry.stack,
                    "status": entry.status,
                }
            )
    return dict(sorted(matrix.items(), key=lambda item: int(item[0].split("-")[1])))
