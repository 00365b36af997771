"""The drift workflow's steps (`cloud action drift-…`), one function each.

drift-targets    the matrix: the enabled deployment environments, packed into jobs (GitHub's
                 256-entry limit planned for here)
drift-check      `cloud drift` of this job's targets (preview-only refreshes, each with its
                 environment's read-only plan role, by OIDC), a report file
drift-issues     one GitHub issue per drifted deployment environment, from every report
drift-remediate  a deploy-with-refresh dispatch of each drifted environment of the chosen
                 deployment (the deploy workflow's jobs wait for their environment's rules)

What only this workflow needs comes from `CLOUD_…` variables the workflow sets:
`CLOUD_DRIFT_TARGETS`, `CLOUD_DRIFT_REPORTS`, `CLOUD_ISSUE_AUTHOR`, `CLOUD_DEPLOY_WORKFLOW`;
the roles follow the deploy workflow's convention (`CLOUD_PLAN_ROLE_NAME`).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from controller.action.context import ActionError, ActionInputs, GitHubContext
from controller.action.engines import EnvironmentEngines
from controller.adapters.clock import SystemClock
from controller.adapters.drift_issues import BOT, DriftIssues
from controller.adapters.github_api import GitHubApiError, make_github
from controller.adapters.local_repo import LocalRepo, write_atomic
from controller.core.catalog import Deployment, load_snapshot
from controller.core.drift import drift_report, drift_targets, exit_code, render_drift_text
from controller.engines.base import Engine, EngineError
from controller.operations.control import new_operation_id
from controller.operations.recorded_runs import local_store
from controller.operations.refreshes import check_drift

REPORTS = "drift"  # the reports folder under the work dir (and the artifacts' prefix)


def _env(inputs: ActionInputs, name: str, default: str = "") -> str:
    return inputs.env.get(name, "").strip() or default


def _reports_dir(inputs: ActionInputs) -> Path:
    return Path(_env(inputs, "CLOUD_DRIFT_REPORTS") or inputs.work_dir / REPORTS)


def targets(inputs: ActionInputs, github: GitHubContext) -> int:
    snapshot = load_snapshot(LocalRepo(inputs.root).catalog_files())
    deployments = list(snapshot.deployments.values())
    if inputs.deployment:
        chosen = snapshot.find_deployment(inputs.deployment)
        if chosen is None:
            raise ActionError(f"no deployment {inputs.deployment!r}")
        deployments = [chosen]
    try:
        jobs = drift_targets(deployments, environment=inputs.environment or None)
    except ValueError as error:
        raise ActionError(str(error)) from None
    github.set_outputs({"targets": json.dumps(jobs), "count": str(len(jobs))})
    print(
        f"{len(jobs)} drift job(s) for "
        f"{sum(len(j['targets'].split()) for j in jobs)} environment(s)"
    )
    return 0


def check(inputs: ActionInputs, github: GitHubContext) -> int:
    wanted = _env(inputs, "CLOUD_DRIFT_TARGETS").split()
    if not wanted:
        raise ActionError("CLOUD_DRIFT_TARGETS is empty: give this job its targets")
    repo = LocalRepo(inputs.root)
    snapshot = load_snapshot(repo.catalog_files())
    pairs = []
    for target in wanted:
        deployment_id, _, environment = target.partition("/")
        deployment = snapshot.deployments.get(deployment_id)
        if deployment is None or environment not in deployment.manifest.environments:
            raise ActionError(f"target {target!r} is not a deployment environment")
        pairs.append((deployment, environment))
    engine_of = plan_engines(inputs, github, repo.root)
    with local_store(repo.root) as store:
        entries = check_drift(
            store, engine_of, snapshot, pairs, started_by="drift workflow", repo_root=repo.root
        )
    report = drift_report(entries, simulated=inputs.engine == "simulate", at=SystemClock().now())
    folder = _reports_dir(inputs)
    folder.mkdir(parents=True, exist_ok=True)
    name = "-".join(w.replace("/", "-") for w in wanted[:1]) + f"-{len(wanted)}"
    write_atomic(folder / f"drift-{name}.json", json.dumps(report, indent=1) + "\n")
    text = render_drift_text(report)
    print(text, end="")
    github.add_summary(f"```\n{text}```")
    github.set_outputs({"drift": str(report["driftDetected"]).lower()})
    code = exit_code(report)
    return 1 if code == 1 else 0  # drift is reported by the issues, not by a red job


def plan_engines(
    inputs: ActionInputs, github: GitHubContext, root: Path
) -> Callable[[Deployment, str], Engine]:
    """Each environment's engine with its read-only plan role."""
    engines = EnvironmentEngines(inputs, github, root, phase="plan")
    print(engines.describe())
    return guarded(engines)


def guarded(engines: Callable[[Deployment, str], Engine]) -> Callable[[Deployment, str], Engine]:
    """An environment whose role cannot be had is a check that failed (EngineError), not a
    stop of the whole job."""

    def engine_of(deployment: Deployment, environment: str) -> Engine:
        try:
            return engines(deployment, environment)
        except ActionError as error:
            raise EngineError(str(error)) from None

    return engine_of


def _entries(inputs: ActionInputs) -> tuple[list[dict[str, Any]], bool]:
    folder = _reports_dir(inputs)
    entries: list[dict[str, Any]] = []
    simulated = False
    for path in sorted(folder.rglob("drift-*.json")):
        report = json.loads(path.read_text())
        entries += report["environments"]
        simulated = simulated or bool(report.get("simulated"))
    if not entries and not any(folder.rglob("drift-*.json")):
        raise ActionError(f"no drift report under {folder}: did the check jobs run?")
    return entries, simulated


def issues(inputs: ActionInputs, github: GitHubContext) -> int:
    if not inputs.github_token:
        raise ActionError("drift-issues needs github-token (issues: write)")
    entries, simulated = _entries(inputs)
    client = make_github(inputs.github_token, base_url=github.api_url)
    keeper = DriftIssues(client, github.repository, author=_env(inputs, "CLOUD_ISSUE_AUTHOR", BOT))
    try:
        changes = keeper.sync(
            entries, at=SystemClock().now(), run_url=github.run_url, simulated=simulated
        )
    except GitHubApiError as error:
        raise ActionError(str(error)) from None
    lines = [
        f"- {c.action} [#{c.number}]({c.url}): {c.deployment_id} / {c.environment}" for c in changes
    ]
    github.add_summary("### Drift issues\n" + ("\n".join(lines) or "nothing to change"))
    github.set_outputs({"issues": json.dumps([c.to_dict() for c in changes])})
    for line in lines:
        print(line)
    return 0


def remediate(inputs: ActionInputs, github: GitHubContext) -> int:
    """Dispatch the deploy workflow (with a refresh) for each drifted environment of the
    deployment asked for; every dispatched run waits for its environment's protection."""
    if not inputs.deployment:
        raise ActionError("remediate needs a deployment: it never redeploys everything")
    if not inputs.github_token:
        raise ActionError("drift-remediate needs github-token (actions: write)")
    from controller.adapters.github_actions import GitHubActions

    entries, _ = _entries(inputs)
    drifted = [
        e
        for e in entries
        if e["status"] == "drifted"
        and e["deploymentId"] == inputs.deployment
        and (not inputs.environment or e["environment"] == inputs.environment)
    ]
    workflow = _env(inputs, "CLOUD_DEPLOY_WORKFLOW", "deploy.yml")
    client = make_github(inputs.github_token, base_url=github.api_url)
    actions = GitHubActions(client, github.repository, ref=_env(inputs, "GITHUB_REF_NAME", "main"))
    dispatched = []
    for entry in drifted:
        operation_id = new_operation_id()
        fields = {
            "deployment": entry["deploymentId"],
            "environment": entry["environment"],
            "operation": "deploy",
            "refresh": "true",
            "operation-id": operation_id,
        }
        try:
            run = actions.dispatch(workflow, fields, operation_id=operation_id)
        except GitHubApiError as error:
            raise ActionError(str(error)) from None
        where = run.html_url if run and run.html_url else f"run of {operation_id}"
        dispatched.append(f"- {entry['deploymentId']} / {entry['environment']}: {where}")
    github.add_summary("### Remediation\n" + ("\n".join(dispatched) or "nothing drifted"))
    for line in dispatched:
        print(line)
    return 0


def drifted_stacks(
    snapshot: Any,
    scope: Any,
    engines: Callable[[Deployment, str], Engine],
    repo_root: Path,
) -> dict[tuple[str, str], dict[str, str]]:
    """What a preview-only refresh (each environment with its plan role: `engines`) finds
    drifted in each environment a plan covers: the deploy workflow's `refresh`, where
    drifted stacks run though Git did not change."""
    from controller.execution.plans import enabled_environments

    pairs = [
        (deployment, environment)
        for deployment in scope.deployments
        for environment in enabled_environments(deployment, scope.environment)
    ]
    with local_store(repo_root) as store:
        entries = check_drift(
            store,
            guarded(engines),
            snapshot,
            pairs,
            started_by="deploy workflow",
            repo_root=repo_root,
        )
    failed = [
        f"{e['deploymentId']}/{e['environment']}"
        for e in entries
        if e["status"] != "drifted" and e["status"] != "in_sync"
    ]
    if failed:
        raise ActionError(f"the refresh could not check {', '.join(failed)}: nothing is planned")
    return {
        (e["deploymentId"], e["environment"]): {
            s["stack"]: f"{len(s['resources'])} resource(s) not as recorded"
            for s in e["stacks"]
            if s["status"] in ("drifted", "gone")
        }
        for e in entries
    }


STEPS = {
    "drift-targets": targets,
    "drift-check": check,
    "drift-issues": issues,
    "drift-remediate": remediate,
}
