"""`cloud plan`: which instances change, against what was deployed or against a git base
(the logic is `controller.execution.plans`; this module parses and prints).

Against a base, nothing but the files that changed is parsed (the plan index under
`.cloud/cache/` holds the rest), so this module imports the models, the engines and the
graph library only on the path that needs them.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from controller.cli.context import UsageError, engine_arguments, open_engine, repo_of
from controller.cli.output import print_json
from controller.core.problems import ProblemError, has_errors


def arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--base", help="compare with this git ref instead of the backend")
    parser.add_argument("--deployment", help="only this deployment (id, folder or path)")
    parser.add_argument("-e", "--environment", help="only this environment")
    parser.add_argument("--format", choices=("text", "json", "markdown"), default="text")
    parser.add_argument(
        "--verbose", action="store_true", help="text: list the skipped instances too"
    )
    engine_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from controller.adapters.git_repo import GitError
    from controller.execution.base_plans import PlanInputError

    repo = repo_of(args)
    engine = None
    try:
        if args.base:
            plans = _against_base(args, repo)
        else:
            plans, engine = _against_records(args, repo)
    except GitError as error:
        raise UsageError(f"--base {args.base}: {error}") from None
    except PlanInputError as error:
        raise UsageError(str(error)) from None
    from controller.core.reports import plan_document, render_plan_markdown, render_plan_text

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
        sys.stdout.write(render_plan_text(plans, simulated=simulated, verbose=args.verbose))
    return 0


def _against_base(args: argparse.Namespace, repo: Any) -> list[Any]:
    from controller.adapters.git_repo import GitRepo
    from controller.execution.base_plans import plans_against_base

    read = getattr(args, "read_tree", None)  # the quick plan's read of this same tree
    contents = read.tree if read is not None and read.root == str(repo.root) else None
    result = plans_against_base(
        GitRepo(repo.root),
        args.base,
        repo.tree(contents=contents),
        root=repo.root,
        deployment=args.deployment,
        environment=args.environment,
    )
    if has_errors(result.problems):
        raise ProblemError(result.problems)
    return result.plans


def _against_records(args: argparse.Namespace, repo: Any) -> tuple[list[Any], Any]:
    from controller.cli.context import ensure_valid, pick_deployment
    from controller.core.catalog import load_snapshot
    from controller.execution.plans import Scope, plans_against_records

    head = load_snapshot(repo.catalog_files())
    chosen = (
        [pick_deployment(head, args.deployment, repo)]
        if args.deployment
        else sorted(head.deployments.values(), key=lambda d: d.deployment_id)
    )
    stack_files = repo.stack_file_ids()
    ensure_valid(head, chosen, stack_files)
    scope = Scope(tuple(chosen), args.environment, whole_repo=not args.deployment)
    engine = open_engine(args, repo)
    plans = plans_against_records(
        head, scope, engine=engine, file_ids=stack_files, repo_root=repo.root
    )
    return plans, engine
