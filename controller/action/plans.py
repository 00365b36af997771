"""The action's `plan` step: what changed, and the environment jobs that deploy it.

In a pull request it plans against the base commit (no backend, no secret). On merge and
on dispatch it plans the commit to deploy against what the backend recorded, after
checking that the commit is on the default branch, and lists the stacks and deployments
removed since the previous push. Either way it emits the deploy workflow's matrices: one
entry per deployment environment with work, in promotion waves, packed into shards when a
wave would pass GitHub's 256-job matrix, every output far under 1 MB (the full plan is a
file, uploaded as an artifact). When a limit cannot be met, or a protected environment's
GitHub environment does not protect it, the step fails before any deploy job starts.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
from pathlib import Path
from typing import Any

from controller.action import drift_steps
from controller.action.context import ActionError, ActionInputs, GitHubContext
from controller.action.engines import EnvironmentEngines
from controller.action.plan_comments import failure_file, secret_values
from controller.adapters.clock import SystemClock
from controller.adapters.git_repo import GitError, GitRepo
from controller.adapters.github_api import GitHubApiError, make_github
from controller.adapters.github_environments import GitHubEnvironments
from controller.adapters.local_repo import LocalRepo, write_atomic
from controller.core.catalog import Deployment, RepoSnapshot, load_snapshot
from controller.core.comments import redact_data, render_summary
from controller.core.graph import layer_index, layers
from controller.core.planning import EnvironmentPlan, PlanEntry, critical_seconds, select_stacks
from controller.core.protection import Protection, protection_refusal
from controller.core.reports import plan_document, render_jobs_markdown
from controller.core.stack_files import StackFiles
from controller.core.waves import (
    MAX_OUTPUT_BYTES,
    MAX_WAVES,
    EnvironmentWork,
    PatternError,
    PlanLimitError,
    WavePlan,
    assign_waves,
    enabled_order,
    github_environment,
    is_protected,
    pack,
)
from controller.engines.base import Engine, EngineError
from controller.execution.plans import (
    PlanInputError,
    Scope,
    plans_against_base,
    plans_against_records,
)
from controller.execution.preparation import destroy_graph
from controller.execution.previews import preview_pull_request
from controller.execution.runs import snapshot_at
from controller.execution.specs import stack_spec

PLAN_FILE = "plan.json"
VALIDATION_FILE = "validation.json"


def plan(inputs: ActionInputs, github: GitHubContext) -> int:
    for stale in (inputs.file(PLAN_FILE), failure_file(inputs.work_dir, "plan")):
        stale.unlink(missing_ok=True)  # a comment must never show an earlier run's plan
    repo = LocalRepo(inputs.root)
    head, file_ids, commit = _snapshot_to_plan(inputs, repo)
    scope = _scope(head, inputs)
    engines = EnvironmentEngines(inputs, github, repo.root, phase="plan")
    uses_engine = inputs.preview or not inputs.base_ref or inputs.operation == "destroy"
    if inputs.operation == "destroy":
        plans = _destroy_plans(head, scope, engines)
    elif inputs.base_ref:
        plans = _against_base(inputs.base_ref, repo, commit, scope)
    else:
        drifted = (
            drift_steps.drifted_stacks(head, scope, engines, repo.root) if inputs.refresh else None
        )
        plans = plans_against_records(
            head, scope, engine=engines, file_ids=file_ids, repo_root=repo.root, drifted=drifted
        )
        if inputs.removals_base:
            plans = _with_removed(plans, inputs.removals_base, repo, head, commit)
    _select(plans, inputs.stacks)
    shared = engines(*_any_environment(head, scope)) if uses_engine and scope.deployments else None
    document = plan_document(
        plans,
        mode="git" if inputs.base_ref else "recorded",
        base=inputs.base_ref or None,
        engine=shared.name if shared else None,
        simulated=bool(shared and shared.simulated),
    )
    document["operation"] = inputs.operation
    document["ref"] = commit
    _describe(document, inputs, github, repo)
    if uses_engine:
        _add_resources(document, head, engines, repo, at_ref=inputs.removals_base or None)
        if inputs.preview and inputs.operation == "deploy":
            document["previewLimit"] = inputs.preview_limit
            document["previews"] = preview_pull_request(
                plans,
                head,
                engines,
                repo_root=repo.root,
                file_ids=file_ids,
                base_commit=document.get("baseCommit"),
                limit=inputs.preview_limit,
                parallel=max(2, os.cpu_count() or 2),
            )
    document = redact_data(document, secret_values(head))
    snapshots = _snapshots_of(head, inputs, repo)
    try:
        deploys, removals = plan_jobs(plans, snapshots, inputs)
    except (PlanLimitError, PatternError) as error:
        document["jobs"] = {"error": str(error)}
        write_atomic(inputs.file(PLAN_FILE), json.dumps(document, indent=1))
        _plan_summary(inputs, github, document)
        raise ActionError(f"nothing was deployed: {error}") from None
    checked = _check_protection(inputs, github, deploys, removals)
    document["jobs"] = jobs_document(deploys, removals)
    write_atomic(inputs.file(PLAN_FILE), json.dumps(document, indent=1))
    outputs = plan_outputs(document, inputs.file(PLAN_FILE), deploys, removals)
    github.set_outputs(outputs)
    _plan_summary(inputs, github, document)
    github.add_summary(
        render_jobs_markdown(document["jobs"], protection=checked, credentials=engines.describe())
    )
    return 0


def _plan_summary(inputs: ActionInputs, github: GitHubContext, document: dict[str, Any]) -> None:
    """The plan in the job summary, on merge and dispatch. In a pull request the summary
    step writes it, once, with what the other steps left (plan_comments.summary)."""
    if not inputs.base_ref:
        github.add_summary(render_summary(document, problems=_problems(inputs)))


def _describe(
    document: dict[str, Any], inputs: ActionInputs, github: GitHubContext, repo: LocalRepo
) -> None:
    """Which commits were planned, and when: what a reviewer checks a plan against. In a
    pull request the checkout is GitHub's merge commit; the head is the PR's own."""
    git = GitRepo(repo.root)
    checked_out = git.head()
    head = (github.pull_request().get("head") or {}).get("sha") or checked_out
    document["head"] = head
    if checked_out and checked_out != head:
        document["mergeCommit"] = checked_out
    document["baseCommit"] = git.resolve(inputs.base_ref) if inputs.base_ref else None
    document["plannedAt"] = SystemClock().now()


# --- the commit to plan -------------------------------------------------------------------


def _snapshot_to_plan(
    inputs: ActionInputs, repo: LocalRepo
) -> tuple[RepoSnapshot, StackFiles, str | None]:
    """The snapshot to plan and its stack files: the checkout, or the commit `ref` names,
    refused unless it is on the default branch (a dispatch must not deploy an arbitrary
    commit)."""
    git = GitRepo(repo.root)
    head_commit = git.head()
    if not inputs.ref:
        return load_snapshot(repo.catalog_files()), repo.stack_file_ids(), head_commit
    try:
        commit = git.resolve(inputs.ref)
    except GitError as error:
        raise ActionError(f"ref {inputs.ref}: {error}; nothing was deployed") from None
    if inputs.default_branch:
        try:
            tip = git.branch_head(inputs.default_branch)
            on_branch = git.is_ancestor(commit, tip)
        except GitError as error:
            raise ActionError(f"cannot check ref {inputs.ref}: {error}") from None
        if not on_branch:
            raise ActionError(
                f"ref {inputs.ref} ({commit[:12]}) is not on the default branch "
                f"{inputs.default_branch}: a deploy only runs commits that were merged there "
                "(a rollback names an older commit of it); nothing was deployed"
            )
    if commit == head_commit:
        return load_snapshot(repo.catalog_files()), repo.stack_file_ids(), commit
    texts, ids = git.snapshot_files(commit)
    return load_snapshot(texts), ids, commit


def _snapshots_of(head: RepoSnapshot, inputs: ActionInputs, repo: LocalRepo) -> list[RepoSnapshot]:
    """Where deployments of the plan are found: the head, then the removals' base."""
    found = [head]
    base = inputs.removals_base or inputs.base_ref
    if base:
        with contextlib.suppress(GitError):  # a base git does not know removed nothing
            found.append(snapshot_at(repo.root, base)[0])
    return found


# --- jobs ---------------------------------------------------------------------------------


def plan_jobs(
    plans: list[EnvironmentPlan], snapshots: list[RepoSnapshot], inputs: ActionInputs
) -> tuple[WavePlan, WavePlan]:
    """The environment jobs (in waves) and the removal jobs of a plan."""

    def find(deployment_id: str) -> tuple[Deployment, RepoSnapshot]:
        for snapshot in snapshots:
            if deployment_id in snapshot.deployments:
                return snapshot.deployments[deployment_id], snapshot
        raise PlanLimitError(f"deployment {deployment_id} is in no snapshot")  # pragma: no cover

    with_work = [p for p in plans if p.runnable()]
    if inputs.operation == "destroy":
        assigned = {(p.deployment_id, p.environment): (1, None) for p in with_work}
    else:
        ordered = {}
        for plan_ in with_work:
            deployment, snapshot = find(plan_.deployment_id)
            ordered[plan_.deployment_id] = enabled_order(deployment, snapshot.catalog)
        assigned = assign_waves(ordered, [(p.deployment_id, p.environment) for p in with_work])
    work = []
    for plan_ in with_work:
        deployment, snapshot = find(plan_.deployment_id)
        wave, after = assigned[(plan_.deployment_id, plan_.environment)]
        work.append(
            EnvironmentWork(
                plan_.deployment_id,
                plan_.environment,
                wave,
                is_protected(deployment, snapshot.catalog, plan_.environment),
                github_environment(inputs.environment_pattern, deployment, plan_.environment),
                _estimate(plan_),
                after,
            )
        )
    deploys = pack(work, shard_pattern=inputs.shard_environment_pattern)
    deploying = {item.key for item in work}
    removal_work = []
    for plan_ in (p for p in plans if p.removals):
        deployment, _ = find(plan_.deployment_id)
        key = f"{plan_.deployment_id}/{plan_.environment}"
        removal_work.append(
            EnvironmentWork(
                plan_.deployment_id,
                plan_.environment,
                1,
                True,  # a removal always waits for an approval
                "destroy-"
                + github_environment(inputs.environment_pattern, deployment, plan_.environment),
                sum(_duration(deployment, snapshots, r.stack) for r in plan_.removals),
                key if key in deploying else None,
                tuple(r.stack for r in plan_.removals),
            )
        )
    removals = pack(
        removal_work,
        what="removal",
        max_waves=1,
        shard_pattern="destroy-" + inputs.shard_environment_pattern,
    )
    return deploys, removals


def _estimate(plan_: EnvironmentPlan) -> int:
    # from the entries, which carry their edges: a plan made from the plan index has no graph
    return critical_seconds(plan_.runnable())


def _duration(deployment: Deployment, snapshots: list[RepoSnapshot], stack: str) -> int:
    for snapshot in snapshots:
        definition = snapshot.catalog.stacks.get(stack)
        if definition is not None:
            return definition.estimated_duration
    return 60


def jobs_document(deploys: WavePlan, removals: WavePlan) -> dict[str, Any]:
    artifacts = deploys.artifact_of()
    return {
        "waves": {
            f"wave-{wave}": [shard.entry(artifacts) for shard in shards]
            for wave, shards in sorted(deploys.waves.items())
        },
        "removals": [
            shard.entry(artifacts) for shards in removals.waves.values() for shard in shards
        ],
        "deployJobs": deploys.jobs(),
        "removalJobs": removals.jobs(),
        "environments": sum(
            len(shard.members) for shards in deploys.waves.values() for shard in shards
        ),
    }


def plan_outputs(
    document: dict[str, Any], plan_file: Path, deploys: WavePlan, removals: WavePlan
) -> dict[str, str]:
    """The step outputs: one matrix per wave job, the removals, a compact summary. Refused
    (`ActionError`) if they would not fit GitHub's 1 MB of job outputs."""
    jobs = document["jobs"]
    compact = {
        "changed": document["changed"],
        "waves": len(jobs["waves"]),
        "deployJobs": jobs["deployJobs"],
        "removalJobs": jobs["removalJobs"],
        "environments": jobs["environments"],
        "runnable": sum(len(items) for items in document["matrix"].values()),
        "removals": sum(len(env["removals"]) for env in document["environments"]),
        "simulated": document["simulated"],
    }
    outputs = {
        "changed": str(document["changed"]).lower(),
        "ref": document.get("ref") or "",
        "wave-count": str(len(jobs["waves"])),
        "plan-json": json.dumps(compact),
        "plan-file": str(plan_file),
        "removals": json.dumps(jobs["removals"]),
    }
    for wave in range(1, MAX_WAVES + 1):
        outputs[f"wave-{wave}"] = json.dumps(jobs["waves"].get(f"wave-{wave}", []))
    size = sum(len(name) + len(value.encode()) for name, value in outputs.items())
    if size >= MAX_OUTPUT_BYTES:
        raise ActionError(
            f"the plan's job outputs would be {size:,} bytes; GitHub keeps at most 1 MB per "
            "job. Nothing was deployed: split the change into smaller ones"
        )
    return outputs


def _check_protection(
    inputs: ActionInputs, github: GitHubContext, deploys: WavePlan, removals: WavePlan
) -> str:
    """Fail closed before anything applies: every protected job's GitHub environment must
    exist with required reviewers or a wait timer. What was checked, for the summary."""
    shards = [s for plan_ in (deploys, removals) for ss in plan_.waves.values() for s in ss]
    if not shards:
        return "nothing to check"
    if inputs.base_ref:
        return "checked by the deploy's plan job, not by a pull request's"
    if not (inputs.github_token and github.repository):
        return "not checked here (no github-token); each protected job checks its own"
    client = GitHubEnvironments(
        make_github(inputs.github_token, base_url=github.api_url), github.repository
    )
    try:
        known = client.read_all()
    except GitHubApiError as error:
        raise ActionError(f"cannot read the GitHub environments: {error}") from None
    refusals = []
    for shard in shards:
        found = known.get(shard.github_environment, Protection(shard.github_environment, False))
        reason = protection_refusal(found, required=shard.protected)
        if reason:
            refusals.append(f"{shard.name}: {reason}")
    if refusals:
        shown = "; ".join(refusals[:10]) + (
            f"; and {len(refusals) - 10} more" if len(refusals) > 10 else ""
        )
        raise ActionError(f"nothing was deployed: {shown}")
    protected = sum(shard.protected for shard in shards)
    return f"checked: {protected} protected job(s), each environment holds reviewers or a wait"


# --- plans --------------------------------------------------------------------------------


def _against_base(
    base_ref: str,
    repo: LocalRepo,
    commit: str | None,
    scope: Scope,
) -> list[EnvironmentPlan]:
    """The plans of the checkout (or of `commit`, when a ref named another) against
    `base_ref` (an ActionError if git cannot say)."""
    git = GitRepo(repo.root)
    try:
        tree = repo.tree() if commit in (None, git.head()) else git.commit_tree(commit)
        return plans_against_base(
            git,
            base_ref,
            tree,
            root=repo.root,
            deployment=None if scope.whole_repo else scope.deployments[0].deployment_id,
            environment=scope.environment,
        ).plans
    except GitError as error:
        raise ActionError(f"base-ref {base_ref}: {error}") from None
    except PlanInputError as error:
        raise ActionError(str(error)) from None


def _with_removed(
    plans: list[EnvironmentPlan],
    base: str,
    repo: LocalRepo,
    head: RepoSnapshot,
    commit: str | None,
) -> list[EnvironmentPlan]:
    """Add what git says was removed since `base` (whole deployments and environments)
    to the plans against the records (which find stacks removed within a deployment)."""
    if set(base) == {"0"}:
        return plans  # the first push of a branch: nothing before it
    known = {(p.deployment_id, p.environment): p for p in plans}
    everything = Scope(tuple(sorted(head.deployments.values(), key=lambda d: d.deployment_id)))
    for removed in _against_base(base, repo, commit, everything):
        if not removed.removals:
            continue
        current = known.get((removed.deployment_id, removed.environment))
        if current is None:
            removed.entries = []
            plans.append(removed)
            known[(removed.deployment_id, removed.environment)] = removed
            continue
        have = {r.stack for r in current.removals}
        current.removals += [r for r in removed.removals if r.stack not in have]
    return plans


def _scope(head: RepoSnapshot, inputs: ActionInputs) -> Scope:
    if inputs.deployment:
        deployment = head.find_deployment(inputs.deployment)
        if deployment is None:
            raise ActionError(f"deployment {inputs.deployment} not found")
        return Scope((deployment,), inputs.environment or None, whole_repo=False)
    chosen = tuple(sorted(head.deployments.values(), key=lambda d: d.deployment_id))
    return Scope(chosen, inputs.environment or None)


def _any_environment(head: RepoSnapshot, scope: Scope) -> tuple[Deployment, str]:
    deployment = scope.deployments[0]
    return deployment, scope.environment or next(iter(deployment.manifest.environments))


def _select(plans: list[EnvironmentPlan], patterns: str) -> None:
    """Apply the `stacks` input (globs) to plans made for everything."""
    chosen_patterns = [p for p in patterns.split(",") if p.strip()]
    if not chosen_patterns:
        return
    for plan_ in plans:
        chosen = select_stacks([e.stack for e in plan_.entries], chosen_patterns) or set()
        plan_.entries = [
            entry
            if entry.stack in chosen
            else dataclasses.replace(entry, status="excluded", reasons=("not selected",))
            for entry in plan_.entries
        ]


def _destroy_plans(
    head: RepoSnapshot, scope: Scope, engines: EnvironmentEngines
) -> list[EnvironmentPlan]:
    """For a dispatched destroy: the deployed stacks, as a plan whose layers run in reverse."""
    plans = []
    for deployment in scope.deployments:
        environments = (
            [scope.environment] if scope.environment else list(deployment.manifest.environments)
        )
        for environment in environments:
            engine = engines(deployment, environment)
            graph = destroy_graph(head.catalog, deployment, environment, engine=engine)
            deployed = graph.subgraph(engine.list_instances(deployment.deployment_id, environment))
            order = layers(deployed.reverse(copy=True))
            index = layer_index(order)
            entries = [
                PlanEntry(
                    deployment.deployment_id,
                    environment,
                    name,
                    "changed",
                    ("destroy",),
                    index[name],
                    _definition_seconds(head, name),
                    (),
                )
                for layer in order
                for name in layer
            ]
            plans.append(EnvironmentPlan(deployment.deployment_id, environment, entries, order))
    return plans


def _definition_seconds(head: RepoSnapshot, stack: str) -> int:
    definition = head.catalog.stacks.get(stack)
    return definition.estimated_duration if definition else 60


def _add_resources(
    document: dict[str, Any],
    head: RepoSnapshot,
    engines: EnvironmentEngines,
    repo: LocalRepo,
    *,
    at_ref: str | None = None,
) -> None:
    """List the resources each removal would destroy, from the state where readable."""
    snapshot = head
    for env in document["environments"]:
        for removal in env["removals"]:
            deployment = snapshot.deployments.get(env["deploymentId"])
            if deployment is None and at_ref:
                try:
                    snapshot = snapshot_at(repo.root, at_ref)[0]
                except GitError:
                    continue
                deployment = snapshot.deployments.get(env["deploymentId"])
            if deployment is None:
                continue
            spec = stack_spec(deployment, removal["stack"], env["environment"], repo_root=repo.root)
            try:
                engine: Engine = engines(deployment, env["environment"])
                state = engine.export_state(spec) if engine.exists(spec) else None
            except (EngineError, ActionError):
                state = None
            if state:
                removal["resources"] = [
                    f"{r['type']} {r['urn'].rsplit('::', 1)[-1]}"
                    for r in state.get("deployment", {}).get("resources", [])
                    if r.get("type") != "pulumi:pulumi:Stack" and r.get("custom", True)
                ]


def _problems(inputs: ActionInputs) -> list[dict[str, Any]]:
    path = inputs.file(VALIDATION_FILE)
    return json.loads(path.read_text()) if path.exists() else []
