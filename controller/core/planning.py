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

from controller.core.catalog import Deployment
from controller.core.differences import explain_difference
from controller.core.environments import EnvironmentView, Instance
from controller.core.fingerprints import FORMAT, Fingerprint, digest
from controller.core.graph import build_graph, layer_index, view_layers
from controller.core.placeholders import find_placeholders

Status = Literal["new", "changed", "pending-upstream", "skipped", "excluded"]
RUNNABLE: tuple[Status, ...] = ("new", "changed", "pending-upstream")


@dataclass(frozen=True)
class Previous:
    """What a plan compares with: a recorded deploy, or the base commit's fingerprint.

    `values` are the short non-secret values it kept in clear (for "old → new" reasons);
    `format` is the fingerprint format it was made with (1: compared the old way).
    """

    fingerprint: str
    components: Mapping[str, Mapping[str, str]]
    deployed_at: str | None = None
    values: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    format: int = FORMAT


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
    """A stack that holds state but is no longer wanted; `resources` are what its state
    holds (filled in where the backend was read)."""

    deployment_id: str
    environment: str
    stack: str
    reason: str
    resources: tuple[str, ...] = ()


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
    legacy: Mapping[str, Fingerprint] | None = None,
) -> EnvironmentPlan:
    """The static plan of one deployment environment.

    `previous` maps each stack to what it is compared with; `deployed` names the stacks
    that hold state (to find removals); `selected` limits the plan to some stacks (others
    are *excluded*); `force` marks every selected stack changed. `legacy` holds the
    format 1 fingerprints of the stacks whose previous fingerprint is format 1.
    """
    graph = build_graph(view)
    ordered = view_layers(view)
    index = layer_index(ordered)
    chosen = set(selected) if selected is not None else None
    statuses: dict[str, Status] = {}
    entries: list[PlanEntry] = []
    for name in (name for layer in ordered for name in layer):
        instance = view.instances[name]
        current = recorded = fingerprints[name]  # `recorded` is what a deploy records
        before = previous.get(name)
        old_format = before is not None and before.format != current.format
        if old_format and legacy is not None and name in legacy:
            current = legacy[name]  # compared the old way, once: the next deploy rewrites it
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
        elif old_format and current.format != before.format:
            status = "changed"
            reasons = [
                f"recorded with fingerprint format {before.format}, which cannot be compared"
            ]
        elif before.fingerprint != current.value:
            status = "changed"
            reasons = explain_difference(
                before.components,
                current.components,
                old_values=before.values,
                new_values=current.values,
                stack=name,
            )
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
            if old_format:
                reasons.append(
                    f"compared by its format {before.format} fingerprint; its next deploy "
                    f"records format {FORMAT}"
                )
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
                recorded.value,
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


def unwanted_instances(
    deployments: Iterable[Deployment],
    held: Mapping[str, Mapping[str, Iterable[str]]],
    *,
    environment: str | None = None,
    known: Mapping[str, Deployment] | None = None,
) -> list[EnvironmentPlan]:
    """Removal plans for what a backend holds (`held`: deploymentId → environment → stacks)
    in environments the deployments no longer enable, and, given every deployment the repo
    has (`known`), in deployments it no longer has. Stacks of enabled environments are the
    environment plans' business (`plan_environment`'s `deployed`)."""
    plans: list[EnvironmentPlan] = []

    def add(deployment_id: str, env: str, stacks: Iterable[str], reason: str) -> None:
        names = sorted(set(stacks))
        if names and environment in (None, env):
            removals = [Removal(deployment_id, env, name, reason) for name in names]
            plans.append(EnvironmentPlan(deployment_id, env, [], [], removals))

    for deployment in deployments:
        environments = deployment.manifest.environments
        for env, stacks in sorted(held.get(deployment.deployment_id, {}).items()):
            if env not in environments:
                reason = f"environment {env} is no longer in the manifest"
                add(deployment.deployment_id, env, stacks, reason)
            elif not environments[env].enabled:
                add(deployment.deployment_id, env, stacks, f"environment {env} is disabled")
    if known is not None:
        for deployment_id, environments_held in sorted(held.items()):
            if deployment_id not in known:
                for env, stacks in sorted(environments_held.items()):
                    add(deployment_id, env, stacks, "deployment removed from the repo")
    return plans


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
