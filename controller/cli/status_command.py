"""`cloud status`: what is deployed, per stack, in each environment of a deployment.

For every stack an environment declares or holds state for: its status (deployed, not
deployed, needs repair, or the operation running on it), its last deploy (when, by
whom, which operation), its resource count and its drift (the last check's result and
time). The rows are `GET /deployments/:id/stacks/:stack/status`'s data, read by the same
function from the engine's backend and the local store.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Iterator
from typing import Any

from controller.cli.context import (
    engine_arguments,
    load,
    name_argument,
    open_engine,
    pick_deployment,
    pick_environment,
    repo_of,
)
from controller.cli.output import print_json, table
from controller.core.environments import environment_view
from controller.engines.base import EngineError
from controller.operations.drift import environment_drift, latest_drift
from controller.operations.recorded_runs import local_store, store_exists
from controller.operations.records import Recorded
from controller.operations.stack_status import stack_status
from controller.store.base import Store
from controller.store.sqlite import open_store


def arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("deployment", help="deployment id, folder name or path")
    parser.add_argument(
        "-e",
        "--environment",
        type=name_argument("environment_name"),
        help="only this environment (default: all)",
    )
    engine_arguments(parser)
    parser.add_argument("--format", choices=("text", "json"), default="text")


@contextlib.contextmanager
def _store(root: Any) -> Iterator[Store]:
    """The local store, or an empty one when nothing was ever recorded here."""
    if store_exists(root):
        with local_store(root) as store:
            yield store
        return
    store = open_store(":memory:")
    try:
        yield store
    finally:
        store.close()


def run(args: argparse.Namespace) -> int:
    repo = repo_of(args)
    snapshot = load(repo)
    deployment = pick_deployment(snapshot, args.deployment, repo)
    environments = (
        [pick_environment(deployment, args.environment)]
        if args.environment
        else list(deployment.manifest.environments)
    )
    engine = open_engine(args, repo)
    views = []
    with _store(repo.root) as store:
        found = Recorded.of_store(store, deployment.deployment_id)
        for environment in environments:
            enabled = deployment.manifest.environments[environment].enabled
            declared = set(environment_view(deployment, snapshot.catalog, environment).instances)
            try:
                names = sorted(
                    declared | set(engine.list_instances(deployment.deployment_id, environment))
                )
                drift = latest_drift(store, deployment.deployment_id, environment)
                stacks = [
                    stack_status(
                        engine,
                        store,
                        deployment,
                        name,
                        environment,
                        repo_root=repo.root,
                        drift=drift,
                    )
                    for name in names
                ]
            except EngineError as error:
                print(f"cloud status: cannot read the backend: {error}", file=sys.stderr)
                return 1
            views.append(
                {
                    "environment": environment,
                    "enabled": enabled,
                    "status": found.summary(
                        deployment.deployment_id, environment, enabled=enabled
                    ).status,
                    "drift": environment_drift(drift),
                    "stacks": stacks,
                }
            )
    data = {
        "deploymentId": deployment.deployment_id,
        "simulated": engine.simulated,
        "environments": views,
    }
    if args.format == "json":
        print_json(data)
    else:
        _print(data)
    return 0


def _print(data: dict[str, Any]) -> None:
    simulated = " (simulated engine)" if data["simulated"] else ""
    print(f"{data['deploymentId']}{simulated}")
    for view in data["environments"]:
        drift = view["drift"]
        if not drift["checkedAt"]:
            checked = "drift never checked"
        elif drift["driftDetected"]:
            checked = f"DRIFT in {', '.join(drift['driftedStacks'])} (checked {drift['checkedAt']})"
        else:
            checked = f"no drift (checked {drift['checkedAt']})"
        print(f"\n{view['environment']}: {view['status']}; {checked}")
        rows = [
            [
                stack["stackName"],
                stack["status"],
                stack["lastDeployedAt"] or "-",
                stack["lastDeployedBy"] or "-",
                stack["resourceCount"],
                _drift_cell(stack),
            ]
            for stack in view["stacks"]
        ]
        print(table(["STACK", "STATUS", "LAST DEPLOY", "BY", "RESOURCES", "DRIFT"], rows), end="")


def _drift_cell(stack: dict[str, Any]) -> str:
    if stack["driftDetected"] is None:
        return "not checked"
    return ("DRIFTED" if stack["driftDetected"] else "in sync") + f" ({stack['driftCheckedAt']})"
