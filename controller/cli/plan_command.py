"""`cloud plan`: which instances change, against what was deployed or against a git base
(the logic is `controller.execution.plans`; this module parses and prints)."""

from __future__ import annotations

import argparse
import sys

from controller.adapters.git_repo import GitError, GitRepo
from controller.cli.context import UsageError, ensure_valid, pick_deployment, repo_of
from controller.cli.output import print_json
from controller.cli.run_commands import engine_arguments, open_engine
from controller.core.catalog import Deployment, RepoSnapshot, load_snapshot
from controller.core.reports import plan_document, render_plan_markdown, render_plan_text
from controller.execution.plans import (
    PlanInputError,
    Scope,
    plans_against_base,
    plans_against_records,
)


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
    chosen = chosen_deployments(head, args.deployment, repo)
    stack_files = repo.stack_file_ids()
    ensure_valid(head, chosen, stack_files)
    scope = Scope(tuple(chosen), args.environment, whole_repo=not args.deployment)
    engine = None if args.base else open_engine(args, repo)
    try:
        if args.base:
            plans = plans_against_base(
                GitRepo(repo.root), args.base, head, files, scope, file_ids=stack_files
            )
        else:
            assert engine is not None
            plans = plans_against_records(
                head, scope, engine=engine, file_ids=stack_files, repo_root=repo.root
            )
    except GitError as error:
        raise UsageError(f"--base {args.base}: {error}") from None
    except PlanInputError as error:
        raise UsageError(str(error)) from None
    simulated = bool(engine and engine.simulated)
    if args.format == "json":
        print_json(
            plan_document(
                plans,
                mode="git" if args.base else "recorded",
                base=args.base,
                engine=engine.name if engine else None,
                simulated=simulated,
            )
        )
    elif args.format == "markdown":
        sys.stdout.write(render_plan_markdown(plans, simulated=simulated))
    else:
        sys.stdout.write(render_plan_text(plans, simulated=simulated))
    return 0


def chosen_deployments(
    snapshot: RepoSnapshot, reference: str | None, repo: object
) -> list[Deployment]:
    if reference:
        return [pick_deployment(snapshot, reference, repo)]  # type: ignore[arg-type]
    return sorted(snapshot.deployments.values(), key=lambda d: d.deployment_id)
