"""`cloud`: the command table, global options and exit codes.

Exit codes: 0 ok; 1 invalid input found (or an operation failed); 2 usage error (bad
arguments, unknown deployment or environment, missing tool); `cloud drift` alone adds 3:
drift found. Each command lives in a
module of its own and is registered here, in one table.
"""

from __future__ import annotations

import gc
import importlib
import os
import sys
from collections.abc import Callable, Sequence
from functools import partial
from typing import TYPE_CHECKING

from controller import __version__

if TYPE_CHECKING:
    import argparse
    from pathlib import Path

EXIT_OK, EXIT_INVALID, EXIT_USAGE = 0, 1, 2


class Command:
    """A command: its help, and where its arguments and its run function live. Modules
    are imported only for the command that runs (`cloud plan` must not pay for the
    service, the engines or the models it does not use). A plain class, not a dataclass:
    this module loads before anything else, and `cloud plan` where nothing changed
    answers in about twice the time Python takes to start."""

    __slots__ = ("arguments", "help", "module", "run", "single")

    def __init__(
        self, help: str, module: str, arguments: str, run: str, single: bool | None = None
    ) -> None:
        self.help = help
        self.module = module  # under controller.cli
        self.arguments = arguments
        self.run = run
        self.single = single  # passed to `arguments` when set (the one-stack forms)

    def load(self) -> tuple[Callable[[argparse.ArgumentParser], None], Callable[..., int]]:
        module = importlib.import_module(f"controller.cli.{self.module}")
        arguments = getattr(module, self.arguments)
        if self.single is not None:
            arguments = partial(arguments, single=self.single)
        return arguments, getattr(module, self.run)


COMMANDS: dict[str, Command] = {
    "validate": Command(
        "validate stacks, templates and manifests",
        "catalog_commands",
        "validate_arguments",
        "validate",
    ),
    "layers": Command(
        "show a deployment's dependency layers",
        "catalog_commands",
        "layers_arguments",
        "layers_command",
    ),
    "init": Command(
        "create a deployment directory from a template", "init_command", "arguments", "run"
    ),
    "list-templates": Command(
        "list the templates", "catalog_commands", "format_arguments", "list_templates"
    ),
    "show-template": Command(
        "show one template", "catalog_commands", "show_template_arguments", "show_template"
    ),
    "create-template": Command(
        "create a custom template from a YAML/JSON file (POST /templates)",
        "edit_commands",
        "document_arguments",
        "create_template",
    ),
    "update-template": Command(
        "change fields of a template (PUT /templates/{name})",
        "edit_commands",
        "update_template_arguments",
        "update_template",
    ),
    "delete-template": Command(
        "delete a custom template no deployment uses",
        "edit_commands",
        "name_arguments",
        "delete_template",
    ),
    "validate-template": Command(
        "check a template: its stacks, dependencies and config (exit 1 when invalid)",
        "edit_commands",
        "validate_template_arguments",
        "validate_template",
    ),
    "list-stacks": Command(
        "list the stack catalog", "catalog_commands", "list_stacks_arguments", "list_stacks"
    ),
    "show-stack": Command(
        "show one stack definition", "catalog_commands", "show_stack_arguments", "show_stack"
    ),
    "register-stack": Command(
        "register a stack type from its definition file (POST /stacks)",
        "edit_commands",
        "document_arguments",
        "register_stack",
    ),
    "update-stack": Command(
        "change fields of a stack definition (PUT /stacks/{name})",
        "edit_commands",
        "patch_arguments",
        "update_stack",
    ),
    "unregister-stack": Command(
        "remove a stack type nothing uses (refused while deployed, unless --force)",
        "edit_commands",
        "unregister_arguments",
        "unregister_stack",
    ),
    "enable-environment": Command(
        "enable an environment of a deployment (its manifest's flag)",
        "edit_commands",
        "environment_arguments",
        "enable_environment",
    ),
    "disable-environment": Command(
        "disable an environment of a deployment (--destroy-resources: plan the destroy)",
        "edit_commands",
        "disable_arguments",
        "disable_environment",
    ),
    "schemas": Command(
        "write (or --check) the JSON Schemas in schemas/",
        "catalog_commands",
        "schemas_arguments",
        "schemas",
    ),
    "plan": Command(
        "which stacks change (against the backend, or a git --base)",
        "plan_command",
        "arguments",
        "run",
    ),
    "deploy": Command(
        "deploy a deployment environment, changed stacks only",
        "run_commands",
        "deploy_arguments",
        "deploy",
    ),
    "destroy": Command(
        "destroy a deployment environment in reverse order",
        "run_commands",
        "destroy_arguments",
        "destroy",
    ),
    "deploy-stack": Command(
        "deploy one stack", "run_commands", "deploy_arguments", "deploy", single=True
    ),
    "destroy-stack": Command(
        "destroy one stack", "run_commands", "destroy_arguments", "destroy", single=True
    ),
    "run-stack": Command(
        "run one stack (the unit of a CI job) and write its result",
        "run_commands",
        "run_stack_arguments",
        "run_stack",
    ),
    "refresh": Command(
        "read what really exists; report drift per stack (--preview-only: change no state)",
        "drift_commands",
        "refresh_arguments",
        "refresh",
    ),
    "drift": Command(
        "check every deployed environment for drift (exit 3 when found)",
        "drift_commands",
        "drift_arguments",
        "drift",
    ),
    "sim": Command(
        "edit or delete resources in the simulated engine's cloud (to try drift)",
        "drift_commands",
        "sim_arguments",
        "sim",
    ),
    "status": Command(
        "what is deployed, per stack: status, last deploy, resources, drift",
        "status_command",
        "arguments",
        "run",
    ),
    "logs": Command(
        "a deployment's operation log (local store, or --url); --follow streams",
        "logs_command",
        "arguments",
        "run",
    ),
    "outputs": Command(
        "show stack outputs (secrets masked)", "run_commands", "outputs_arguments", "outputs"
    ),
    "state": Command(
        "export or import a stack's state", "run_commands", "state_arguments", "state"
    ),
    "cancel": Command(
        "release the lock an interrupted update left", "run_commands", "cancel_arguments", "cancel"
    ),
    "serve": Command(
        "serve the REST API (uvicorn); docs at /docs",
        "service_commands",
        "serve_arguments",
        "serve",
    ),
    "users": Command(
        "add or list the users who can sign in to the service",
        "service_commands",
        "users_arguments",
        "users",
    ),
}


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The parser; of the commands, only the one `argv` names gets its arguments (all of
    them without one, for `--help`)."""
    import argparse
    from pathlib import Path

    chosen = _command_in(argv)

    class Parser(argparse.ArgumentParser):
        """Options are matched whole, never by a prefix: with prefixes, `users add NAME
        --password X` was silently taken as `--password-stdin`. The commands' parsers
        (and theirs) are of this class too: argparse makes them with the parent's."""

        def __init__(self, *args: object, **kwargs: object) -> None:
            kwargs.setdefault("allow_abbrev", False)
            super().__init__(*args, **kwargs)  # type: ignore[arg-type]

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
        if chosen in (None, name):
            arguments, run = command.load()
            arguments(sub)
            sub.set_defaults(run=run)
    return parser


def _command_in(argv: Sequence[str] | None) -> str | None:
    """The command `argv` names, or None (then every command is loaded)."""
    words = list(sys.argv[1:] if argv is None else argv)
    index = 0
    while index < len(words):
        word = words[index]
        if word == "--root":
            index += 2
            continue
        if not word.startswith("-"):
            return word if word in COMMANDS else None
        index += 1
    return None


def _default_root() -> Path | None:
    from pathlib import Path

    configured = os.environ.get("CLOUD_REPO_ROOT")
    return Path(configured) if configured else None


def main(argv: Sequence[str] | None = None) -> int:
    # A command builds tens of thousands of long-lived objects (models, views, plans) and
    # few reference cycles; the default thresholds make the collector walk that growing
    # heap again and again (a third of `cloud plan`'s time on 500 deployments). Not for a
    # server: `cloud serve` restores the interpreter's thresholds.
    gc.set_threshold(200_000, 50, 50)
    from controller.cli.quick_plan import quick_plan

    quick = quick_plan(sys.argv[1:] if argv is None else argv)  # nothing changed: no loading
    if quick.code is not None:
        return quick.code
    from controller.cli.context import UsageError
    from controller.cli.output import print_problems
    from controller.core.problems import ProblemError

    parser = build_parser(argv)
    args = parser.parse_args(argv)
    args.read_tree = quick  # what the quick plan read: the full plan need not read it again
    try:
        return args.run(args)
    except UsageError as error:
        print(f"cloud {args.command_name}: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except ProblemError as error:
        print_problems(error.problems)
        return EXIT_INVALID
    except KeyboardInterrupt:
        print("cloud: interrupted", file=sys.stderr)
        return 130
    except Exception as error:
        code = _refused(args.command_name, error)
        if code is None:
            raise
        return code


def _refused(command: str, error: Exception) -> int | None:
    """The exit code of an edit, a write or an operation that was refused, with its message
    (None: not one of those, a crash). The modules load only when something failed."""
    from controller.cli.edit_commands import EditFailed
    from controller.edits.errors import EditError
    from controller.operations.control import OperationError
    from controller.store.base import StoreError

    if isinstance(error, EditError):
        print(f"cloud {command}: error: {error.message}", file=sys.stderr)
        if error.suggestion:
            print(f"  {error.suggestion}", file=sys.stderr)
        return EXIT_USAGE if error.kind == "not_found" else EXIT_INVALID
    if isinstance(error, StoreError):
        print(f"cloud {command}: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    if isinstance(error, EditFailed | OperationError):
        print(f"cloud {command}: error: {error}", file=sys.stderr)
        return EXIT_INVALID
    return None


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
