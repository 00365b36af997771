"""`cloud action <command>`: the GitHub Action's steps, one function each, in one table.

validate   check everything; annotations on the files; problems kept for the comment
plan       what changes (against a git base in a pull request, against the backend's
           records on merge), optional previews, and the deploy workflow's jobs: one per
           deployment environment with work, in promotion waves, within GitHub's limits
run-environments  an environment job: each environment of a matrix entry over its DAG
remove     destroy stacks removed from Git, after their environment's deploy succeeded
release-lock  (if: always()) cancel only the locks this job's stacks still held
summary    the job summary (once per job) and plan.md, from what the plan steps left
comment    the plan comment on the pull request, updated in place
relay      from a workflow_run of the plan workflow: the pull request's plan comment
install-pulumi  the pinned Pulumi CLI, checksum verified
check-install  (the install step) a notice for each package the catalog's lock pins at
           another version than the controller's lock: the catalog's is the one installed
drift-…    the drift workflow's steps (`drift_steps`)

The steps call the same application functions as the CLI (`controller.execution`), never
the CLI itself. A step that fails leaves `failed-<command>.json` (its error) in the work
folder, so the summary and the comment say which step failed and why instead of showing
an empty plan.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from pathlib import Path

from controller.action import drift_steps, environments, plan_comments, plans
from controller.action.context import ActionError, ActionInputs, GitHubContext
from controller.action.plan_comments import CommentError, record_failure
from controller.action.pulumi_cli import InstallError, install_pulumi, locked_version, pinned_sums
from controller.adapters.local_repo import LocalRepo, write_atomic
from controller.core.catalog import load_snapshot
from controller.core.pins import PinError, parse_pins
from controller.core.problems import has_errors
from controller.core.validation import validate_snapshot
from controller.engines.base import EngineError

LOCK_FILE = "stacks/requirements.lock"
CONTROLLER_LOCK = "requirements.txt"  # in the action's folder ($ACTION_PATH)
PINNED_SUMS = "stacks/pulumi-cli.sha256"
PLAN_FILE = plans.PLAN_FILE
VALIDATION_FILE = plans.VALIDATION_FILE


def validate(inputs: ActionInputs, github: GitHubContext) -> int:
    repo = LocalRepo(inputs.root)
    snapshot = load_snapshot(repo.catalog_files())
    problems = validate_snapshot(snapshot, files=repo.stack_file_ids())
    for problem in problems:
        print(problem.text(), file=sys.stderr)
        print(problem.annotation())
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


def pulumi(inputs: ActionInputs, github: GitHubContext) -> int:
    """The Pulumi CLI of exactly the version the catalog's lock pins."""
    lock = inputs.root / LOCK_FILE
    version = inputs.pulumi_version or (locked_version(lock.read_text()) if lock.exists() else None)
    sums = inputs.root / PINNED_SUMS
    pinned = pinned_sums(sums.read_text()) if sums.exists() else {}
    try:
        venv = os.environ.get("CLOUD_VENV")  # cached with the install: one download per lock
        target = Path(venv) / "pulumi-cli" if venv else inputs.work_dir / "pulumi"
        directory = install_pulumi(version, target, pinned=pinned)
    except InstallError as error:
        raise ActionError(str(error)) from None
    current = target / "current"  # what the action's later steps put on PATH
    current.unlink(missing_ok=True)
    current.symlink_to(directory.resolve(), target_is_directory=True)
    source = "from " + LOCK_FILE if version and not inputs.pulumi_version else "as given"
    print(f"pulumi CLI {version or 'of the installed SDK'} ({source}) installed in {directory}")
    return 0


def check_install(inputs: ActionInputs, github: GitHubContext) -> int:
    """Where the catalog's lock and the controller's pin one package at two versions, say so.

    The install step installs the catalog's lock after the controller's, so the catalog's
    pin (the stack programs' toolchain, what the fingerprints record) is the one installed;
    `pip check` after this step fails the job if that version is outside cloud's ranges.
    """
    action_path = inputs.env.get("ACTION_PATH", "")
    if not action_path:
        raise ActionError("check-install needs ACTION_PATH (the action's folder)")
    pins = []
    for path in (Path(action_path) / CONTROLLER_LOCK, inputs.root / LOCK_FILE):
        try:
            pins.append(parse_pins(path.read_text()))
        except (OSError, PinError) as error:
            raise ActionError(f"cannot compare the locks: {path}: {error}") from None
    ours, catalog = pins
    for name in sorted(ours.keys() & catalog.keys()):
        if ours[name] != catalog[name]:
            print(
                f"::notice title=cloud install::{LOCK_FILE} pins {name} {catalog[name]}, "
                f"cloud's {CONTROLLER_LOCK} {ours[name]}: {catalog[name]} is installed"
            )
    return 0


COMMANDS: dict[str, Callable[[ActionInputs, GitHubContext], int]] = {
    "validate": validate,
    "plan": plans.plan,
    "run-environments": environments.run_environments,
    "remove": environments.remove,
    "release-lock": environments.release_lock,
    "summary": plan_comments.summary,
    "comment": plan_comments.comment,
    "relay": plan_comments.relay,
    "install-pulumi": pulumi,
    "check-install": check_install,
    **drift_steps.STEPS,
}


def run_action(env: dict[str, str] | None = None) -> int:
    env = dict(os.environ if env is None else env)
    try:
        inputs = ActionInputs.from_env(env)
    except ActionError as error:
        print(f"::error title=cloud::{error}")
        return 2
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
    except (ActionError, EngineError, CommentError) as error:
        record_failure(inputs.work_dir, inputs.command, str(error))
        print(f"::error title=cloud {inputs.command}::{error}")
        return 1
    except Exception as error:  # a bug: say so in the comment too, then let it show
        record_failure(
            inputs.work_dir, inputs.command, f"internal error: {type(error).__name__}: {error}"
        )
        raise


# --- helpers ------------------------------------------------------------------------------


def main(argv: list[str], *, root: str | None = None) -> int:
    """`cloud action [COMMAND]`: the command from the argument or `$CLOUD_COMMAND`, every
    other input from the environment (action.yml passes them as `env:`)."""
    if argv[:1] in (["-h"], ["--help"]):
        print(f"usage: cloud action [{' | '.join(COMMANDS)}]\n\n{__doc__}")
        return 0
    if len(argv) > 1:
        print(f"cloud action: error: one COMMAND at most, got {' '.join(argv)}", file=sys.stderr)
        return 2
    env = dict(os.environ)
    if argv:
        env["CLOUD_COMMAND"] = argv[0]
    if root is not None:
        env["CLOUD_ROOT"] = root
    return run_action(env)
