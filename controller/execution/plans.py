"""Plans for a whole repo against what the backend recorded (against a git base: see
`base_plans`, whose names are re-exported here).

Shared by `cloud plan`, `cloud deploy` and the GitHub Action. Each instance's fingerprint
is compared with its last successful deploy (the truth of what is deployed: rebase
merges, reverts and failed deploys are handled right), and everything the backend holds
that the repo no longer wants (a deleted deployment, a disabled environment or stack) is
listed for removal with the resources its state holds.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from controller.core.catalog import Deployment, RepoSnapshot
from controller.core.planning import (
    EnvironmentPlan,
    unwanted_instances,
)
from controller.core.stack_files import StackFiles
from controller.engines.base import Engine, EngineError, StackSpec
from controller.execution.base_plans import BasePlans, PlanInputError, plans_against_base
from controller.execution.preparation import Selection, prepare_deploy


@dataclass(frozen=True)
class Scope:
    """Which deployments and environment a plan covers (None: all)."""

    deployments: tuple[Deployment, ...]
    environment: str | None = None
    whole_repo: bool = True  # also look for deployments removed since the base


def enabled_environments(deployment: Deployment, only: str | None) -> list[str]:
    enabled = [name for name, env in deployment.manifest.environments.items() if env.enabled]
    if only is None:
        return enabled
    if only not in deployment.manifest.environments:
        raise PlanInputError(f"{deployment.deployment_id} has no environment {only!r}")
    return [only] if only in enabled else []


def plans_against_records(
    head: RepoSnapshot,
    scope: Scope,
    *,
    engine: Engine | Callable[[Deployment, str], Engine],
    file_ids: StackFiles,
    repo_root: Path,
    drifted: Mapping[tuple[str, str], Mapping[str, str]] | None = None,
) -> list[EnvironmentPlan]:
    """Every environment of the scope against its records, and the removals: stacks,
    environments and (for the whole repo) deployments the backend holds but the repo no
    longer wants, each with the resources its state holds. `drifted`: `{(deployment,
    environment): {stack: what drifted}}`, stacks a refresh found drifted, which run
    whatever their fingerprints say.

    `engine` may be one engine, or a function giving each environment's own (its
    credentials reach only its account): then each enabled environment's backend is
    asked what it holds there; disabled environments (which may have no role to assume)
    and deleted deployments (whose accounts the repo no longer names) are left to the
    plan against a git base, which finds what was removed since it.
    """
    for deployment in scope.deployments:
        enabled_environments(deployment, scope.environment)  # PlanInputError on a typo
    if callable(engine):
        engine_for = engine
        held = {
            deployment.deployment_id: {
                environment: engine(deployment, environment).list_instances(
                    deployment.deployment_id, environment
                )
                for environment in enabled_environments(deployment, scope.environment)
            }
            for deployment in scope.deployments
        }
        known = None
    else:
        engine_for = lambda deployment, environment: engine  # noqa: E731
        held = engine.list_all_instances()
        known = head.deployments if scope.whole_repo else None
    plans = [
        prepare_deploy(
            head.catalog,
            deployment,
            environment,
            engine=engine_for(deployment, environment),
            file_ids=file_ids,
            repo_root=repo_root,
            deployed=held.get(deployment.deployment_id, {}).get(environment, []),
            selection=Selection(
                drifted=(drifted or {}).get((deployment.deployment_id, environment))
            ),
        ).plan
        for deployment in scope.deployments
        for environment in enabled_environments(deployment, scope.environment)
    ]
    plans += unwanted_instances(scope.deployments, held, environment=scope.environment, known=known)
    by_id = {d.deployment_id: d for d in scope.deployments}
    return describe_removals(
        plans,
        lambda plan: (
            engine_for(by_id[plan.deployment_id], plan.environment) if callable(engine) else engine
        ),
        repo_root=repo_root,
    )


def describe_removals(
    plans: Iterable[EnvironmentPlan],
    engine: Engine | Callable[[EnvironmentPlan], Engine],
    *,
    repo_root: Path,
) -> list[EnvironmentPlan]:
    """The plans with each removal's resources, as its state lists them (left empty where
    the state cannot be read); `engine` may be a function of the plan."""
    described = []
    for plan in plans:
        if plan.removals:
            reader = engine(plan) if callable(engine) else engine
            plan.removals = [
                dataclasses.replace(
                    removal,
                    resources=removal_resources(
                        reader,
                        removal.deployment_id,
                        removal.environment,
                        removal.stack,
                        repo_root=repo_root,
                    ),
                )
                for removal in plan.removals
            ]
        described.append(plan)
    return described


def removal_resources(
    engine: Engine, deployment_id: str, environment: str, stack: str, *, repo_root: Path
) -> tuple[str, ...]:
    """`type name` of each resource a stack's state holds (its root stack left out)."""
    spec = StackSpec(deployment_id, stack, environment, repo_root / "stacks" / stack, {})
    try:
        state = engine.export_state(spec) if engine.exists(spec) else None
    except EngineError:
        state = None
    if not state:
        return ()
    return tuple(
        f"{r['type']} {r['urn'].rsplit('::', 1)[-1]}"
        for r in state.get("deployment", {}).get("resources", [])
        if r.get("type") != "pulumi:pulumi:Stack" and r.get("custom", True)
    )


__all__ = [
    "BasePlans",
    "PlanInputError",
    "Scope",
    "describe_removals",
    "enabled_environments",
    "plans_against_base",
    "plans_against_records",
    "removal_resources",
]
