"""Drift: `cloud refresh`, `cloud drift`, and `cloud sim` to drift the simulated cloud.

`refresh` reads what really exists for each deployed stack of an environment (dependency
order, in parallel) and reports in sync / drifted (which resources and properties, old →
new, secrets masked) / gone; without `--preview-only` the state then takes the cloud's
values, and `cloud deploy` brings the cloud back to the program (`deploy --refresh` does
both). `drift` is a preview-only refresh of every deployed environment, with a summary,
a JSON report and exit code 3 when something drifted. Each refresh is an operation of
its own in the local store (its lock, its events, its `drift.detected`), so the service's
stack status and `cloud status` show the last check. `sim edit|delete|show` change the
simulated engine's "real cloud" out of band, so all of this works with no cloud account.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from pathlib import Path
from typing import Any

from controller.adapters.clock import SystemClock
from controller.adapters.local_repo import write_atomic
from controller.cli.context import (
    UsageError,
    engine_arguments,
    load,
    name_argument,
    open_engine,
    pick_deployment,
    pick_environment,
    repo_of,
)
from controller.cli.output import print_json
from controller.cli.run_commands import (
    display_subscribers,
    head_commit,
    stack_patterns,
    target_arguments,
    valid_target,
)
from controller.core.catalog import Deployment, RepoSnapshot
from controller.core.drift import (
    drift_report,
    exit_code,
    render_drift_text,
    render_refresh_text,
    value_text,
)
from controller.engines.base import Engine
from controller.engines.factory import make_engine
from controller.engines.simulated import SimulatedEngine
from controller.engines.simulated_cloud import (
    SimulatedCloudError,
    assign,
    find_resource,
    parse_assignment,
)
from controller.execution.executor import OperationReport
from controller.execution.preparation import SelectionError, refresh_graph
from controller.execution.specs import stack_spec
from controller.operations.recorded_runs import cli_user, local_store
from controller.operations.refreshes import check_drift, refresh_operation

# --- refresh --------------------------------------------------------------------------------


def refresh_arguments(parser: argparse.ArgumentParser) -> None:
    target_arguments(parser)
    parser.add_argument("--stacks", help="only these stacks: comma-separated globs")
    parser.add_argument(
        "--preview-only",
        action="store_true",
        help="report the drift, change no state (what `cloud drift` runs)",
    )
    parser.add_argument("--parallel", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--format", choices=("text", "json"), default="text")
    parser.add_argument("--verbose", action="store_true", help="show every event")
    parser.add_argument("--events", type=Path, help="also write every event to this JSONL file")


def refresh(args: argparse.Namespace) -> int:
    repo, snapshot, deployment, environment = valid_target(args)
    engine = open_engine(args, repo)
    report = run_refresh(
        args,
        repo,
        snapshot,
        deployment,
        environment,
        engine,
        preview_only=args.preview_only,
        patterns=stack_patterns(args.stacks),
        display=True,
    )
    data = report.to_dict()
    if args.format == "json":
        print_json(data | {"previewOnly": args.preview_only})
    else:
        sys.stdout.write(render_refresh_text(data, preview_only=args.preview_only))
    return report.exit_code


def run_refresh(
    args: argparse.Namespace,
    repo: Any,
    snapshot: RepoSnapshot,
    deployment: Deployment,
    environment: str,
    engine: Engine,
    *,
    preview_only: bool,
    patterns: tuple[str, ...] = (),
    display: bool = False,
) -> OperationReport:
    """One refresh operation, recorded in the local store, over the deployed stacks."""
    try:
        graph = refresh_graph(
            snapshot.catalog, deployment, environment, engine=engine, patterns=patterns
        )
    except SelectionError as error:
        raise UsageError(str(error)) from None
    shown: list[Any] = []
    live = None
    if display:
        shown, live = display_subscribers(
            args,
            [(name, 0) for name in graph],
            f"refresh {deployment.deployment_id} / {environment}"
            + (" (simulated)" if engine.simulated else ""),
        )
    with local_store(repo.root) as store, live if live is not None else contextlib.nullcontext():
        _, report = refresh_operation(
            store,
            engine,
            deployment,
            environment,
            graph,
            preview_only=preview_only,
            started_by=cli_user(),
            repo_root=repo.root,
            commit=head_commit(repo.root),
            parallel=args.parallel,
            subscribers=shown,
            patterns=patterns,
        )
    return report


# --- drift ----------------------------------------------------------------------------------


def drift_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--deployment", help="only this deployment (id, folder name or path)")
    parser.add_argument(
        "-e", "--environment", type=name_argument("environment_name"), help="only this environment"
    )
    engine_arguments(parser)
    parser.add_argument("--parallel", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--format", choices=("text", "json"), default="text")
    parser.add_argument("--report", type=Path, help="also write the JSON report to this file")


def drift(args: argparse.Namespace) -> int:
    repo = repo_of(args)
    snapshot = load(repo)
    deployments = (
        [pick_deployment(snapshot, args.deployment, repo)]
        if args.deployment
        else [snapshot.deployments[d] for d in sorted(snapshot.deployments)]
    )
    if args.environment and args.deployment:
        pick_environment(deployments[0], args.environment)
    engine = open_engine(args, repo)
    targets = [
        (deployment, environment)
        for deployment in deployments
        for environment in deployment.manifest.environments
        if not args.environment or environment == args.environment
    ]
    with local_store(repo.root) as store:
        entries = check_drift(
            store,
            engine,
            snapshot,
            targets,
            started_by=cli_user(),
            repo_root=repo.root,
            commit=head_commit(repo.root),
            parallel=args.parallel,
        )
    report = drift_report(entries, simulated=engine.simulated, at=SystemClock().now())
    if args.report:
        write_atomic(args.report, json.dumps(report, indent=2) + "\n")
    if args.format == "json":
        print_json(report)
    else:
        sys.stdout.write(render_drift_text(report))
    return exit_code(report)


# --- sim ------------------------------------------------------------------------------------


def sim_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="sim_action", metavar="ACTION", required=True)
    edit = actions.add_parser(
        "edit",
        help="change properties of a resource in the simulated cloud (not in the state)",
        description="Change a resource as someone in the console would: the simulator's "
        "recorded state stays as it was, so `cloud drift` finds the difference.",
    )
    _sim_target(edit)
    edit.add_argument("resource", help="its name, type::name, or URN")
    edit.add_argument(
        "assignments", nargs="+", metavar="PROPERTY=VALUE", help="e.g. tags.Name=web (JSON or text)"
    )
    delete = actions.add_parser("delete", help="delete a resource from the simulated cloud")
    _sim_target(delete)
    delete.add_argument("resource", help="its name, type::name, or URN")
    show = actions.add_parser("show", help="the stack's resources in the simulated cloud")
    _sim_target(show)


def _sim_target(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("deployment", help="deployment id, folder name or path")
    parser.add_argument("stack", type=name_argument("stack_name"))
    parser.add_argument(
        "-e", "--environment", required=True, type=name_argument("environment_name")
    )
    parser.add_argument("--format", choices=("text", "json"), default="text")


def sim(args: argparse.Namespace) -> int:
    repo = repo_of(args)
    snapshot = load(repo)
    deployment = pick_deployment(snapshot, args.deployment, repo)
    environment = pick_environment(deployment, args.environment)
    engine = make_engine("simulate", repo_root=repo.root, env=os.environ)
    assert isinstance(engine, SimulatedEngine)
    spec = stack_spec(deployment, args.stack, environment, repo_root=repo.root)
    if not engine.exists(spec):
        raise UsageError(f"{spec.stack_name} is not deployed (simulated engine)")
    state = engine.export_state(spec).get("deployment", {}).get("resources") or []
    cloud = engine.cloud.current(spec, state)
    try:
        return SIM_ACTIONS[args.sim_action](args, engine, spec, cloud)
    except SimulatedCloudError as error:
        raise UsageError(str(error)) from None


def _sim_edit(args: argparse.Namespace, engine: SimulatedEngine, spec: Any, cloud: Any) -> int:
    urn = find_resource(cloud, args.resource)
    changes = []
    for text in args.assignments:
        path, value = parse_assignment(text)
        properties = cloud[urn].setdefault("properties", {})
        before = assign(properties, path, value)
        changes.append({"name": ".".join(path), "old": before, "new": value})
    engine.cloud.write(spec, cloud)
    return _sim_done(args, spec, cloud[urn]["type"], urn, "edited", changes)


def _sim_delete(args: argparse.Namespace, engine: SimulatedEngine, spec: Any, cloud: Any) -> int:
    urn = find_resource(cloud, args.resource)
    kind = cloud.pop(urn)["type"]
    engine.cloud.write(spec, cloud)
    return _sim_done(args, spec, kind, urn, "deleted", [])


def _sim_show(args: argparse.Namespace, engine: SimulatedEngine, spec: Any, cloud: Any) -> int:
    if args.format == "json":
        print_json({"stackName": spec.stack_name, "simulated": True, "resources": cloud})
        return 0
    print(f"{spec.stack_name} in the simulated cloud ({len(cloud)} resources):")
    for urn, resource in sorted(cloud.items()):
        print(f"  {resource['type']} {urn.rsplit('::', 1)[-1]}")
    return 0


def _sim_done(
    args: argparse.Namespace, spec: Any, kind: str, urn: str, action: str, changes: list[Any]
) -> int:
    name = urn.rsplit("::", 1)[-1]
    if args.format == "json":
        print_json(
            {
                "stackName": spec.stack_name,
                "simulated": True,
                "action": action,
                "resource": {"urn": urn, "type": kind, "name": name},
                "properties": changes,
            }
        )
        return 0
    print(f"simulated cloud: {action} {kind} {name} of {spec.stack_name}")
    for change in changes:
        print(f"  {change['name']}: {value_text(change['old'])} → {value_text(change['new'])}")
    print("the recorded state is unchanged: `cloud drift` reports the difference")
    return 0


SIM_ACTIONS = {"edit": _sim_edit, "delete": _sim_delete, "show": _sim_show}
