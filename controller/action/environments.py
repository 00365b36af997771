"""The action's environment jobs: run each deployment environment of one matrix entry.

`run-environments` deploys (or destroys) the environments of a deploy job, at most two
at a time, each over its whole DAG with the local executor, as `cloud deploy` does (with
`refresh`, as `cloud deploy --refresh`: the deployed stacks are refreshed first and the
drifted ones run). For each, before anything is applied:

1. the job's GitHub environment must protect a protected environment (fail closed);
2. the environment before it in the promotion order must have succeeded in this run
   (its result, downloaded from that job's artifact);
3. the environment's deploy role is assumed by OIDC, in its own account.

Every environment leaves a result file (status, each stack's outcome, counts, masked
outputs) that the job uploads as its artifact: the next wave and the service read it.
`remove` destroys stacks removed from Git, after their environment's deploy succeeded;
`release-lock` (if: always()) cancels only the Pulumi locks this job's stacks still held.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from controller.action.context import ActionError, ActionInputs, GitHubContext
from controller.action.engines import EnvironmentEngines
from controller.adapters.git_repo import GitError, GitRepo
from controller.adapters.github_api import GitHubApiError, make_github
from controller.adapters.github_environments import GitHubEnvironments
from controller.adapters.local_repo import LocalRepo, write_atomic
from controller.core.catalog import Deployment, RepoSnapshot, load_snapshot
from controller.core.protection import protection_refusal
from controller.core.reports import render_report_markdown
from controller.core.waves import SHARD_PARALLEL, gate_refusal, parse_environments, parse_mapping
from controller.engines.base import EngineError
from controller.execution.executor import OperationReport, RunSettings
from controller.execution.preparation import Selection, SelectionError
from controller.execution.runs import (
    RunRefused,
    deploy_environment,
    destroy_environment,
    drifted_of,
    plan_deploy,
    plan_destroy,
    refresh_environment,
    snapshot_at,
)
from controller.execution.specs import stack_spec

RESULTS_DIR = "results"
UPSTREAM_DIR = "upstream"
LOCKS_DIR = "locks"


def run_environments(inputs: ActionInputs, github: GitHubContext) -> int:
    inputs.require("environments")
    job = EnvironmentJob(inputs, github, kind=inputs.operation)
    return job.run(
        parse_environments(inputs.environments), patterns=_patterns(inputs.stacks), base=None
    )


def remove(inputs: ActionInputs, github: GitHubContext) -> int:
    """Destroy the stacks removed from Git (`stacks`: `D/env=a+b,…`), each environment only
    after its own deploy in this run succeeded."""
    inputs.require("environments", "stacks")
    removed = {key: tuple(v.split("+")) for key, v in parse_mapping(inputs.stacks).items()}
    job = EnvironmentJob(inputs, github, kind="remove")
    return job.run(
        parse_environments(inputs.environments), removed=removed, base=inputs.removals_base
    )


def release_lock(inputs: ActionInputs, github: GitHubContext) -> int:
    """Cancel the Pulumi lock of each stack this job started and did not see finish."""
    markers = sorted((inputs.work_dir / LOCKS_DIR).glob("*.held"))
    if not markers:
        print("no lock held by this job")
        return 0
    repo = LocalRepo(inputs.root)
    snapshots = [load_snapshot(repo.catalog_files())]
    if inputs.removals_base:
        with contextlib.suppress(GitError):
            snapshots.append(snapshot_at(repo.root, inputs.removals_base)[0])
    engines = EnvironmentEngines(inputs, github, repo.root, phase="deploy")
    failed = 0
    for marker in markers:
        held = json.loads(marker.read_text())
        deployment = _find(snapshots, held["deploymentId"])
        if deployment is None:
            print(f"::warning title=cloud::{held['deploymentId']} is gone; lock left: {marker}")
            continue
        spec = stack_spec(deployment, held["stack"], held["environment"], repo_root=repo.root)
        try:
            engines(deployment, held["environment"]).cancel(spec)
        except (EngineError, ActionError) as error:
            print(f"::error title=cloud release-lock::{spec.stack_name}: {error}")
            failed += 1
            continue
        marker.unlink(missing_ok=True)
        print(f"released the lock this job held on {spec.stack_name}")
    return 1 if failed else 0


class EnvironmentJob:
    """One job's environments: checks, credentials, runs, results."""

    def __init__(self, inputs: ActionInputs, github: GitHubContext, *, kind: str) -> None:
        self.inputs = inputs
        self.github = github
        self.kind = kind  # deploy | destroy | remove
        self.repo = LocalRepo(inputs.root)
        self.snapshot = load_snapshot(self.repo.catalog_files())
        self.file_ids = self.repo.stack_file_ids()
        self.engines = EnvironmentEngines(inputs, github, self.repo.root, phase="deploy")
        self.results_dir = inputs.work_dir / RESULTS_DIR
        self.commit = GitRepo(self.repo.root).head()
        self._print_lock = threading.Lock()

    def run(
        self,
        pairs: list[tuple[str, str]],
        *,
        patterns: tuple[str, ...] = (),
        removed: dict[str, tuple[str, ...]] | None = None,
        base: str | None,
    ) -> int:
        self.results_dir.mkdir(parents=True, exist_ok=True)
        refusal = self._protection_refusal()
        upstream = read_results(self.inputs.work_dir / UPSTREAM_DIR)
        after = parse_mapping(self.inputs.after)
        snapshots = [self.snapshot]
        if base:
            try:
                snapshots.append(snapshot_at(self.repo.root, base)[0])
            except GitError as error:
                refusal = refusal or f"removals-base {base}: {error}"
        reporter = self._reporter(pairs)
        print(self.engines.describe())

        def one(pair: tuple[str, str]) -> dict[str, Any]:
            key = f"{pair[0]}/{pair[1]}"
            why = refusal or gate_refusal(key, after.get(key), upstream)
            if why:
                return self._result(pair, "blocked", reason=why)
            try:
                return self._run_one(pair, snapshots, patterns, (removed or {}).get(key), reporter)
            except (ActionError, EngineError, RunRefused, SelectionError) as error:
                return self._result(pair, "failed", reason=str(error))

        try:
            with ThreadPoolExecutor(max_workers=SHARD_PARALLEL) as pool:
                results = list(pool.map(one, pairs))
        finally:
            if reporter is not None:
                reporter.close()
        for result in results:
            name = f"{result['deploymentId']}-{result['environment']}.json"
            write_atomic(self.results_dir / name, json.dumps(result, indent=1) + "\n")
            self.github.add_summary(render_report_markdown(result))
            if result["status"] != "success":
                print(
                    f"::error title=cloud {self.kind} {result['deploymentId']} / "
                    f"{result['environment']}::{result['status']}: "
                    f"{result.get('reason') or 'see the stacks that failed above'}"
                )
        failed = [r for r in results if r["status"] != "success"]
        self.github.set_outputs(
            {
                "results-dir": str(self.results_dir),
                "status": "success" if not failed else "failed",
            }
        )
        return 1 if failed else 0

    # --- one environment --------------------------------------------------------------------

    def _run_one(
        self,
        pair: tuple[str, str],
        snapshots: list[RepoSnapshot],
        patterns: tuple[str, ...],
        removed: tuple[str, ...] | None,
        reporter: Any,
    ) -> dict[str, Any]:
        deployment_id, environment = pair
        snapshot = snapshots[0] if self.kind != "remove" else snapshots[-1]
        deployment = _find([snapshot, *snapshots], deployment_id)
        if deployment is None:
            raise ActionError(f"deployment {deployment_id} is not in this commit")
        engine = self.engines(deployment, environment)
        settings = RunSettings(
            operation_id=self.inputs.operation_id or f"op-{secrets.token_hex(6)}",
            parallel=self.inputs.parallel,
            commit=self.commit,
            started_by="github",
        )
        local: list[Callable[[dict[str, Any]], None]] = [
            self._printer(f"{deployment_id}/{environment}"),
            LockMarkers(self.inputs.work_dir / LOCKS_DIR),
        ]
        subscribers = [*local, reporter] if reporter is not None else list(local)
        report: OperationReport
        if self.kind == "deploy":
            drifted = None
            if self.inputs.refresh and engine.list_instances(deployment_id, environment):
                # the state takes what the cloud has; the drifted stacks then run (no report
                # to the service: this operation's stacks are the deploy's)
                refreshed = refresh_environment(
                    snapshot,
                    deployment,
                    environment,
                    engine=engine,
                    repo_root=self.repo.root,
                    settings=settings,
                    subscribers=local,
                )
                if refreshed.exit_code:
                    raise ActionError("the refresh failed: nothing was deployed")
                drifted = drifted_of(refreshed)
            job = plan_deploy(
                snapshot,
                deployment,
                environment,
                engine=engine,
                repo_root=self.repo.root,
                file_ids=self.file_ids,
                selection=Selection(patterns, drifted=drifted),
            )
            report = deploy_environment(
                job,
                engine=engine,
                repo_root=self.repo.root,
                settings=settings,
                subscribers=subscribers,
            )
        else:
            chosen = removed if self.kind == "remove" else patterns
            if self.kind == "remove" and not chosen:
                raise ActionError(f"no stacks to remove given for {deployment_id}/{environment}")
            graph = plan_destroy(
                snapshot, deployment, environment, engine=engine, patterns=chosen or ()
            )
            report = destroy_environment(
                deployment,
                environment,
                graph,
                engine=engine,
                repo_root=self.repo.root,
                settings=settings,
                subscribers=subscribers,
            )
        return {**report.to_dict(), "operation": self.kind, "commit": self.commit}

    def _result(self, pair: tuple[str, str], status: str, *, reason: str) -> dict[str, Any]:
        return {
            "deploymentId": pair[0],
            "environment": pair[1],
            "operation": self.kind,
            "operationId": self.inputs.operation_id or None,
            "status": status,
            "reason": reason,
            "simulated": self.inputs.engine == "simulate",
            "commit": self.commit,
            "stacks": [],
        }

    # --- checks -----------------------------------------------------------------------------

    def _protection_refusal(self) -> str | None:
        """Fail closed: a protected job applies nothing unless GitHub says its environment
        holds required reviewers or a wait timer."""
        if not self.inputs.protected:
            return None
        name = self.inputs.github_environment
        if not name:
            return "a protected environment job needs its github-environment"
        if not (self.inputs.github_token and self.github.repository):
            return protection_refusal(None, required=True)
        client = GitHubEnvironments(
            make_github(self.inputs.github_token, base_url=self.github.api_url),
            self.github.repository,
        )
        try:
            return protection_refusal(client.read(name), required=True)
        except GitHubApiError as error:
            return f"cannot read GitHub environment {name!r} ({error}); refusing to apply"

    def _reporter(self, pairs: list[tuple[str, str]]) -> Any:
        """The service reporter: a dispatched operation is one environment, one token."""
        inputs = self.inputs
        if not (inputs.service_url and inputs.service_token and inputs.operation_id):
            return None
        print(f"::add-mask::{inputs.service_token}")  # before anything could print it
        if len(pairs) != 1:
            raise ActionError("an operation's runner token covers one environment, not a shard")
        from controller.adapters.service_reporter import ServiceReporter

        return ServiceReporter(inputs.service_url, inputs.operation_id, inputs.service_token)

    def _printer(self, key: str) -> Callable[[dict[str, Any]], None]:
        def show(message: dict[str, Any]) -> None:
            data = message.get("data", {})
            stack = data.get("stackName")
            if message["type"] == "stack.started":
                line = f"{stack}: started ({data.get('reason') or 'planned'})"
            elif message["type"] == "stack.completed":
                line = f"{stack}: {data.get('status')} {data.get('reason') or ''}".rstrip()
            elif message["type"] == "stack.failed":
                line = f"{stack}: failed: {(data.get('error') or {}).get('message', '')}"
            elif message["type"] == "log" and data.get("level") in ("warning", "error"):
                line = f"{stack or ''} {data.get('level')}: {data.get('message')}"
            else:
                return
            with self._print_lock:
                print(f"[{key}] {line}", flush=True)

        return show


class LockMarkers:
    """An event subscriber: a marker file while a stack of this job may hold its lock."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def __call__(self, message: dict[str, Any]) -> None:
        data = message.get("data", {})
        stack = data.get("stackName")
        if not stack or message["type"] not in ("stack.started", "stack.completed", "stack.failed"):
            return
        marker = self.folder / f"{data['deploymentId']}-{stack}-{data['environment']}.held"
        if message["type"] == "stack.started":
            self.folder.mkdir(parents=True, exist_ok=True)
            marker.write_text(
                json.dumps(
                    {
                        "deploymentId": data["deploymentId"],
                        "environment": data["environment"],
                        "stack": stack,
                    }
                )
            )
        else:
            marker.unlink(missing_ok=True)


def read_results(folder: Path) -> dict[str, dict[str, Any]]:
    """The results in a folder (downloaded artifacts), by `deploymentId/environment`."""
    found: dict[str, dict[str, Any]] = {}
    for path in sorted(folder.glob("**/*.json")) if folder.is_dir() else []:
        try:
            result = json.loads(path.read_text())
        except (OSError, ValueError):
            print(f"::warning title=cloud::unreadable result {path}", file=sys.stdout)
            continue
        if isinstance(result, dict) and "deploymentId" in result and "environment" in result:
            found[f"{result['deploymentId']}/{result['environment']}"] = result
    return found


def _find(snapshots: list[RepoSnapshot], deployment_id: str) -> Deployment | None:
    for snapshot in snapshots:
        deployment = snapshot.find_deployment(deployment_id)
        if deployment is not None:
            return deployment
    return None


def _patterns(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())
