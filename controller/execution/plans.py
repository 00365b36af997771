"""Plans for a whole repo: against what the backend recorded, or against a git commit.

Shared by `cloud plan`, `cloud deploy` and the GitHub Action. Against records, each
instance's fingerprint is compared with its last successful deploy (the truth of what is
deployed: rebase merges, reverts and failed deploys are handled right), and everything
the backend holds that the repo no longer wants (a deleted deployment, a disabled
environment or stack) is listed for removal with its resources. Against a git base (a
pull request), it is compared with the same instance at that commit: no backend, no
secret; stacks, environments and deployments removed since the base are the removals.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from controller.adapters.git_repo import GitRepo
from controller.core.catalog import Catalog, Deployment, RepoSnapshot, load_snapshot
from controller.core.environments import environment_view
from controller.core.fingerprints import Fingerprint, fingerprint_view, rebase_files
from controller.core.planning import (
    EnvironmentPlan,
    Previous,
    Removal,
    plan_environment,
    unwanted_instances,
)
from controller.core.stack_files import StackFiles
from controller.engines.base import Engine, EngineError, StackSpec
from controller.execution.preparation import prepare_deploy


class PlanInputError(ValueError):
    """A deployment has no such environment, and the like."""


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
    engine: Engine,
    file_ids: StackFiles,
    repo_root: Path,
) -> list[EnvironmentPlan]:
    """Every environment of the scope against its records, and the removals: stacks,
    environments and (for the whole repo) deployments the backend holds but the repo no
    longer wants, each with the resources its state holds."""
    for deployment in scope.deployments:
        enabled_environments(deployment, scope.environment)  # PlanInputError on a typo
    held = engine.list_all_instances()
    plans = [
        prepare_deploy(
            head.catalog,
            deployment,
            environment,
            engine=engine,
            file_ids=file_ids,
            repo_root=repo_root,
            deployed=held.get(deployment.deployment_id, {}).get(environment, []),
        ).plan
        for deployment in scope.deployments
        for environment in enabled_environments(deployment, scope.environment)
    ]
    plans += unwanted_instances(
        scope.deployments,
        held,
        environment=scope.environment,
        known=head.deployments if scope.whole_repo else None,
    )
    return describe_removals(plans, engine, repo_root=repo_root)


def describe_removals(
    plans: Iterable[EnvironmentPlan], engine: Engine, *, repo_root: Path
) -> list[EnvironmentPlan]:
    """The plans with each removal's resources, as its state lists them (left empty where
    the state cannot be read)."""
    described = []
    for plan in plans:
        if plan.removals:
            plan.removals = [
                dataclasses.replace(
                    removal,
                    resources=removal_resources(
                        engine,
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


def plans_against_base(
    git: GitRepo,
    base_ref: str,
    head: RepoSnapshot,
    head_files: dict[str, str],
    scope: Scope,
    *,
    file_ids: StackFiles,
) -> list[EnvironmentPlan]:
    """Plans of the working tree against the commit `base_ref` names (`GitError` if none)."""
    commit = git.resolve(base_ref)
    base_texts, base_files = git.snapshot_files(commit, known=file_ids)
    catalog_same = _same_texts(base_texts, head_files, "stacks/")
    # Under an unchanged catalog, a manifest unchanged since the base resolves exactly as at
    # head: only stack files can differ, so its base fingerprints are the head's with the
    # base's stack files. Only the other manifests are parsed at the base.
    unchanged = {
        path
        for path, text in base_texts.items()
        if catalog_same and path.startswith("deployments/") and head_files.get(path) == text
    }
    base = load_snapshot({p: t for p, t in base_texts.items() if p not in unchanged})
    baseline = f"base {base_ref}"
    plans: list[EnvironmentPlan] = []
    for deployment in scope.deployments:
        same = deployment.file in unchanged
        before = deployment if same else base.deployments.get(deployment.deployment_id)
        for environment in enabled_environments(deployment, scope.environment):
            view = environment_view(deployment, head.catalog, environment)
            fingerprints = fingerprint_view(view, file_ids)
            previous = (
                _previous(rebase_files(fingerprints, view, base_files))
                if same
                else _base_fingerprints(before, base.catalog, environment, base_files)
            )
            plans.append(
                plan_environment(
                    view, fingerprints, previous, deployed=previous.keys(), baseline=baseline
                )
            )
        if before is not None and not same:
            now = set(enabled_environments(deployment, None))
            for environment in enabled_environments(before, scope.environment):
                if environment not in now:
                    plans.append(
                        removal_plan(
                            before,
                            base.catalog,
                            environment,
                            f"environment {environment} disabled or removed",
                        )
                    )
    if scope.whole_repo:
        for deployment_id, before in sorted(base.deployments.items()):
            if deployment_id in head.deployments:
                continue
            for environment in enabled_environments(before, scope.environment):
                plans.append(
                    removal_plan(
                        before, base.catalog, environment, "deployment removed from the repo"
                    )
                )
    return plans


def removal_plan(
    deployment: Deployment, catalog: Catalog, environment: str, reason: str
) -> EnvironmentPlan:
    stacks = (
        sorted(environment_view(deployment, catalog, environment).instances)
        if deployment.manifest.template in catalog.templates
        else []
    )
    return EnvironmentPlan(
        deployment.deployment_id,
        environment,
        [],
        [],
        [Removal(deployment.deployment_id, environment, stack, reason) for stack in stacks],
    )


def _same_texts(one: dict[str, str], other: dict[str, str], prefix: str) -> bool:
    def pick(files: dict[str, str]) -> dict[str, str]:
        return {path: text for path, text in files.items() if path.startswith(prefix)}

    return pick(one) == pick(other)


def _previous(fingerprints: Mapping[str, Fingerprint]) -> dict[str, Previous | None]:
    return {
        name: Previous(fp.value, fp.components, values=fp.values)
        for name, fp in fingerprints.items()
    }


def _base_fingerprints(
    before: Deployment | None, catalog: Catalog, environment: str, files: StackFiles
) -> dict[str, Previous | None]:
    if (
        before is None
        or environment not in before.manifest.environments
        or not before.manifest.environments[environment].enabled
        or before.manifest.template not in catalog.templates
    ):
        return {}
    view = environment_view(before, catalog, environment)
    return _previous(fingerprint_view(view, files))
