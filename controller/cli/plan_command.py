"""`cloud plan`: which instances change, against what was deployed or against a git base.

Without `--base`, each instance's fingerprint is compared with the record of its last
successful deploy in the engine's backend: the truth of what is deployed, so a rebase
merge, a revert or a failed deploy is handled right. With `--base REF` (a pull request),
it is compared with the same instance at that commit; no backend and no secret needed.
"""

from __future__ import annotations

import argparse
import os
import sys

from controller.adapters.git_repo import GitError, GitRepo
from controller.cli.context import UsageError, pick_deployment, repo_of
from controller.cli.output import print_json
from controller.cli.run_commands import engine_arguments, open_engine
from controller.core.catalog import Catalog, Deployment, RepoSnapshot, load_snapshot
from controller.core.environments import environment_view
from controller.core.fingerprints import (
    Fingerprint,
    StackFiles,
    fingerprint_view,
    rebase_files,
)
from controller.core.planning import (
    EnvironmentPlan,
    Previous,
    Removal,
    plan_environment,
)
from controller.core.problems import ProblemError, has_errors
from controller.core.reports import plan_document, render_plan_markdown, render_plan_text
from controller.core.validation import validate_snapshot
from controller.execution.preparation import prepare_deploy


def arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--base", help="compare with this git ref instead of the backend")
    parser.add_argument("--deployment", help="only this deployment (id, folder or path)")
    parser.add_argument("-e", "--environment", help="only this environment")
    parser.add_argument("--format", choices=("text", "json", "markdown"), default="text")
    engine_arguments(parser)


def run(args: argparse.Namespace) -> int:
    repo = repo_of(args)
    files = repo.catalog_files()
    head = load_snapshot(files)
    chosen = _chosen(head, args, repo)
    problems = [
        p
        for p in validate_snapshot(head, deployments=[d.deployment_id for d in chosen])
        if p.file is None or p.file.startswith("stacks/") or any(p.file == d.file for d in chosen)
    ]
    if has_errors(problems):
        raise ProblemError(problems)
    file_ids = repo.stack_file_ids()
    simulated = False
    engine_name = None
    if args.base:
        plans = _plans_against_base(repo.root, args, head, files, chosen, file_ids)
        mode = "git"
    else:
        engine = open_engine(args, repo)
        simulated, engine_name, mode = engine.simulated, engine.name, "recorded"
        plans = [
            prepare_deploy(
                head.catalog,
                deployment,
                environment,
                engine=engine,
                file_ids=file_ids,
                repo_root=repo.root,
            ).plan
            for deployment in chosen
            for environment in _environments(deployment, args.environment)
        ]
    if args.format == "json":
        print_json(
            plan_document(plans, mode=mode, base=args.base, engine=engine_name, simulated=simulated)
        )
    elif args.format == "markdown":
        sys.stdout.write(render_plan_markdown(plans, simulated=simulated))
    else:
        sys.stdout.write(render_plan_text(plans, simulated=simulated))
    return 0


def _chosen(snapshot: RepoSnapshot, args: argparse.Namespace, repo: object) -> list[Deployment]:
    if args.deployment:
        return [pick_deployment(snapshot, args.deployment, repo)]  # type: ignore[arg-type]
    return sorted(snapshot.deployments.values(), key=lambda d: d.deployment_id)


def _environments(deployment: Deployment, only: str | None) -> list[str]:
    enabled = [name for name, env in deployment.manifest.environments.items() if env.enabled]
    if only is None:
        return enabled
    if only not in deployment.manifest.environments:
        raise UsageError(f"{deployment.deployment_id} has no environment {only!r}")
    return [only] if only in enabled else []


def _plans_against_base(
    root: os.PathLike[str],
    args: argparse.Namespace,
    head: RepoSnapshot,
    head_files: dict[str, str],
    chosen: list[Deployment],
    file_ids: dict[str, str],
) -> list[EnvironmentPlan]:
    git = GitRepo(root)  # type: ignore[arg-type]
    try:
        commit = git.resolve(args.base)
        base_texts, base_ids = git.snapshot_files(commit)
    except GitError as error:
        raise UsageError(f"--base {args.base}: {error}") from None
    catalog_same = _same_texts(base_texts, head_files, "stacks/")
    # Under an unchanged catalog, a manifest unchanged since the base resolves exactly as at
    # head: only stack files can differ, so its base fingerprints are the head's with the
    # base's file ids. Only the other manifests are parsed at the base.
    unchanged = {
        path
        for path, text in base_texts.items()
        if catalog_same and path.startswith("deployments/") and head_files.get(path) == text
    }
    base = load_snapshot({p: t for p, t in base_texts.items() if p not in unchanged})
    head_stack_files, base_files = StackFiles(file_ids), StackFiles(base_ids)
    plans: list[EnvironmentPlan] = []
    for deployment in chosen:
        same = deployment.file in unchanged
        before = deployment if same else base.deployments.get(deployment.deployment_id)
        for environment in _environments(deployment, args.environment):
            view = environment_view(deployment, head.catalog, environment)
            fingerprints = fingerprint_view(view, head_stack_files)
            if same:
                previous = _rebased(fingerprints, base_files)
            else:
                previous = _base_fingerprints(before, base.catalog, environment, base_files)
            plans.append(
                plan_environment(
                    view,
                    fingerprints,
                    previous,
                    deployed=previous.keys(),
                    baseline=f"base {args.base}",
                )
            )
        for environment in _environments_gone(before, deployment, args.environment):
            plans.append(
                _removal_plan(
                    before,
                    base.catalog,
                    environment,  # type: ignore[arg-type]
                    f"environment {environment} disabled or removed",
                )
            )
    if not args.deployment:
        for deployment_id, before in sorted(base.deployments.items()):
            if deployment_id in head.deployments:
                continue
            for environment in _environments(before, args.environment):
                plans.append(
                    _removal_plan(
                        before, base.catalog, environment, "deployment removed from the repo"
                    )
                )
    return plans


def _same_texts(one: dict[str, str], other: dict[str, str], prefix: str) -> bool:
    def pick(files: dict[str, str]) -> dict[str, str]:
        return {path: text for path, text in files.items() if path.startswith(prefix)}

    return pick(one) == pick(other)


def _rebased(
    fingerprints: dict[str, Fingerprint], base_files: StackFiles
) -> dict[str, Previous | None]:
    return {
        name: Previous(based.value, based.components)
        for name, based in rebase_files(fingerprints, base_files).items()
    }


def _base_fingerprints(
    before: Deployment | None, catalog: Catalog, environment: str, file_ids: StackFiles
) -> dict[str, Previous | None]:
    if (
        before is None
        or environment not in before.manifest.environments
        or not before.manifest.environments[environment].enabled
        or before.manifest.template not in catalog.templates
    ):
        return {}
    view = environment_view(before, catalog, environment)
    return {
        name: Previous(fp.value, fp.components)
        for name, fp in fingerprint_view(view, file_ids).items()
    }


def _environments_gone(before: Deployment | None, after: Deployment, only: str | None) -> list[str]:
    if before is None:
        return []
    now = set(_environments(after, None))
    return [env for env in _environments(before, only) if env not in now]


def _removal_plan(
    deployment: Deployment, catalog: Catalog, environment: str, reason: str
) -> EnvironmentPlan:
    stacks = (
        sorted(environment_view(deployment, catalog, environment).instances)
        if deployment.manifest.template in catalog.templates
        else []
    )
    return EnvironmentPlan(
        deployment.deployment_id,
        environment,
        [],
        [],
        [Removal(deployment.deployment_id, environment, stack, reason) for stack in stacks],
    )
