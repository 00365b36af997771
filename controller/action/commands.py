"""`cloud action <command>`: the GitHub Action's steps, one function each, in one table.

validate   check everything; annotations on the files; problems kept for the comment
plan       which stacks change (against a git base in a pull request, against the
           backend's records on merge); optional previews; the matrix per layer
run-stack  one stack of one layer job, with a marker while it holds the stack's lock
release-lock  (if: always()) cancel the lock only if this job's run-stack left it held
destroy-plan  stacks and deployments removed since a base, with their resources
remove     destroy removed stacks (the job runs only after an environment approval)
comment    the plan comment on the pull request, updated in place
summary    the same tables in the job summary
install-pulumi  the Pulumi CLI of the SDK's version, checksum verified
drift-…    the drift workflow's steps (`drift_steps`)
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from controller.action import drift_steps
from controller.action.context import ActionInputs, GitHubContext
from controller.action.pulumi_cli import install_pulumi
from controller.adapters.git_repo import GitError, GitRepo
from controller.adapters.github_api import (
    GitHubApiError,
    GitHubNotFoundError,
    PullRequestComments,
    make_github,
)
from controller.adapters.local_repo import LocalRepo, write_atomic
from controller.cli.main import main as cli_main
from controller.cli.output import print_annotations, print_problems
from controller.core.catalog import RepoSnapshot, load_snapshot
from controller.core.comments import render_comment, render_summary
from controller.core.environments import environment_view
from controller.core.fingerprints import fingerprint_view
from controller.core.graph import MAX_LAYERS, layer_index, layers
from controller.core.planning import EnvironmentPlan, PlanEntry, select_stacks
from controller.core.problems import has_errors
from controller.core.reports import plan_document
from controller.core.validation import validate_snapshot
from controller.engines.base import Engine, EngineError
from controller.engines.factory import make_engine
from controller.execution.executor import DeployJob, Executor, RunSettings
from controller.execution.plans import Scope, plans_against_base, plans_against_records
from controller.execution.preparation import destroy_graph, read_records
from controller.execution.specs import stack_spec

PLAN_FILE = "plan.json"
VALIDATION_FILE = "validation.json"


class ActionError(RuntimeError):
    """A step cannot do its job; the message is shown as an error annotation."""


def validate(inputs: ActionInputs, github: GitHubContext) -> int:
    snapshot = load_snapshot(LocalRepo(inputs.root).catalog_files())
    problems = validate_snapshot(snapshot)
    print_problems(problems)
    print_annotations(problems)
    write_atomic(
        inputs.file(VALIDATION_FILE),
        json.dumps([problem.to_dict() for problem in problems], indent=1),
    )
    invalid = has_errors(problems)
    github.set_outputs({"valid": str(not invalid).lower(), "problems": str(len(problems))})
    if not invalid:
        github.add_summary(
            f"✅ {len(snapshot.deployments)} deployments, "
            f"{len(snapshot.catalog.stacks)} stacks: valid"
        )
    return 1 if invalid else 0


def plan(inputs: ActionInputs, github: GitHubContext) -> int:
    repo = LocalRepo(inputs.root)
    files = repo.catalog_files()
    head = load_snapshot(files)
    scope = _scope(head, inputs)
    engine = (
        _engine(inputs, repo)
        if (inputs.preview or not inputs.base_ref or inputs.operation == "destroy")
        else None
    )
    if inputs.operation == "destroy":
        plans = _destroy_plans(head, scope, engine, repo)
    elif inputs.base_ref:
        plans = _against_base(inputs, repo, head, files, scope)
    else:
        assert engine is not None
        drifted = (
            drift_steps.drifted_stacks(head, scope, engine, repo.root) if inputs.refresh else None
        )
        plans = plans_against_records(
            head,
            scope,
            engine=engine,
            file_ids=repo.stack_file_ids(),
            repo_root=repo.root,
            drifted=drifted,
        )
    _select(plans, inputs.stacks)
    document = plan_document(
        plans,
        mode="git" if inputs.base_ref else "recorded",
        base=inputs.base_ref or None,
        engine=engine.name if engine else None,
        simulated=bool(engine and engine.simulated),
    )
    document["operation"] = inputs.operation
    if engine is not None:
        _add_resources(document, head, engine, repo)
        if inputs.preview and inputs.operation == "deploy":
            document["previews"] = _previews(plans, head, engine, repo)
    write_atomic(inputs.file(PLAN_FILE), json.dumps(document, indent=1))
    github.set_outputs(plan_outputs(document, inputs.file(PLAN_FILE)))
    github.add_summary(render_summary(document, problems=_problems(inputs)))
    return 0


def plan_outputs(document: dict[str, Any], plan_file: Path) -> dict[str, str]:
    """The step outputs: changed, the matrix of each of the eight layer jobs, removals."""
    matrix = document["matrix"]
    deepest = max((int(key.split("-")[1]) for key in matrix), default=0)
    if deepest > MAX_LAYERS:
        raise ActionError(f"the plan needs {deepest} layers; the workflow has {MAX_LAYERS}")
    removals = [
        {
            "deployment": env["deploymentId"],
            "environment": env["environment"],
            "stacks": ",".join(r["stack"] for r in env["removals"]),
        }
        for env in document["environments"]
        if env["removals"]
    ]
    compact = {
        "changed": document["changed"],
        "layerCount": deepest,
        "runnable": sum(len(items) for items in matrix.values()),
        "removals": sum(len(r["stacks"].split(",")) for r in removals),
        "simulated": document["simulated"],
    }
    outputs = {
        "changed": str(document["changed"]).lower(),
        "layer-count": str(deepest),
        "plan-json": json.dumps(compact),
        "plan-file": str(plan_file),
        "removals": json.dumps(removals),
    }
    for layer in range(1, MAX_LAYERS + 1):
        items = [
            {"deployment": i["deployment"], "environment": i["environment"], "stack": i["stack"]}
            for i in matrix.get(f"layer-{layer}", [])
        ]
        outputs[f"layer-{layer}"] = json.dumps(items)
    return outputs


def run_stack(inputs: ActionInputs, github: GitHubContext) -> int:
    _require(inputs, "deployment", "environment", "stack")
    result_file = inputs.file(
        f"result-{inputs.deployment}-{inputs.environment}-{inputs.stack}.json"
    )
    marker = _lock_marker(inputs)
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(f"{inputs.deployment} {inputs.stack} {inputs.environment}\n")
    argv = [
        "--root",
        str(inputs.root),
        "run-stack",
        inputs.deployment,
        inputs.stack,
        "-e",
        inputs.environment,
        "--operation",
        inputs.operation,
        "--engine",
        inputs.engine,
        "--result-file",
        str(result_file),
    ]
    if inputs.operation_id:
        argv += ["--operation-id", inputs.operation_id]
    if inputs.refresh and inputs.operation == "deploy":
        argv.append("--refresh")
    if inputs.service_url and inputs.service_token and inputs.operation_id:
        print(f"::add-mask::{inputs.service_token}")  # before anything could print it
        argv += ["--service-url", inputs.service_url]
    code = cli_main(argv)
    marker.unlink(missing_ok=True)  # the engine returned: it released the lock itself
    status = json.loads(result_file.read_text())["status"] if result_file.exists() else "failed"
    github.set_outputs({"result-file": str(result_file), "status": status})
    return code


def release_lock(inputs: ActionInputs, github: GitHubContext) -> int:
    marker = _lock_marker(inputs)
    if not marker.exists():
        print("no lock held by this job")
        return 0
    repo = LocalRepo(inputs.root)
    snapshot = load_snapshot(repo.catalog_files())
    deployment = snapshot.find_deployment(inputs.deployment)
    if deployment is None:
        raise ActionError(f"deployment {inputs.deployment} not found")
    spec = stack_spec(deployment, inputs.stack, inputs.environment, repo_root=repo.root)
    _engine(inputs, repo).cancel(spec)
    marker.unlink(missing_ok=True)
    print(f"released the lock this job held on {spec.stack_name}")
    return 0


def _against_base(
    inputs: ActionInputs, repo: LocalRepo, head: RepoSnapshot, files: dict[str, str], scope: Scope
) -> list[EnvironmentPlan]:
    """The plans of the checkout against `base-ref` (an ActionError if git cannot say)."""
    try:
        return plans_against_base(
            GitRepo(repo.root),
            inputs.base_ref,
            head,
            files,
            scope,
            file_ids=repo.stack_file_ids(),
        )
    except GitError as error:
        raise ActionError(f"base-ref {inputs.base_ref}: {error}") from None


def destroy_plan(inputs: ActionInputs, github: GitHubContext) -> int:
    _require(inputs, "base_ref")
    repo = LocalRepo(inputs.root)
    files = repo.catalog_files()
    head = load_snapshot(files)
    plans = _against_base(inputs, repo, head, files, _scope(head, inputs))
    removing = [p for p in plans if p.removals]
    for plan_ in removing:
        plan_.entries = []
    document = plan_document(removing, mode="git", base=inputs.base_ref)
    engine = _engine(inputs, repo)
    _add_resources(document, head, engine, repo, at_ref=inputs.base_ref)
    write_atomic(inputs.file("destroy-plan.json"), json.dumps(document, indent=1))
    outputs = plan_outputs(document, inputs.file("destroy-plan.json"))
    github.set_outputs({"changed": outputs["changed"], "removals": outputs["removals"]})
    github.add_summary(render_summary(document))
    return 0


def remove(inputs: ActionInputs, github: GitHubContext) -> int:
    _require(inputs, "deployment", "environment", "stacks", "base_ref")
    return cli_main(
        [
            "--root",
            str(inputs.root),
            "destroy",
            inputs.deployment,
            "-e",
            inputs.environment,
            "--stacks",
            inputs.stacks,
            "--yes",
            "--at-ref",
            inputs.base_ref,
            "--engine",
            inputs.engine,
        ]
    )


def comment(inputs: ActionInputs, github: GitHubContext) -> int:
    number = github.pull_request_number()
    if number is None:
        raise ActionError("comment needs a pull_request event (no pull request number)")
    if not inputs.github_token:
        raise ActionError("comment needs github-token (with pull-requests: write)")
    document = _read(inputs.file(PLAN_FILE)) or {"environments": [], "matrix": {}}
    bodies = render_comment(
        document,
        problems=_problems(inputs),
        secrets=_secret_values(inputs.root),
        run_url=github.run_url,
    )
    client = make_github(inputs.github_token, base_url=github.api_url)
    try:
        urls = PullRequestComments(client, github.repository).publish(number, bodies)
    except GitHubNotFoundError:
        print(f"::warning title=cloud::pull request #{number} is gone (404): no comment was posted")
        return 0
    except GitHubApiError as error:
        raise ActionError(f"could not post the plan comment: {error}") from None
    github.set_outputs({"comment-url": urls[0] if urls else ""})
    print(f"plan comment: {urls[0]}" + (f" (+{len(urls) - 1} continued)" if len(urls) > 1 else ""))
    return 0


def summary(inputs: ActionInputs, github: GitHubContext) -> int:
    document = _read(inputs.file(PLAN_FILE))
    if document is None:
        github.add_summary("No plan was made (see the validation problems above).")
        return 0
    github.add_summary(render_summary(document, problems=_problems(inputs)))
    return 0


def pulumi(inputs: ActionInputs, github: GitHubContext) -> int:
    directory = install_pulumi(inputs.pulumi_version or None, inputs.work_dir / "pulumi")
    github.add_path(directory)
    print(f"pulumi CLI installed in {directory}")
    return 0


COMMANDS: dict[str, Callable[[ActionInputs, GitHubContext], int]] = {
    "validate": validate,
    "plan": plan,
    "run-stack": run_stack,
    "release-lock": release_lock,
    "destroy-plan": destroy_plan,
    "remove": remove,
    "comment": comment,
    "summary": summary,
    "install-pulumi": pulumi,
    **drift_steps.STEPS,
}


def run_action(env: dict[str, str] | None = None) -> int:
    env = dict(os.environ if env is None else env)
    inputs = ActionInputs.from_env(env)
    github = GitHubContext.from_env(env)
    command = COMMANDS.get(inputs.command)
    if command is None:
        print(
            f"::error title=cloud::unknown command {inputs.command!r}; choose one of "
            f"{', '.join(COMMANDS)}"
        )
        return 2
    problems = inputs.name_problems()
    if problems:
        for problem in problems:
            print(f"::error title=cloud {inputs.command}::{problem}")
        return 2
    try:
        return command(inputs, github)
    except (ActionError, EngineError, drift_steps.DriftStepError) as error:
        print(f"::error title=cloud {inputs.command}::{error}")
        return 1


# --- helpers ------------------------------------------------------------------------------


def _require(inputs: ActionInputs, *names: str) -> None:
    missing = [name.replace("_", "-") for name in names if not getattr(inputs, name)]
    if missing:
        raise ActionError(f"{inputs.command} needs the input(s) {', '.join(missing)}")


def _engine(inputs: ActionInputs, repo: LocalRepo) -> Engine:
    return make_engine(inputs.engine, repo_root=repo.root, env=os.environ)


def _scope(head: RepoSnapshot, inputs: ActionInputs) -> Scope:
    if inputs.deployment:
        deployment = head.find_deployment(inputs.deployment)
        if deployment is None:
            raise ActionError(f"deployment {inputs.deployment} not found")
        return Scope((deployment,), inputs.environment or None, whole_repo=False)
    chosen = tuple(sorted(head.deployments.values(), key=lambda d: d.deployment_id))
    return Scope(chosen, inputs.environment or None)


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
    head: RepoSnapshot, scope: Scope, engine: Engine | None, repo: LocalRepo
) -> list[EnvironmentPlan]:
    """For a dispatched destroy: the deployed stacks, as a plan whose layers run in reverse."""
    assert engine is not None
    plans = []
    for deployment in scope.deployments:
        environments = (
            [scope.environment] if scope.environment else list(deployment.manifest.environments)
        )
        for environment in environments:
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
                    0,
                    (),
                )
                for layer in order
                for name in layer
            ]
            plans.append(EnvironmentPlan(deployment.deployment_id, environment, entries, order))
    return plans


def _previews(
    plans: list[EnvironmentPlan], head: RepoSnapshot, engine: Engine, repo: LocalRepo
) -> dict[str, Any]:
    """A preview of every environment with something to run (changes nothing)."""
    previews: dict[str, Any] = {}
    file_ids = repo.stack_file_ids()
    for plan_ in plans:
        if not plan_.runnable():
            continue
        deployment = head.deployments[plan_.deployment_id]
        view = environment_view(deployment, head.catalog, plan_.environment)
        records = read_records(
            engine, deployment, plan_.environment, view.instances, repo_root=repo.root
        )
        job = DeployJob(view, plan_, fingerprint_view(view, file_ids), records)
        executor = Executor(
            engine, repo_root=repo.root, settings=RunSettings(operation_id="preview", parallel=2)
        )
        report = executor.deploy(job, preview=True)
        previews[f"{plan_.deployment_id}/{plan_.environment}"] = report.to_dict()
    return previews


def _add_resources(
    document: dict[str, Any],
    head: RepoSnapshot,
    engine: Engine,
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
                texts, _ = GitRepo(repo.root).snapshot_files(GitRepo(repo.root).resolve(at_ref))
                snapshot = load_snapshot(texts)
                deployment = snapshot.deployments.get(env["deploymentId"])
            if deployment is None:
                continue
            spec = stack_spec(deployment, removal["stack"], env["environment"], repo_root=repo.root)
            try:
                state = engine.export_state(spec) if engine.exists(spec) else None
            except EngineError:
                state = None
            if state:
                removal["resources"] = [
                    f"{r['type']} {r['urn'].rsplit('::', 1)[-1]}"
                    for r in state.get("deployment", {}).get("resources", [])
                    if r.get("type") != "pulumi:pulumi:Stack" and r.get("custom", True)
                ]


def _secret_values(root: Path) -> list[str]:
    """Values of secret config keys written in manifests, to redact from any comment."""
    snapshot = load_snapshot(LocalRepo(root).catalog_files())
    values: set[str] = set()
    for deployment in snapshot.deployments.values():
        for environment in deployment.manifest.environments:
            view = environment_view(deployment, snapshot.catalog, environment)
            for instance in view.instances.values():
                for key, spec in instance.definition.configuration.items():
                    value = instance.config.get(key)
                    if spec.secret and value is not None and isinstance(value.value, str):
                        values.add(value.value)
    return sorted(values)


def _problems(inputs: ActionInputs) -> list[dict[str, Any]]:
    return _read(inputs.file(VALIDATION_FILE)) or []


def _read(path: Path) -> Any:
    return json.loads(path.read_text()) if path.exists() else None


def _lock_marker(inputs: ActionInputs) -> Path:
    return (
        inputs.work_dir / "locks" / f"{inputs.deployment}-{inputs.stack}-{inputs.environment}.held"
    )
