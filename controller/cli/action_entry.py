"""`cloud action [COMMAND]`: what action.yml runs. The command comes from the argument or
`CLOUD_COMMAND`; every other input from the environment (see controller.action)."""

from __future__ import annotations

import argparse
import os


def arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "action_command",
        nargs="?",
        metavar="COMMAND",
        help="validate, plan, run-stack, release-lock, destroy-plan, remove, summary, "
        "comment, relay or install-pulumi (default: $CLOUD_COMMAND)",
    )


def run(args: argparse.Namespace) -> int:
    from controller.action.commands import run_action  # it imports the CLI: load it late

    env = dict(os.environ)
    if args.action_command:
        env["CLOUD_COMMAND"] = args.action_command
    if args.root is not None:
        env["CLOUD_ROOT"] = str(args.root)
    return run_action(env)
