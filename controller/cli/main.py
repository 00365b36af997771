"""`cloud`: the command table, global options and exit codes.

Exit codes: 0 ok; 1 invalid input found (or an operation failed); 2 usage error (bad
arguments, unknown deployment or environment, missing tool). Each command lives in a
module of its own and is registered here, in one table.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from controller import __version__
from controller.cli import catalog_commands, init_command
from controller.cli.context import UsageError
from controller.cli.output import print_problems
from controller.core.problems import ProblemError

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
    "schemas": Command(
        "write (or --check) the JSON Schemas in schemas/",
        catalog_commands.schemas_arguments,
        catalog_commands.schemas,
    ),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cloud", description="GitOps controller for Pulumi stacks."
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
    except KeyboardInterrupt:
        print("cloud: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
