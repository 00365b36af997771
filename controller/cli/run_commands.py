"""Commands that run stacks: deploy, destroy, their single-stack forms, run-stack (the unit
a CI job runs), outputs, state export/import, and cancel (release a stale lock)."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from controller.adapters.git_repo import GitError, GitRepo
from controller.adapters.local_repo import LocalRepo, write_atomic
from controller.cli.context import (
    UsageError,
    engine_arguments,
    ensure_valid,
    load,
    name_argument,
    open_engine,
    pick_deployment,
    pick_environment,
    repo_of,
)
from controller.cli.output import print_json
from controller.cli.progress import LiveProgress, PlainProgress
from controller.core.catalog import Deployment, RepoSnapshot
from controller.core.reports import render_outputs_text, render_plan_text, render_report_text
from controller.engines.base import Engine, EngineError, drift_data, mask_outputs
from controller.execution.executor import Executor, OperationReport, RunSettings
from controller.execution.preparation import (
    Selection,
    SelectionError,
    destroy_graph,
    prepare_deploy,
)
from controller.execution.runs import (
    RunRefused,
    deploy_environment,
    destroy_environment,
    drifted_of,
    plan_deploy,
    plan_destroy,
    snapshot_at,
)
from controller.execution.specs import stack_spec
from controller.operations.control import operation_payload
from controller.operations.drift import latest_drift, refreshed_drift
from controller.operations.planning import announce_deploy, announce_destroy
from controller.operations.recorded_runs import RecordedRun, cli_user, local_store, start_run

# --- shared arguments and helpers ---------------------------------------------------------


def target_arguments(parser: argparse.ArgumentParser, *, stack: bool = False) -> None:
    parser.add_argument("deployment", help="deployment id, folder name or path")
    if stack:
        parser.add_argument(
            "stack", type=name_argument("stack_name"), help="stack type, e.g. network"
        )
    parser.add_argument(
        "-e", "--environment", required=True, type=name_argument("environment_name")
    )
    engine_arguments(parser)


def valid_target(args: argparse.Namespace) -> tuple[LocalRepo, RepoSnapshot, Deployment, str]:
    """The repo, snapshot, deployment and environment; problems in them stop here (exit 1)."""
    repo = repo_of(args)
    snapshot = load(repo) if not getattr(args, "at_ref", None) else _at_ref(repo, args.at_ref)
    deployment = pick_deployment(snapshot, args.deployment, repo)
    environment = pick_environment(deployment, args.environment)
    ensure_valid(snapshot, [deployment], repo.stack_file_ids())
    return repo, snapshot, deployment, environment


def _at_ref(repo: LocalRepo, ref: str) -> RepoSnapshot:
    """The catalog and deployments as they were at a git ref (for removed deployments)."""
    try:
        return snapshot_at(repo.root, ref)[0]
    except GitError as error:
        raise UsageError(f"--at-ref {ref}: {error}") from None


def new_operation_id() -> str:
    return f"op-{secrets.token_hex(6)}"


def head_commit(root: Path) -> str | None:
    try:
        return GitRepo(root).head()
    except GitError:
        return None


def stack_patterns(value: str | None) -> tuple[str, ...]:
    return tuple(part.strip() for part in (value or "").split(",") if part.strip())


def run_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--parallel",
        type=int,
        default=os.cpu_count() or 2,
        help="stacks run at once (default: CPU count)",
    )
    parser.add_argument(
        "--continue-on-error",
        action="store_true",
        help="after a failure, still run every stack not downstream of it",
    )
    parser.add_argument("--format", choices=("text", "json"), default="text")
    parser.add_argument("--events", type=Path, help="also write every event to this JSONL file")
    parser.add_argument("--verbose", action="store_true", help="show the programs' log lines")


def display_subscribers(args: argparse.Namespace, stacks: list[tuple[str, int]], title: str) -> Any:
    """The display (live table on a terminal, plain lines otherwise) and the events file."""
    subscribers: list[Any] = []
    live = None
    if sys.stderr.isatty() and args.format == "text" and not args.verbose:
        live = LiveProgress(stacks, title=title)
        subscribers.append(live)
    else:
        subscribers.append(PlainProgress(verbose=args.verbose))
    if args.events:
        subscribers.append(EventsFile(args.events))
    return subscribers, live


class EventsFile:
    """An event subscriber appending each event as one JSON line."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __call__(self, message: dict[str, Any]) -> None:
        with self.path.open("a", encoding="utf-8") as stream:
            stream.write(json.dumps(message) + "\n")


@contextlib.contextmanager
def recorded(
    repo: LocalRepo,
    deployment: Deployment,
    environment: str,
    kind: str,
    engine: Engine,
    *,
    payload: dict[str, Any],
    started: dict[str, Any] | None = None,
) -> Iterator[RecordedRun]:
    """The operation in the local store (`cloud logs`, `cloud status` and the service see
    it), holding the environment's lock while it runs; ended as failed if it crashed."""
    with local_store(repo.root) as store:
        run = start_run(
            store,
            deployment_id=deployment.deployment_id,
            environment=environment,
            kind=kind,
            started_by=cli_user(),
            payload=payload,
            engine=lambda: engine,
            deployment=lambda _: deployment,
            repo_root=repo.root,
            started={"simulated": engine.simulated or None, **(started or {})},
        )
        with run.until_done():
            yield run


def _print_report(args: argparse.Namespace, report: OperationReport) -> None:
    if args.format == "json":
        print_json(report.to_dict())
    else:
        sys.stdout.write(render_report_text(report.to_dict()))


# --- deploy -------------------------------------------------------------------------------


def deploy_arguments(parser: argparse.ArgumentParser, *, single: bool = False) -> None:
    target_arguments(parser, stack=single)
    if not single:
        parser.add_argument("--stacks", help="only these stacks: comma-separated globs")
    parser.add_argument("--preview", action="store_true", help="preview only; change nothing")
    parser.add_argument("--force", action="store_true", help="run even if unchanged")
    parser.add_argument(
        "--no-smart-skip", action="store_true", help="run every stack, changed or not"
    )
    parser.add_argument(
        "--refresh",
        action="store_true",
        help="refresh the deployed stacks first (the state takes what the cloud has), then "
        "deploy: the drifted stacks run and the cloud comes back to the program",
    )
    if not single:
        parser.add_argument(
            "--remove",
            action="store_true",
            help="also destroy the stacks that hold state here but are no longer wanted "
            "(disabled, removed from the deployment, or the whole disabled environment)",
        )
    run_arguments(parser)


def deploy(args: argparse.Namespace) -> int:
    repo, snapshot, deployment, environment = valid_target(args)
    patterns = (args.stack,) if getattr(args, "stack", None) else stack_patterns(args.stacks)
    engine = open_engine(args, repo)
    if not deployment.manifest.environments[environment].enabled:
        return _disabled_environment(args, repo, snapshot, deployment, environment, engine)
    drifted = None
    if args.refresh and engine.list_instances(deployment.deployment_id, environment):
        # (drift_commands builds on this module: imported here, not at the top)
        from controller.cli.drift_commands import run_refresh
        from controller.core.drift import render_refresh_text

        refreshed = run_refresh(
            args, repo, snapshot, deployment, environment, engine, preview_only=args.preview
        )
        if args.format == "text":
            sys.stderr.write(render_refresh_text(refreshed.to_dict(), preview_only=args.preview))
        if refreshed.exit_code:
            print("the refresh failed: nothing was deployed", file=sys.stderr)
            if args.format == "json":
                print_json(refreshed.to_dict())
            return refreshed.exit_code
        drifted = drifted_of(refreshed)
    with local_store(repo.root) as store:
        checks = latest_drift(store, deployment.deployment_id, environment)
    if not args.refresh:
        _note_unrepaired_drift(checks)
    try:
        job = plan_deploy(
            snapshot,
            deployment,
            environment,
            engine=engine,
            file_ids=repo.stack_file_ids(),
            repo_root=repo.root,
            selection=Selection(patterns, args.force, drifted, refreshed_drift(checks)),
        )
    except (SelectionError, RunRefused) as error:
        raise UsageError(str(error)) from None
    if args.format == "text":
        sys.stderr.write(render_plan_text([job.plan], simulated=engine.simulated))
    smart_skip = not args.no_smart_skip
    commit = head_commit(repo.root)
    verb = "preview" if args.preview else "deploy"
    payload = operation_payload(
        announce_deploy(job.plan, smart_skip=smart_skip and not args.force),
        {
            "preview": args.preview,
            "parallel": args.parallel,
            "force": args.force,
            "continueOnError": args.continue_on_error,
            "smartSkip": smart_skip,
            "stackFilter": list(patterns),
        },
        commit=commit,
        simulated=engine.simulated,
    )
    with recorded(repo, deployment, environment, verb, engine, payload=payload) as run:
        settings = RunSettings(
            operation_id=run.operation.id,
            parallel=args.parallel,
            continue_on_error=args.continue_on_error,
            smart_skip=smart_skip,
            commit=commit,
        )
        subscribers, live = display_subscribers(
            args,
            [(e.stack, e.layer) for e in job.plan.entries],
            f"{verb} {deployment.deployment_id} / {environment}"
            + (" (simulated)" if engine.simulated else ""),
        )
        report = deploy_environment(
            job,
            engine=engine,
            repo_root=repo.root,
            settings=settings,
            subscribers=[*subscribers, run.subscriber],
            preview=args.preview,
            display=live,
        )
    removals = [] if patterns else [r.stack for r in job.plan.removals]
    remove = getattr(args, "remove", False)
    if not (removals and remove and not args.preview and report.exit_code == 0):
        _print_report(args, report)
        if removals:
            held_back = (
                "--preview destroys nothing"
                if remove and args.preview
                else "the deploy failed, so nothing was destroyed"
                if remove
                else f"`cloud deploy {deployment.deployment_id} -e {environment} --remove` "
                "destroys them"
            )
            listed = ", ".join(f"{r.stack} ({r.reason})" for r in job.plan.removals)
            print(
                f"note: {len(removals)} stack(s) hold state here but are no longer wanted: "
                f"{listed}; {held_back}",
                file=sys.stderr,
            )
        return report.exit_code
    removed = _remove(args, repo, snapshot, deployment, environment, engine, removals)
    if args.format == "json":
        print_json({**report.to_dict(), "removal": removed.to_dict()})
    else:
        _print_report(args, report)
        _print_report(args, removed)
    return max(report.exit_code, removed.exit_code)


def _disabled_environment(
    args: argparse.Namespace,
    repo: LocalRepo,
    snapshot: RepoSnapshot,
    deployment: Deployment,
    environment: str,
    engine: Engine,
) -> int:
    """A deploy to a disabled environment: nothing to deploy; what still holds state there
    is destroyed with --remove, and only then."""
    held = engine.list_instances(deployment.deployment_id, environment)
    where = f"environment {environment} of {deployment.deployment_id}"
    if not held:
        raise UsageError(f"{where} is disabled in its manifest; enable it to deploy there")
    if not getattr(args, "remove", False) or args.preview:
        raise UsageError(
            f"{where} is disabled in its manifest, and {len(held)} stack(s) still hold state "
            f"there: {', '.join(held)}; nothing was changed. `cloud deploy "
            f"{deployment.deployment_id} -e {environment} --remove` destroys them"
        )
    removed = _remove(args, repo, snapshot, deployment, environment, engine, held)
    _print_report(args, removed)
    return removed.exit_code


def _remove(
    args: argparse.Namespace,
    repo: LocalRepo,
    snapshot: RepoSnapshot,
    deployment: Deployment,
    environment: str,
    engine: Engine,
    stacks: list[str],
) -> OperationReport:
    """Destroy `stacks` (what --remove was asked to remove), dependents first."""
    try:
        graph = plan_destroy(snapshot, deployment, environment, engine=engine, patterns=stacks)
    except SelectionError as error:
        raise UsageError(str(error)) from None
    return _run_destroy(args, repo, deployment, environment, engine, graph, verb="remove")


def _run_destroy(
    args: argparse.Namespace,
    repo: LocalRepo,
    deployment: Deployment,
    environment: str,
    engine: Engine,
    graph: Any,
    *,
    verb: str,
) -> OperationReport:
    deployed = engine.list_instances(deployment.deployment_id, environment)
    durations = {
        name: definition.estimated_duration
        for name in graph.nodes
        if (definition := graph.nodes[name].get("definition")) is not None
    }
    payload = operation_payload(
        announce_destroy(graph, deployed=deployed, durations=durations),
        {
            "parallel": args.parallel,
            "continueOnError": args.continue_on_error,
            "stackFilter": sorted(graph.nodes),
        },
        commit=head_commit(repo.root),
        simulated=engine.simulated,
    )
    with recorded(repo, deployment, environment, "destroy", engine, payload=payload) as run:
        settings = RunSettings(
            operation_id=run.operation.id,
            parallel=args.parallel,
            continue_on_error=args.continue_on_error,
        )
        subscribers, live = display_subscribers(
            args,
            [(name, 0) for name in graph.nodes],
            f"{verb} {deployment.deployment_id} / {environment}",
        )
        return destroy_environment(
            deployment,
            environment,
            graph,
            engine=engine,
            repo_root=repo.root,
            settings=settings,
            subscribers=[*subscribers, run.subscriber],
            display=live,
        )


def _note_unrepaired_drift(checks: dict[str, dict[str, Any]]) -> None:
    """A preview-only check found drift: a deploy that does not refresh leaves it there."""
    for stack, check in sorted(checks.items()):
        if check["driftDetected"] and check["previewOnly"]:
            print(
                f"note: the drift check of {check['checkedAt']} found {stack} drifted; a deploy "
                "without --refresh does not read the cloud and leaves it so",
                file=sys.stderr,
            )


# --- destroy ------------------------------------------------------------------------------


def destroy_arguments(parser: argparse.ArgumentParser, *, single: bool = False) -> None:
    target_arguments(parser, stack=single)
    if not single:
        parser.add_argument("--stacks", help="only these stacks: comma-separated globs")
    parser.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    parser.add_argument(
        "--at-ref",
        help="read the deployment as it was at this git ref (to "
        "destroy a deployment or stacks removed from the repo)",
    )
    run_arguments(parser)


def destroy(args: argparse.Namespace) -> int:
    repo, snapshot, deployment, environment = valid_target(args)
    patterns = (args.stack,) if getattr(args, "stack", None) else stack_patterns(args.stacks)
    engine = open_engine(args, repo)
    try:
        graph = plan_destroy(snapshot, deployment, environment, engine=engine, patterns=patterns)
    except SelectionError as error:
        raise UsageError(str(error)) from None
    if not args.yes:
        _confirm(deployment.deployment_id, environment, sorted(graph.nodes))
    report = _run_destroy(args, repo, deployment, environment, engine, graph, verb="destroy")
    _print_report(args, report)
    return report.exit_code


def _confirm(deployment_id: str, environment: str, stacks: list[str]) -> None:
    if not sys.stdin.isatty():
        raise UsageError(
            "destroy asks for confirmation on a terminal; pass --yes to confirm non-interactively"
        )
    print(
        f"This destroys {len(stacks)} stack(s) of {deployment_id} / {environment}: "
        f"{', '.join(stacks)}",
        file=sys.stderr,
    )
    answer = input(f"Type {deployment_id} to confirm: ")
    if answer.strip() != deployment_id:
        raise UsageError("not confirmed; nothing was destroyed")


# --- run-stack (one CI job) ---------------------------------------------------------------


def run_stack_arguments(parser: argparse.ArgumentParser) -> None:
    target_arguments(parser, stack=True)
    parser.add_argument("--operation", choices=("deploy", "preview", "destroy"), default="deploy")
    parser.add_argument(
        "--result-file", type=Path, help="write the stack's result as JSON (secrets masked)"
    )
    parser.add_argument("--operation-id", help="the operation this run belongs to")
    parser.add_argument(
        "--refresh",
        action="store_true",
        help="deploy: refresh the stack first; if it drifted, it runs (back to the program)",
    )
    parser.add_argument(
        "--service-url",
        default=os.environ.get("CLOUD_SERVICE_URL") or None,
        help="report the steps to this service (with --operation-id and the operation's "
        "token in $CLOUD_SERVICE_TOKEN); default: $CLOUD_SERVICE_URL",
    )
    parser.add_argument("--format", choices=("text", "json"), default="text")
    parser.add_argument("--verbose", action="store_true")
    parser.add_argument("--events", type=Path)


def run_stack(args: argparse.Namespace) -> int:
    repo, snapshot, deployment, environment = valid_target(args)
    engine = open_engine(args, repo)
    settings = RunSettings(
        operation_id=args.operation_id or new_operation_id(),
        commit=head_commit(repo.root),
        parallel=1,
    )
    subscribers, _ = display_subscribers(
        argparse.Namespace(**{**vars(args), "format": "json"}), [], ""
    )
    reporter = _reporter(args)
    if reporter is not None:
        subscribers.append(reporter)
    executor = Executor(engine, repo_root=repo.root, settings=settings, subscribers=subscribers)
    try:
        report = _run_one(args, executor, engine, repo, snapshot, deployment, environment)
    finally:
        if reporter is not None:
            reporter.close()
    outcome = (
        report.to_dict()["stacks"][0]
        if report.outcomes
        else {"stack": args.stack, "status": "skipped", "reason": "nothing to do"}
    )
    result = {
        "deploymentId": deployment.deployment_id,
        "environment": environment,
        "operation": args.operation,
        "operationId": settings.operation_id,
        "simulated": engine.simulated,
        **outcome,
    }
    if args.result_file:
        write_atomic(args.result_file, json.dumps(result, indent=2) + "\n")
    if args.format == "json":
        print_json(result)
    else:
        _print_report(args, report)
    return report.exit_code


def _run_one(
    args: argparse.Namespace,
    executor: Executor,
    engine: Engine,
    repo: LocalRepo,
    snapshot: RepoSnapshot,
    deployment: Deployment,
    environment: str,
) -> OperationReport:
    if args.operation == "destroy":
        try:
            graph = destroy_graph(
                snapshot.catalog, deployment, environment, engine=engine, patterns=[args.stack]
            )
        except SelectionError as error:
            raise UsageError(str(error)) from None
        return executor.destroy(deployment, environment, graph)
    drifted = None
    spec = stack_spec(deployment, args.stack, environment, repo_root=repo.root)
    if args.refresh and args.operation == "deploy" and engine.exists(spec):
        found = drift_data(engine.refresh(spec))
        print(f"refresh of {spec.stack_name}: {found['summary']}", file=sys.stderr)
        drifted = {args.stack: found["summary"]} if found["driftDetected"] else None
    job = prepare_deploy(
        snapshot.catalog,
        deployment,
        environment,
        engine=engine,
        file_ids=repo.stack_file_ids(),
        repo_root=repo.root,
        selection=Selection(drifted=drifted),
    )
    if args.stack not in job.view.instances:
        raise UsageError(
            f"{args.stack} is not an enabled stack of {deployment.deployment_id} in {environment}"
        )
    return executor.deploy(job, preview=args.operation == "preview", only={args.stack})


def _reporter(args: argparse.Namespace) -> Any:
    """The service reporter, when run-stack is told where the service is."""
    if not args.service_url:
        return None
    token = os.environ.get("CLOUD_SERVICE_TOKEN", "")
    if not args.operation_id or not token:
        raise UsageError(
            "--service-url needs --operation-id and the operation's token in $CLOUD_SERVICE_TOKEN"
        )
    from controller.adapters.service_reporter import ServiceReporter

    return ServiceReporter(args.service_url, args.operation_id, token)


# --- outputs, state, cancel ---------------------------------------------------------------


def outputs_arguments(parser: argparse.ArgumentParser) -> None:
    target_arguments(parser)
    parser.add_argument("--stack", type=name_argument("stack_name"))
    parser.add_argument("--show-secrets", action="store_true")
    parser.add_argument("--format", choices=("text", "json"), default="text")


def outputs(args: argparse.Namespace) -> int:
    repo, _, deployment, environment = valid_target(args)
    engine = open_engine(args, repo)
    names = (
        [args.stack]
        if args.stack
        else sorted(set(engine.list_instances(deployment.deployment_id, environment)))
    )
    found: dict[str, dict[str, Any]] = {}
    for name in names:
        spec = stack_spec(deployment, name, environment, repo_root=repo.root)
        if not engine.exists(spec):
            if args.stack:
                raise UsageError(f"{name} is not deployed in {environment}")
            continue
        values, secret = engine.outputs(spec)
        found[name] = values if args.show_secrets else mask_outputs(values, secret)
    if args.format == "json":
        print_json(
            {
                "deploymentId": deployment.deployment_id,
                "environment": environment,
                "simulated": engine.simulated,
                "outputs": found,
            }
        )
    else:
        sys.stdout.write(render_outputs_text(found))
    return 0


def state_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=("export", "import"))
    target_arguments(parser, stack=True)
    parser.add_argument("--file", type=Path, help="export to / import from this file")
    parser.add_argument(
        "--format",
        choices=("text", "json"),
        default="text",
        help="json: a result document (export: the state itself, as with text)",
    )


def state(args: argparse.Namespace) -> int:
    repo, _, deployment, environment = valid_target(args)
    engine = open_engine(args, repo)
    spec = stack_spec(deployment, args.stack, environment, repo_root=repo.root)
    try:
        if args.action == "export":
            text = json.dumps(engine.export_state(spec), indent=2, sort_keys=True) + "\n"
            if args.file:
                write_atomic(args.file, text)
            else:
                sys.stdout.write(text)
            return 0
        if args.file is None:
            raise UsageError("state import needs --file")
        try:
            document = json.loads(args.file.read_text())
        except (OSError, json.JSONDecodeError) as error:
            raise UsageError(f"cannot read {args.file}: {error}") from None
        if not isinstance(document, dict):
            raise UsageError(f"{args.file} is not a state document (a JSON object)")
        engine.import_state(spec, document)
    except EngineError as error:
        print(f"cloud state {args.action}: {error}", file=sys.stderr)
        return 1
    if args.format == "json":
        print_json({"stackName": spec.stack_name, "imported": str(args.file)})
    print(f"imported {args.file} into {spec.stack_name}", file=sys.stderr)
    return 0


def cancel_arguments(parser: argparse.ArgumentParser) -> None:
    target_arguments(parser, stack=True)
    parser.add_argument("--format", choices=("text", "json"), default="text")


def cancel(args: argparse.Namespace) -> int:
    repo, _, deployment, environment = valid_target(args)
    engine = open_engine(args, repo)
    spec = stack_spec(deployment, args.stack, environment, repo_root=repo.root)
    engine.cancel(spec)
    if args.format == "json":
        print_json({"stackName": spec.stack_name, "released": True})
    print(f"released the lock of {spec.stack_name}", file=sys.stderr)
    return 0
