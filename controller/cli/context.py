"""What every command needs: the repo root, the repo adapter, the loaded snapshot."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from controller.adapters.local_repo import LocalRepo, RepoPathError, find_root
from controller.core.problems import Problem, ProblemError, has_errors
from controller.engines import DEFAULT_ENGINE, ENGINE_NAMES

if TYPE_CHECKING:  # the models load where a command needs them (not for `plan --base`)
    from controller.core.catalog import Deployment, RepoSnapshot
    from controller.core.stack_files import StackFiles
    from controller.engines.base import Engine


class UsageError(Exception):
    """Bad arguments: exit code 2 with this message."""


def name_argument(kind: str) -> Callable[[str], str]:
    """An argparse `type` that accepts only a well-formed `kind` (`core.names`)."""

    def parse(text: str) -> str:
        from controller.core.names import name_problem

        problem = name_problem(kind, text)
        if problem is not None:
            raise argparse.ArgumentTypeError(f"{problem}, got {text!r}")
        return text

    parse.__name__ = kind.replace("_", " ")  # argparse names the type in its message
    return parse


def repo_of(args: argparse.Namespace) -> LocalRepo:
    root = args.root if args.root is not None else find_root(Path.cwd())
    if not root.is_dir():
        raise UsageError(f"repo root {root} is not a directory")
    return LocalRepo(root.resolve())


def load(repo: LocalRepo) -> RepoSnapshot:
    from controller.core.catalog import load_snapshot

    try:
        return load_snapshot(repo.catalog_files())
    except RepoPathError as error:
        raise UsageError(str(error)) from None


def pick_deployment(snapshot: RepoSnapshot, reference: str, repo: LocalRepo) -> Deployment:
    """A deployment by id, directory name or path (relative to cwd or the repo)."""
    candidate = Path(reference)
    if candidate.exists():
        try:
            reference = candidate.resolve().relative_to(repo.root).as_posix()
        except ValueError:
            raise UsageError(f"{reference} is outside the repo {repo.root}") from None
        if reference.endswith("/manifest.yaml"):
            reference = reference.rsplit("/", 1)[0]
    deployment = snapshot.find_deployment(reference)
    if deployment is None:
        known = ", ".join(sorted(snapshot.deployments)) or "none"
        raise UsageError(f"no deployment {reference!r} (deployments: {known})")
    return deployment


def pick_environment(deployment: Deployment, environment: str) -> str:
    if environment not in deployment.manifest.environments:
        known = ", ".join(deployment.manifest.environments)
        raise UsageError(
            f"deployment {deployment.deployment_id} has no environment {environment!r} "
            f"(it has: {known})"
        )
    return environment


def relevant_problems(
    snapshot: RepoSnapshot, deployments: list[Deployment], stack_files: StackFiles | None = None
) -> list[Problem]:
    """Problems of the catalog (its programs too, given the stack files) and of these
    deployments (not of unrelated ones): `core.validation.relevant_problems`, loaded here
    only when a command needs it."""
    from controller.core import validation

    return validation.relevant_problems(snapshot, deployments, stack_files)


def ensure_valid(
    snapshot: RepoSnapshot, deployments: list[Deployment], stack_files: StackFiles | None = None
) -> None:
    """Stop with exit 1 (the problems printed) if the catalog or a deployment is invalid."""
    problems = relevant_problems(snapshot, deployments, stack_files)
    if has_errors(problems):
        raise ProblemError(problems)


def engine_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--engine",
        choices=sorted(ENGINE_NAMES),
        help=f"pulumi (real) or simulate (Pulumi's mock runtime, no cloud); default: "
        f"$CLOUD_ENGINE or {DEFAULT_ENGINE}",
    )


def open_engine(args: argparse.Namespace, repo: LocalRepo) -> Engine:
    from controller.engines.base import EngineUnavailableError
    from controller.engines.factory import make_engine

    name = args.engine or os.environ.get("CLOUD_ENGINE") or DEFAULT_ENGINE
    try:
        return make_engine(name, repo_root=repo.root, env=os.environ)
    except EngineUnavailableError as error:
        raise UsageError(f"engine {name}: {error}") from None
