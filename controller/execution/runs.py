"""Running one deployment environment: the application functions every edge shares.

`cloud deploy` and `cloud destroy` on a laptop, and the GitHub Action's environment and
removal jobs, all plan and run a deployment environment through these functions, so a
stack runs the same way everywhere: layers in dependency order, each stack starting the
moment its own dependencies finish, dynamic skip deciding the pending-upstream stacks.
The edges only parse their input and present the result.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path

import networkx as nx

from controller.adapters.git_repo import GitRepo
from controller.core.catalog import Deployment, RepoSnapshot, load_snapshot
from controller.engines.base import Engine
from controller.execution.executor import (
    DeployJob,
    Executor,
    OperationReport,
    RunSettings,
    Subscriber,
)
from controller.execution.preparation import (
    Selection,
    destroy_graph,
    prepare_deploy,
    refresh_graph,
)


class RunRefused(ValueError):
    """The environment cannot run as asked (disabled, unknown); nothing was changed."""


def plan_deploy(
    snapshot: RepoSnapshot,
    deployment: Deployment,
    environment: str,
    *,
    engine: Engine,
    repo_root: Path,
    file_ids: Mapping[str, str],
    selection: Selection | None = None,
) -> DeployJob:
    """The plan of a deploy against what the engine's backend recorded (`SelectionError`
    when the selection matches nothing, `RunRefused` for a disabled environment)."""
    settings = deployment.manifest.environments.get(environment)
    if settings is None:
        raise RunRefused(f"{deployment.deployment_id} has no environment {environment!r}")
    if not settings.enabled:
        raise RunRefused(
            f"environment {environment} of {deployment.deployment_id} is disabled "
            "in its manifest; enable it to deploy there"
        )
    return prepare_deploy(
        snapshot.catalog,
        deployment,
        environment,
        engine=engine,
        file_ids=file_ids,
        repo_root=repo_root,
        selection=selection or Selection(),
    )


def deploy_environment(
    job: DeployJob,
    *,
    engine: Engine,
    repo_root: Path,
    settings: RunSettings,
    subscribers: Iterable[Subscriber] = (),
    preview: bool = False,
    display: AbstractContextManager[object] | None = None,
    started: Callable[[Executor], None] | None = None,
) -> OperationReport:
    """Run a planned deploy (or preview) of one environment over its DAG."""
    executor = Executor(engine, repo_root=repo_root, settings=settings, subscribers=[*subscribers])
    if started is not None:
        started(executor)
    with display or nullcontext():
        return executor.deploy(job, preview=preview)


def refresh_environment(
    snapshot: RepoSnapshot,
    deployment: Deployment,
    environment: str,
    *,
    engine: Engine,
    repo_root: Path,
    settings: RunSettings,
    subscribers: Iterable[Subscriber] = (),
    preview_only: bool = False,
    patterns: Iterable[str] = (),
) -> OperationReport:
    """Refresh the deployed stacks of one environment in dependency order: what the cloud
    really holds, per stack (`drift` on each outcome); without `preview_only` the state
    takes it, so the next deploy runs the drifted stacks back to the program."""
    graph = refresh_graph(
        snapshot.catalog, deployment, environment, engine=engine, patterns=list(patterns)
    )
    executor = Executor(engine, repo_root=repo_root, settings=settings, subscribers=[*subscribers])
    return executor.refresh(deployment, environment, graph, preview_only=preview_only)


def drifted_of(report: OperationReport) -> dict[str, str]:
    """Stack → what its refresh found, for the stacks of a refresh that drifted."""
    return {
        name: outcome.drift["summary"]
        for name, outcome in report.outcomes.items()
        if outcome.drift is not None and outcome.drift["driftDetected"]
    }


def plan_destroy(
    snapshot: RepoSnapshot,
    deployment: Deployment,
    environment: str,
    *,
    engine: Engine,
    patterns: Iterable[str] = (),
) -> nx.DiGraph:
    """The deployed stacks a destroy touches (all, or those matching `patterns`; refused
    with `SelectionError` when that would break deployed dependents)."""
    return destroy_graph(
        snapshot.catalog, deployment, environment, engine=engine, patterns=list(patterns)
    )


def destroy_environment(
    deployment: Deployment,
    environment: str,
    graph: nx.DiGraph,
    *,
    engine: Engine,
    repo_root: Path,
    settings: RunSettings,
    subscribers: Iterable[Subscriber] = (),
    display: AbstractContextManager[object] | None = None,
) -> OperationReport:
    """Destroy the stacks of `graph` in reverse dependency order."""
    executor = Executor(engine, repo_root=repo_root, settings=settings, subscribers=[*subscribers])
    with display or nullcontext():
        return executor.destroy(deployment, environment, graph)


def snapshot_at(repo_root: Path, ref: str) -> tuple[RepoSnapshot, dict[str, str]]:
    """The catalog and deployments as they were at a git ref, and their files' blob ids
    (`GitError` when git cannot say)."""
    git = GitRepo(repo_root)
    texts, ids = git.snapshot_files(git.resolve(ref))
    return load_snapshot(texts), ids
