"""`cloud init`: a new deployment directory from a template (the CLI's `POST /deployments`).

The new manifest is validated together with the rest of the repo before anything is
written; the directory is then created in one rename, so a bad argument or a crash leaves
nothing behind.
"""

from __future__ import annotations

import argparse
import secrets

from controller.cli.context import UsageError, load, repo_of
from controller.cli.output import print_json, print_problems
from controller.core.catalog import MANIFEST_FILE, load_snapshot, manifest_file, with_files
from controller.core.problems import ProblemError, has_errors
from controller.core.scaffold import (
    ID_SPACE,
    deployment_id_from,
    render_manifest,
    scaffold_manifest,
)
from controller.core.validation import validate_snapshot


def arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--organization", required=True)
    parser.add_argument("--project", required=True)
    parser.add_argument("--template", default="default")
    parser.add_argument("--domain")
    parser.add_argument("--region", help="default region (default: the template's first)")
    parser.add_argument(
        "--account",
        action="append",
        default=[],
        metavar="ENV=ACCOUNT_ID",
        help="AWS account of an environment (repeat per environment)",
    )
    parser.add_argument(
        "--environment",
        action="append",
        metavar="ENV",
        help="enable this environment (repeatable; default: the template's)",
    )
    parser.add_argument("--contact-email")
    parser.add_argument("--team", default="")
    parser.add_argument("--tag", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--deployment-id", help="use this id instead of a fresh random one")
    parser.add_argument("--format", choices=("text", "json"), default="text")


def run(args: argparse.Namespace) -> int:
    repo = repo_of(args)
    snapshot = load(repo)
    deployment_id = args.deployment_id or _fresh_id(set(snapshot.deployments))
    if deployment_id in snapshot.deployments:
        raise UsageError(
            f"deployment id {deployment_id} is already used by "
            f"{snapshot.deployments[deployment_id].directory}"
        )
    try:
        manifest = scaffold_manifest(
            snapshot.catalog,
            deployment_id=deployment_id,
            organization=args.organization,
            project=args.project,
            template=args.template,
            region=args.region,
            domain=args.domain,
            accounts=_pairs(args.account, "--account"),
            enabled_environments=args.environment,
            contact={"email": args.contact_email, "team": args.team}
            if args.contact_email
            else None,
            tags=_pairs(args.tag, "--tag"),
        )
    except ProblemError as error:
        raise UsageError("; ".join(problem.message for problem in error.problems)) from None
    path = manifest_file(manifest.directory_name)
    if repo.exists(path.rsplit("/", 1)[0]):
        raise UsageError(f"{path.rsplit('/', 1)[0]} already exists")
    text = render_manifest(manifest)
    future = load_snapshot(with_files(repo.catalog_files(), {path: text}))
    problems = [p for p in validate_snapshot(future, deployments=[deployment_id]) if p.file == path]
    if has_errors(problems):
        print_problems(problems)
        print("nothing was written", flush=True)
        return 1
    directory = path.rsplit("/", 1)[0]
    repo.create_directory(directory, {MANIFEST_FILE: text})
    if args.format == "json":
        print_json(
            {
                "deploymentId": deployment_id,
                "directory": directory,
                "manifest": path,
                "template": manifest.template,
                "status": "initialized",
            }
        )
    else:
        print(f"created {path} ({deployment_id}, template {manifest.template})")
    return 0


def _fresh_id(taken: set[str]) -> str:
    while True:
        candidate = deployment_id_from(secrets.randbelow(ID_SPACE))
        if candidate not in taken:
            return candidate


def _pairs(items: list[str], flag: str) -> dict[str, str]:
    pairs = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key or not value:
            raise UsageError(f"{flag} takes KEY=VALUE, got {item!r}")
        pairs[key] = value
    return pairs
