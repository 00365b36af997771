"""Plans against a git base (a pull request's): no backend, no secret, little parsing.

Each deployment of the working tree is compared with the same deployment at the base
commit. One that resolves as it did at the base (same manifest, same catalog files) is
planned from the plan index (`.cloud/cache/`): only its stacks' shared parts (definition,
program, toolchain) can differ, so nothing of it is parsed. Only the others are parsed,
at head and at the base, and compared instance by instance. Stacks, environments and
deployments removed since the base are the removals. The models, the graph library and
the engines are imported only on the path that needs them: planning a 500-deployment
repo where one program changed must cost little more than hashing its files.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from controller.adapters.git_repo import GitRepo
from controller.adapters.local_repo import Tree
from controller.adapters.plan_cache import PlanCache
from controller.adapters.stack_sources import FactsCache
from controller.core.blobs import tree_digest
from controller.core.differences import explain_difference
from controller.core.plan_index import DeploymentIndex
from controller.core.planning import (
    Comparison,
    EnvironmentPlan,
    Previous,
    Removal,
    plan_layout,
)
from controller.core.problems import Problem, has_errors
from controller.execution.repo_index import RepoIndex, changed_stacks, stack_components

if TYPE_CHECKING:
    from controller.core.catalog import Catalog, Deployment
    from controller.core.fingerprints import Fingerprint
    from controller.core.stack_files import StackFiles


class PlanInputError(ValueError):
    """A deployment has no such environment, and the like."""


@dataclass
class BasePlans:
    """The plans against a base commit, and the problems of what they cover at head (the
    catalog, its programs, the chosen deployments): a caller stops on an error."""

    plans: list[EnvironmentPlan]
    problems: list[Problem]


def plans_against_base(
    git: GitRepo,
    base_ref: str,
    head: Tree,
    *,
    root: Path,
    deployment: str | None = None,
    environment: str | None = None,
) -> BasePlans:
    """Plans of a tree (the working tree) against the commit `base_ref` names.

    `GitError` if it names none; `PlanInputError` for an unknown deployment or environment.
    A deployment that resolves as it did at the base (same manifest, same catalog files)
    is planned from the plan index: only its stacks' shared parts (definition, program,
    toolchain) can differ. Only the others are parsed, at head and at the base.
    """
    base_tree = git.commit_tree(git.resolve(base_ref))
    cache, facts = PlanCache.under(root), FactsCache.under(root)
    now = RepoIndex(head, cache=cache, facts=facts)
    then = RepoIndex(base_tree, cache=cache, facts=facts, known=now.stack_files)
    chosen = _chosen(now, deployment)
    problems = now.problems(chosen)
    baseline = f"base {base_ref}"
    plans: list[EnvironmentPlan] = []
    before_by_id = then.by_id()
    if not has_errors(problems):
        moved = _stack_comparisons(now, then)
        memo: dict[object, object] = {}  # rows shared by environments that plan alike
        for entry in chosen:
            if environment is not None and environment not in entry.environments:
                raise PlanInputError(f"{entry.deployment_id} has no environment {environment!r}")
            before = before_by_id.get(entry.deployment_id or "")
            if before is not None and entry.same_as(before):
                plans += _indexed_plans(entry, moved, environment, baseline, memo)
            else:
                plans += _resolved_plans(entry, before, now, then, environment, baseline)
    if deployment is None:
        kept = now.by_id()
        for deployment_id, before in sorted(before_by_id.items()):
            if deployment_id not in kept:
                plans += _removal_plans(before, environment, "deployment removed from the repo")
    if deployment is None and not has_errors(problems):
        cache.mark_valid(tree_digest(now.ids))  # every deployment and the catalog checked
    cache.save()
    return BasePlans(plans, problems)


def _stack_comparisons(now: RepoIndex, then: RepoIndex) -> dict[str, Comparison]:
    """How each stack's shared parts compare (the same for every instance of it)."""
    found = {}
    for stack, moved in changed_stacks(now, then, now.catalog.definitions).items():
        if not moved:
            continue
        old, old_values = stack_components(then, stack)
        new, new_values = stack_components(now, stack)
        reasons = explain_difference(
            old, new, old_values=old_values, new_values=new_values, stack=stack
        )
        found[stack] = Comparison("changed", tuple(reasons))
    return found


def _chosen(index: RepoIndex, reference: str | None) -> list[DeploymentIndex]:
    """The deployments a plan covers: all, or the one `reference` names (id, folder name
    or folder path)."""
    entries = sorted(
        (e for e in index.deployments.values() if e.deployment_id), key=lambda e: e.deployment_id
    )
    if reference is None:
        return entries
    name = PurePosixPath(reference.rstrip("/")).name
    if name == "manifest.yaml":
        name = PurePosixPath(reference).parent.name
    for entry in entries:
        if name in (entry.deployment_id, PurePosixPath(entry.directory).name):
            return [entry]
    known = ", ".join(e.deployment_id or "" for e in entries) or "none"
    raise PlanInputError(f"no deployment {reference!r} (deployments: {known})")


def _environments(entry: DeploymentIndex, only: str | None) -> list[str]:
    return [
        name for name, enabled in entry.environments.items() if enabled and only in (None, name)
    ]


_SAME = Comparison("same")


def _indexed_plans(
    entry: DeploymentIndex,
    moved: Mapping[str, Comparison],
    environment: str | None,
    baseline: str,
    memo: dict[object, object],
) -> list[EnvironmentPlan]:
    """An unchanged deployment: its layouts from the index; only stacks whose shared parts
    changed (`moved`) are changed."""
    plans = []
    for name in _environments(entry, environment):
        layout = entry.layouts[name]
        comparisons: Mapping[str, Comparison] | Comparison = _SAME
        if not moved.keys().isdisjoint(layout.durations):
            key = ("comparisons", id(layout.durations))  # one dict per layout: rows shared
            if key not in memo:  # (the layout's dict held too: its id stays unique)
                memo[key] = (layout.durations, {s: moved.get(s, _SAME) for s in layout.durations})
            comparisons = memo[key][1]  # type: ignore[index]
        plans.append(plan_layout(layout, comparisons, baseline=baseline, memo=memo))
    return plans


def _resolved_plans(
    entry: DeploymentIndex,
    before: DeploymentIndex | None,
    head: RepoIndex,
    base: RepoIndex,
    environment: str | None,
    baseline: str,
) -> list[EnvironmentPlan]:
    """A deployment that resolves differently than at the base: both sides parsed, and
    every instance's fingerprint compared in full."""
    from controller.core.environments import environment_view
    from controller.core.fingerprints import fingerprint_view
    from controller.core.planning import plan_environment

    deployment, _ = head.manifest(entry.file)
    assert deployment is not None  # indexed with no error: it loads
    base_deployment = base.manifest(before.file)[0] if before is not None else None
    plans = []
    for name in _environments(entry, environment):
        view = environment_view(deployment, head.catalog_models, name)
        fingerprints = fingerprint_view(view, head.stack_files)
        previous = (
            _base_fingerprints(base_deployment, base.catalog_models, name, base.stack_files)
            if before is not None and name in before.layouts
            else {}
        )
        plans.append(
            plan_environment(
                view, fingerprints, previous, deployed=previous.keys(), baseline=baseline
            )
        )
    if before is not None:
        now = set(_environments(entry, None))
        for name in _environments(before, environment):
            if name not in now:
                plans += _removal_plans(
                    before, name, f"environment {name} disabled or removed", only=True
                )
    return plans


def _removal_plans(
    entry: DeploymentIndex, environment: str | None, reason: str, *, only: bool = False
) -> list[EnvironmentPlan]:
    """Every instance of the entry's enabled environments (of `environment`), removed."""
    names = [environment] if only and environment else _environments(entry, environment)
    return [
        EnvironmentPlan(
            entry.deployment_id or "",
            name,
            [],
            [],
            [
                Removal(entry.deployment_id or "", name, stack, reason)
                for stack in sorted(entry.layouts[name].durations)
            ],
            None,
        )
        for name in names
        if name in entry.layouts
    ]


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
    from controller.core.environments import environment_view
    from controller.core.fingerprints import fingerprint_view

    view = environment_view(before, catalog, environment)
    return _previous(fingerprint_view(view, files))
