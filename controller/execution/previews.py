"""Previews for a plan: only where they can be trusted, and only as many as there is time for.

An instance that will run (new or changed) is previewed against its real state when the
engine holds state for it; otherwise (simulated engine on a runner, a fork, no
credentials) its programs' resource graphs at the base and head commits are compared
(`graph_previews`), which needs no state and no secret. A preview against no state at all
is never made: it would claim "create everything" for a stack that exists.
Pending-upstream instances are not previewed: whether they run is decided at deploy time.

Each program run takes about a second, so at most `limit` instances are previewed, the
most important first (prod before stage before dev); the others say "not previewed" and
why, never zero.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from controller.adapters.git_repo import GitError, GitRepo
from controller.core.catalog import Deployment, RepoSnapshot
from controller.core.environments import environment_view
from controller.core.fingerprints import fingerprint_view
from controller.core.graph import build_graph
from controller.core.plan_views import environment_rank
from controller.core.planning import EnvironmentPlan, PlanEntry
from controller.engines.base import Engine, EngineError
from controller.execution.executor import DeployJob, Executor, RunSettings
from controller.execution.graph_previews import BaseTree, GraphPreviewer, record, temporary_base
from controller.execution.preparation import read_records
from controller.execution.specs import stack_spec

DEFAULT_LIMIT = 30
WILL_RUN = ("new", "changed")
Engines = Callable[[Deployment, str], Engine]  # the engine of one deployment environment


def preview_plans(
    plans: Iterable[EnvironmentPlan],
    head: RepoSnapshot,
    engines: Engines | None,
    *,
    repo_root: Path,
    file_ids: Mapping[str, str],
    base: BaseTree | None,
    base_problem: str | None = None,
    limit: int = DEFAULT_LIMIT,
    parallel: int = 2,
) -> dict[str, Any]:
    """`{"<deploymentId>/<environment>": {"stacks": [record, …]}}` for every environment
    with an instance that will run; each record names its `stack` and `source`."""
    candidates = _candidates(plans)
    chosen: dict[str, tuple[EnvironmentPlan, list[PlanEntry]]] = {}
    for plan, entry in candidates[: max(0, limit)]:
        chosen.setdefault(_key(plan), (plan, []))[1].append(entry)
    graphs = GraphPreviewer(head, repo_root, base, parallel=parallel)
    previews: dict[str, Any] = {}
    for key, (plan, entries) in chosen.items():
        records = _state_previews(plan, entries, head, engines, repo_root, file_ids, parallel)
        rest = [entry for entry in entries if entry.stack not in records]
        comparable = [e.stack for e in rest if e.status == "new" or base is not None]
        for entry in rest:
            if entry.stack not in comparable:
                records[entry.stack] = record(
                    status="not-previewed",
                    reason=base_problem or "no state here and no base commit to compare with",
                    source="none",
                )
        if comparable:
            records |= graphs.preview(plan.deployment_id, plan.environment, comparable)
        previews[key] = {"stacks": [{"stack": e.stack, **records[e.stack]} for e in entries]}
    for plan, entry in candidates[max(0, limit) :]:
        previews.setdefault(_key(plan), {"stacks": []})["stacks"].append(
            {
                "stack": entry.stack,
                **record(
                    status="not-previewed",
                    reason=f"the preview limit ({limit}) was reached",
                    source="none",
                ),
            }
        )
    return previews


def preview_pull_request(
    plans: list[EnvironmentPlan],
    head: RepoSnapshot,
    engines: Engines | None,
    *,
    repo_root: Path,
    file_ids: Mapping[str, str],
    base_commit: str | None,
    limit: int = DEFAULT_LIMIT,
    parallel: int = 2,
) -> dict[str, Any]:
    """`preview_plans` with the base commit (when there is one) exported for the graphs."""
    folder, base, problem = None, None, None
    deployments = {plan.deployment_id for plan, _ in _candidates(plans)[: max(0, limit)]}
    if base_commit and deployments:
        try:
            folder, base = temporary_base(GitRepo(repo_root), base_commit, deployments)
        except GitError as error:
            problem = f"the base commit could not be read ({error})"
    try:
        return preview_plans(
            plans,
            head,
            engines,
            repo_root=repo_root,
            file_ids=file_ids,
            base=base,
            base_problem=problem,
            limit=limit,
            parallel=parallel,
        )
    finally:
        if folder is not None:
            folder.cleanup()


def _candidates(plans: Iterable[EnvironmentPlan]) -> list[tuple[EnvironmentPlan, PlanEntry]]:
    """The instances that will run, the most important first (prod, stage, then dev)."""
    return sorted(
        ((plan, entry) for plan in plans for entry in plan.entries if entry.status in WILL_RUN),
        key=lambda pair: (
            environment_rank(pair[0].environment),
            pair[0].deployment_id,
            pair[0].environment,
            pair[1].layer,
            pair[1].stack,
        ),
    )


def _key(plan: EnvironmentPlan) -> str:
    return f"{plan.deployment_id}/{plan.environment}"


def _state_previews(
    plan: EnvironmentPlan,
    entries: list[PlanEntry],
    head: RepoSnapshot,
    engines: Engines | None,
    repo_root: Path,
    file_ids: Mapping[str, str],
    parallel: int,
) -> dict[str, dict[str, Any]]:
    """Previews against the engine's state, for the instances that have state. An instance
    the engine could not preview for want of upstream outputs is left to the graphs."""
    if engines is None:
        return {}
    deployment = head.deployments[plan.deployment_id]
    engine = engines(deployment, plan.environment)  # with this environment's credentials
    try:
        with_state = {
            entry.stack
            for entry in entries
            if engine.exists(
                stack_spec(deployment, entry.stack, plan.environment, repo_root=repo_root)
            )
        }
    except EngineError:
        return {}
    if not with_state:
        return {}
    view = environment_view(deployment, head.catalog, plan.environment)
    if plan.graph is None or not plan.graph.number_of_nodes():  # made from the plan index
        plan = dataclasses.replace(plan, graph=build_graph(view))
    records = read_records(
        engine, deployment, plan.environment, view.instances, repo_root=repo_root
    )
    job = DeployJob(view, plan, fingerprint_view(view, file_ids), records)
    executor = Executor(
        engine, repo_root=repo_root, settings=RunSettings(operation_id="preview", parallel=parallel)
    )
    report = executor.deploy(job, preview=True, only=with_state)
    found: dict[str, dict[str, Any]] = {}
    for name, outcome in report.outcomes.items():
        data = outcome.to_dict()
        if outcome.state == "succeeded":
            found[name] = record(status="previewed", changes=data["changes"], source="state")
            found[name]["counts"] = dict(outcome.counts)
        elif outcome.state in ("failed", "blocked"):
            found[name] = record(
                status="failed", error=outcome.error or outcome.reason, source="state"
            )
    return found
