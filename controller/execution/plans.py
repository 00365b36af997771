"""Plans for a whole repo: against what the backend recorded, or against a git commit.

Shared by `cloud plan` and the GitHub Action. Against records, each instance's
fingerprint is compared with its last successful deploy (the truth of what is deployed:
rebase merges, reverts and failed deploys are handled right). Against a git base (a pull
request), it is compared with the same instance at that commit: no backend, no secret.
Stacks, environments and whole deployments removed since the base are listed for removal.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from controller.adapters.git_repo import GitRepo
from controller.core.catalog import Catalog, Deployment, RepoSnapshot, load_snapshot
from controller.core.environments import environment_view
from controller.core.fingerprints import Fingerprint, StackFiles, fingerprint_view, rebase_files
from controller.core.planning import EnvironmentPlan, Previous, Removal, plan_environment
from controller.engines.base import Engine
from controller.execution.preparation import Selection, prepare_deploy


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
    engine: Engine | Callable[[Deployment, str], Engine],
    file_ids: dict[str, str],
    repo_root: Path,
    drifted: Mapping[tuple[str, str], Mapping[str, str]] | None = None,
) -> list[EnvironmentPlan]:
    """`engine` may be one engine, or a function giving each environment's own (its
    credentials reach only its account). `drifted`: `{(deployment, environment): {stack:
    what drifted}}`, stacks a refresh found drifted, which run whatever their fingerprints
    say."""
    engine_for = engine if callable(engine) else (lambda deployment, environment: engine)
    return [
        prepare_deploy(
            head.catalog,
            deployment,
            environment,
            engine=engine_for(deployment, environment),
            file_ids=file_ids,
            repo_root=repo_root,
            selection=Selection(
                drifted=(drifted or {}).get((deployment.deployment_id, environment))
            ),
        ).plan
        for deployment in scope.deployments
        for environment in enabled_environments(deployment, scope.environment)
    ]


def plans_against_base(
    git: GitRepo,
    base_ref: str,
    head: RepoSnapshot,
    head_files: dict[str, str],
    scope: Scope,
    *,
    file_ids: dict[str, str],
) -> list[EnvironmentPlan]:
    """Plans of the working tree against the commit `base_ref` names (`GitError` if none)."""
    commit = git.resolve(base_ref)
    base_texts, base_ids = git.snapshot_files(commit)
    catalog_same = _same_texts(base_texts, head_files, "stacks/")
    # Under an unchanged catalog, a manifest unchanged since the base resolves exactly as at
    # head: only stack files can differ, so its base fingerprints are the head's with the
    # base's file ids. Only the other manifests are parsed at the base.
    unchanged = {
        path
        for path, text in base_texts.items()
        if catalog_same and path.startswith("deployments/") and head_files.get(path) == text
    }
    base = load_snapshot({p: t for p, t in base_texts.items() if p not in unchanged})
    head_stack_files, base_files = StackFiles(file_ids), StackFiles(base_ids)
    baseline = f"base {base_ref}"
    plans: list[EnvironmentPlan] = []
    for deployment in scope.deployments:
        same = deployment.file in unchanged
        before = deployment if same else base.deployments.get(deployment.deployment_id)
        for environment in enabled_environments(deployment, scope.environment):
            view = environment_view(deployment, head.catalog, environment)
            fingerprints = fingerprint_view(view, head_stack_files)
            previous = (
                _rebased(fingerprints, base_files)
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


def _rebased(
    fingerprints: dict[str, Fingerprint], base_files: StackFiles
) -> dict[str, Previous | None]:
    return {
        name: Previous(based.value, based.components)
        for name, based in rebase_files(fingerprints, base_files).items()
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
    return {
        name: Previous(fp.value, fp.components)
        for name, fp in fingerprint_view(view, files).items()
    }
