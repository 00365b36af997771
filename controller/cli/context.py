"""What every command needs: the repo root, the repo adapter, the loaded snapshot."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

from controller.adapters.local_repo import LocalRepo, RepoPathError, find_root
from controller.core.catalog import Deployment, RepoSnapshot, load_snapshot
from controller.core.names import name_problem
from controller.core.problems import ProblemError, has_errors
from controller.core.validation import relevant_problems


class UsageError(Exception):
    """Bad arguments: exit code 2 with this message."""


def name_argument(kind: str) -> Callable[[str], str]:
    """An argparse `type` that accepts only a well-formed `kind` (`core.names`)."""

    def parse(text: str) -> str:
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


def ensure_valid(snapshot: RepoSnapshot, deployments: list[Deployment]) -> None:
    """Stop with exit 1 (the problems printed) if the catalog or a deployment is invalid."""
    problems = relevant_problems(snapshot, deployments)
    if has_errors(problems):
        raise ProblemError(problems)
