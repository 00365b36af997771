"""A refresh as an operation: one environment's deployed stacks read from the cloud, in
dependency order, holding the environment's lock, every finding recorded.

`cloud refresh`, `cloud drift`, `cloud deploy --refresh` and
`POST /deployments/{id}/stacks/{stack}/refresh` all run this: the same events (each
stack's `stack.completed` with its `drift`, a `drift.detected` for each drifted stack,
on the deployment's channels), so `controller.operations.drift` finds the last check of
each stack whoever ran it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import networkx as nx

from controller.core.catalog import Deployment, RepoSnapshot
from controller.core.drift import environment_entry
from controller.core.problems import has_errors
from controller.core.validation import relevant_problems
from controller.engines.base import Engine, EngineError
from controller.execution.executor import Executor, OperationReport, RunSettings
from controller.execution.preparation import refresh_graph
from controller.operations.control import OperationInProgressError
from controller.operations.drift import KIND
from controller.operations.recorded_runs import RecordedRun, start_run
from controller.operations.recorder import Recorder
from controller.store.base import Store


def refresh_operation(
    store: Store,
    engine: Engine,
    deployment: Deployment,
    environment: str,
    graph: nx.DiGraph,
    *,
    preview_only: bool,
    started_by: str,
    repo_root: Path,
    commit: str | None = None,
    parallel: int = 4,
    subscribers: Sequence[Callable[[dict[str, Any]], None]] = (),
    patterns: Sequence[str] = (),
    recorder: Recorder | None = None,
    owner: str | None = None,
    dispatcher: str = "cli",
) -> tuple[RecordedRun, OperationReport]:
    """Refresh `graph`'s stacks as one recorded operation: the environment's lock, the
    events (each stack's finding, `drift.detected`), its end (failed if it crashed).
    `OperationInProgressError` if another operation holds the environment."""
    run = start_run(
        store,
        deployment_id=deployment.deployment_id,
        environment=environment,
        kind=KIND,
        started_by=started_by,
        payload={
            "request": {"previewOnly": preview_only, "stackFilter": list(patterns)},
            "stacks": [{"name": n, "layer": 0, "estimatedDuration": 0} for n in sorted(graph)],
            "toRun": sorted(graph),
            "skipped": [],
            "estimatedDuration": 0,
            "commit": commit,
            "simulated": engine.simulated,
        },
        engine=lambda: engine,
        deployment=lambda _: deployment,
        repo_root=repo_root,
        started={
            "previewOnly": preview_only or None,
            "simulated": engine.simulated or None,
            "stacksToProcess": graph.number_of_nodes(),
        },
        recorder=recorder,
        owner=owner,
        dispatcher=dispatcher,
    )
    with run.until_done():
        executor = Executor(
            engine,
            repo_root=repo_root,
            settings=RunSettings(
                operation_id=run.operation.id, parallel=parallel, started_by=started_by
            ),
            subscribers=[*subscribers, run.subscriber],
        )
        report = executor.refresh(deployment, environment, graph, preview_only=preview_only)
    return run, report


def check_drift(
    store: Store,
    engine: Engine | Callable[[Deployment, str], Engine],
    snapshot: RepoSnapshot,
    targets: Iterable[tuple[Deployment, str]],
    *,
    started_by: str,
    repo_root: Path,
    commit: str | None = None,
    parallel: int = 4,
) -> list[dict[str, Any]]:
    """A preview-only refresh of each deployment environment (those with nothing deployed
    left out): `cloud drift`'s report entries. `engine`: one engine, or each environment's
    own (its credentials reach only its account). A target that cannot be checked (its
    manifest is invalid, the backend cannot be read, another operation holds it) is an
    entry saying so, never a clean one."""
    engine_for = engine if callable(engine) else (lambda _deployment, _environment: engine)
    entries = []
    for deployment, environment in targets:
        deployment_id = deployment.deployment_id
        unchecked = partial(_unchecked, entries, deployment_id, environment)
        try:
            environment_engine = engine_for(deployment, environment)
            if not environment_engine.list_instances(deployment_id, environment):
                continue
        except EngineError as error:
            unchecked("failed", f"cannot read the backend: {error}")
            continue
        if has_errors(relevant_problems(snapshot, [deployment])):
            unchecked("failed", "invalid: see `cloud validate`")
            continue
        graph = refresh_graph(snapshot.catalog, deployment, environment, engine=environment_engine)
        try:
            _, report = refresh_operation(
                store,
                environment_engine,
                deployment,
                environment,
                graph,
                preview_only=True,
                started_by=started_by,
                repo_root=repo_root,
                commit=commit,
                parallel=parallel,
            )
        except OperationInProgressError as error:
            unchecked("skipped", f"not checked: {error}")
            continue
        entries.append(environment_entry(deployment_id, environment, report.to_dict()))
    return entries


def _unchecked(
    entries: list[dict[str, Any]], deployment_id: str, environment: str, status: str, reason: str
) -> None:
    entries.append(
        environment_entry(deployment_id, environment, None, status=status, reason=reason)
    )
