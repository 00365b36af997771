"""`cloud`: the command table, global options and exit codes.

Exit codes: 0 ok; 1 invalid input found (or an operation failed); 2 usage error (bad
arguments, unknown deployment or environment, missing tool); `cloud drift` alone adds 3:
drift found. Each command lives in a
module of its own and is registered here, in one table.
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from controller import __version__
from controller.cli import (
    catalog_commands,
    drift_commands,
    edit_commands,
    init_command,
    logs_command,
    plan_command,
    run_commands,
    service_commands,
    status_command,
)
from controller.cli.context import UsageError
from controller.cli.edit_commands import EditFailed
from controller.cli.output import print_problems
from controller.core.problems import ProblemError
from controller.edits.errors import EditError
from controller.operations.control import OperationError
from controller.store.base import StoreError

EXIT_OK, EXIT_INVALID, EXIT_USAGE = 0, 1, 2


@dataclass(frozen=True)
class Command:
    help: str
    arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


COMMANDS: dict[str, Command] = {
    "validate": Command(
        "validate stacks, templates and manifests",
        catalog_commands.validate_arguments,
        catalog_commands.validate,
    ),
    "layers": Command(
        "show a deployment's dependency layers",
        catalog_commands.layers_arguments,
        catalog_commands.layers_command,
    ),
    "init": Command(
        "create a deployment directory from a template",
        init_command.arguments,
        init_command.run,
    ),
    "list-templates": Command(
        "list the templates",
        catalog_commands.format_arguments,
        catalog_commands.list_templates,
    ),
    "show-template": Command(
        "show one template",
        catalog_commands.show_template_arguments,
        catalog_commands.show_template,
    ),
    "create-template": Command(
        "create a custom template from a YAML/JSON file (POST /templates)",
        edit_commands.document_arguments,
        edit_commands.create_template,
    ),
    "update-template": Command(
        "change fields of a template (PUT /templates/{name})",
        edit_commands.update_template_arguments,
        edit_commands.update_template,
    ),
    "delete-template": Command(
        "delete a custom template no deployment uses",
        edit_commands.name_arguments,
        edit_commands.delete_template,
    ),
    "validate-template": Command(
        "check a template: its stacks, dependencies and config (exit 1 when invalid)",
        edit_commands.validate_template_arguments,
        edit_commands.validate_template,
    ),
    "list-stacks": Command(
        "list the stack catalog",
        catalog_commands.list_stacks_arguments,
        catalog_commands.list_stacks,
    ),
    "show-stack": Command(
        "show one stack definition",
        catalog_commands.show_stack_arguments,
        catalog_commands.show_stack,
    ),
    "register-stack": Command(
        "register a stack type from its definition file (POST /stacks)",
        edit_commands.document_arguments,
        edit_commands.register_stack,
    ),
    "update-stack": Command(
        "change fields of a stack definition (PUT /stacks/{name})",
        edit_commands.patch_arguments,
        edit_commands.update_stack,
    ),
    "unregister-stack": Command(
        "remove a stack type nothing uses (refused while deployed, unless --force)",
        edit_commands.unregister_arguments,
        edit_commands.unregister_stack,
    ),
    "enable-environment": Command(
        "enable an environment of a deployment (its manifest's flag)",
        edit_commands.environment_arguments,
        edit_commands.enable_environment,
    ),
    "disable-environment": Command(
        "disable an environment of a deployment (--destroy-resources: plan the destroy)",
        partial(edit_commands.environment_arguments, disable=True),
        edit_commands.disable_environment,
    ),
    "schemas": Command(
        "write (or --check) the JSON Schemas in schemas/",
        catalog_commands.schemas_arguments,
        catalog_commands.schemas,
    ),
    "plan": Command(
        "which stacks change (against the backend, or a git --base)",
        plan_command.arguments,
        plan_command.run,
    ),
    "deploy": Command(
        "deploy a deployment environment, changed stacks only",
        run_commands.deploy_arguments,
        run_commands.deploy,
    ),
    "destroy": Command(
        "destroy a deployment environment in reverse order",
        run_commands.destroy_arguments,
        run_commands.destroy,
    ),
    "deploy-stack": Command(
        "deploy one stack",
        partial(run_commands.deploy_arguments, single=True),
        run_commands.deploy,
    ),
    "destroy-stack": Command(
        "destroy one stack",
        partial(run_commands.destroy_arguments, single=True),
        run_commands.destroy,
    ),
    "run-stack": Command(
        "run one stack (the unit of a CI job) and write its result",
        run_commands.run_stack_arguments,
        run_commands.run_stack,
    ),
    "refresh": Command(
        "read what really exists; report drift per stack (--preview-only: change no state)",
        drift_commands.refresh_arguments,
        drift_commands.refresh,
    ),
    "drift": Command(
        "check every deployed environment for drift (exit 3 when found)",
        drift_commands.drift_arguments,
        drift_commands.drift,
    ),
    "sim": Command(
        "edit or delete resources in the simulated engine's cloud (to try drift)",
        drift_commands.sim_arguments,
        drift_commands.sim,
    ),
    "status": Command(
        "what is deployed, per stack: status, last deploy, resources, drift",
        status_command.arguments,
        status_command.run,
    ),
    "logs": Command(
        "a deployment's operation log (local store, or --url); --follow streams",
        logs_command.arguments,
        logs_command.run,
    ),
    "outputs": Command(
        "show stack outputs (secrets masked)",
        run_commands.outputs_arguments,
        run_commands.outputs,
    ),
    "state": Command(
        "export or import a stack's state", run_commands.state_arguments, run_commands.state
    ),
    "cancel": Command(
        "release the lock an interrupted update left",
        run_commands.cancel_arguments,
        run_commands.cancel,
    ),
    # service_commands imports the service (starlette, PyJWT, the store) only inside its
    # functions, so these entries add nothing to other commands' start-up time.
    "serve": Command(
        "serve the REST API (uvicorn); docs at /docs",
        service_commands.serve_arguments,
        service_commands.serve,
    ),
    "users": Command(
        "add or list the users who can sign in to the service",
        service_commands.users_arguments,
        service_commands.users,
    ),
}


class Parser(argparse.ArgumentParser):
    """Options are matched whole, never by a prefix: with prefixes, `users add --password X`
    was silently taken as `--password-stdin`. Subcommands' parsers are of this class too
    (argparse makes them with the parent's class)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="cloud",
        description="GitOps controller for Pulumi stacks.",
        epilog="`cloud action COMMAND` runs a step of the GitHub Action (action.yml); "
        "`cloud action --help` lists them.",
    )
    parser.add_argument("--version", action="version", version=f"cloud {__version__}")
    parser.add_argument(
        "--root",
        type=Path,
        default=_default_root(),
        help="repo root (default: $CLOUD_REPO_ROOT, or the nearest folder with stacks/)",
    )
    subparsers = parser.add_subparsers(dest="command_name", metavar="COMMAND", required=True)
    for name, command in COMMANDS.items():
        sub = subparsers.add_parser(name, help=command.help, description=command.help)
        command.arguments(sub)
        sub.set_defaults(run=command.run)
    return parser


def _default_root() -> Path | None:
    configured = os.environ.get("CLOUD_REPO_ROOT")
    return Path(configured) if configured else None


def main(argv: Sequence[str] | None = None) -> int:
    # A command builds tens of thousands of long-lived objects (models, views, plans) and
    # few reference cycles; the default thresholds make the collector walk that growing
    # heap again and again (a third of `cloud plan`'s time on 500 deployments).
    gc.set_threshold(200_000, 50, 50)
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except UsageError as error:
        print(f"cloud {args.command_name}: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except ProblemError as error:
        print_problems(error.problems)
        return EXIT_INVALID
    except EditError as error:
        print(f"cloud {args.command_name}: error: {error.message}", file=sys.stderr)
        if error.suggestion:
            print(f"  {error.suggestion}", file=sys.stderr)
        return EXIT_USAGE if error.kind == "not_found" else EXIT_INVALID
    except StoreError as error:
        print(f"cloud {args.command_name}: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except (EditFailed, OperationError) as error:
        print(f"cloud {args.command_name}: error: {error}", file=sys.stderr)
        return EXIT_INVALID
    except KeyboardInterrupt:
        print("cloud: interrupted", file=sys.stderr)
        return 130


def console_main() -> None:  # pragma: no cover - the installed `cloud` script
    """Run `main` and leave without tearing the heap down object by object.

    After a large plan the interpreter would spend half a second freeing memory the OS
    reclaims at once; every file this process wrote is closed by now, and it registers
    no exit handlers, so flushing the standard streams is all that is left to do.
    """
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":  # pragma: no cover
    console_main()
