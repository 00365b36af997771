"""Commands that edit the catalog and manifests, as the API's write endpoints do.

`register-stack`, `update-stack`, `unregister-stack`, `create-template`,
`update-template`, `delete-template`, `enable-environment`, `disable-environment` run
`controller.edits` over the local checkout: the same checks as the service (what exists,
what still uses it), the future snapshot validated, the file written atomically, and with
`--commit` the same commit the service makes (author: the checkout's git user). Without
`--commit` the files are only written. `validate-template` checks a template like
`POST /templates/{name}/validate`. With `--format json` each prints the `data` the
corresponding endpoint answers.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from pathlib import Path
from typing import Any

from controller.adapters.catalog_sources import LocalCatalogSource, SourceError
from controller.adapters.inventory import EngineInventory, InventoryUnavailableError
from controller.adapters.local_git import FALLBACK_NAME, Author, LocalGit
from controller.cli.context import UsageError, name_argument, pick_deployment, repo_of
from controller.cli.output import print_json
from controller.core.documents import validate_data
from controller.core.models import StackDefinition, Template
from controller.core.problems import ProblemError
from controller.core.yamlsource import YamlDocument, parse_yaml
from controller.edits import catalog as edits
from controller.edits.catalog import Edit
from controller.edits.catalog_state import RepoState
from controller.edits.checks import validate_template as template_validation
from controller.edits.environments import environment_toggled, set_environment_enabled
from controller.engines.factory import DEFAULT_ENGINE, ENGINES
from controller.operations.recorded_runs import local_store, store_exists
from controller.operations.records import Recorded

# --- arguments ----------------------------------------------------------------------------


def _common(parser: argparse.ArgumentParser, *, writes: bool = True) -> None:
    if writes:
        parser.add_argument(
            "--commit",
            action="store_true",
            help="commit the change (exactly that file, as the service does); default: "
            "write the file only",
        )
    parser.add_argument("--format", choices=("text", "json"), default="text")


def _engine_option(parser: argparse.ArgumentParser, why: str) -> None:
    parser.add_argument(
        "--engine",
        choices=sorted(ENGINES),
        help=f"{why}; default: $CLOUD_ENGINE or {DEFAULT_ENGINE}",
    )


def document_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", type=Path, help="the definition, YAML or JSON ('-': stdin)")
    _common(parser)


def patch_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", type=name_argument("stack_name"))
    parser.add_argument(
        "--file",
        type=Path,
        help="the fields to change, YAML or JSON, named as in the file (null removes one)",
    )
    parser.add_argument("--display-name")
    parser.add_argument("--description")
    _common(parser)


def update_template_arguments(parser: argparse.ArgumentParser) -> None:
    patch_arguments(parser)
    parser.add_argument("--version", help="the template's version, e.g. 1.1.0")
    parser.add_argument("--stacks", help="the template's stacks, comma-separated")


def name_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", type=name_argument("stack_name"))
    _common(parser)


def validate_template_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", type=name_argument("stack_name"))
    _common(parser, writes=False)


def unregister_arguments(parser: argparse.ArgumentParser) -> None:
    name_arguments(parser)
    parser.add_argument(
        "--force",
        action="store_true",
        help="unregister even where the stack is still deployed (its state stays behind)",
    )
    _engine_option(parser, "the backend asked where the stack is deployed")


def disable_arguments(parser: argparse.ArgumentParser) -> None:
    environment_arguments(parser, disable=True)


def environment_arguments(parser: argparse.ArgumentParser, *, disable: bool = False) -> None:
    parser.add_argument("deployment", help="deployment id, folder name or path")
    parser.add_argument(
        "environment", type=name_argument("environment_name"), help="environment name, e.g. stage"
    )
    _common(parser)
    if disable:
        parser.add_argument(
            "--destroy-resources",
            action="store_true",
            help="also plan the destroy of what is deployed there (reverse layer order); "
            "run it with the `cloud destroy` command it prints",
        )
        _engine_option(parser, "the backend asked what is deployed")


# --- shared ---------------------------------------------------------------------------------


def _repo_state(args: argparse.Namespace) -> RepoState:
    root = repo_of(args).root
    source = LocalCatalogSource(root, commit=getattr(args, "commit", False))
    if getattr(args, "commit", False) and not source.commit_enabled:
        raise UsageError(f"--commit: {root} is not a git checkout")
    return RepoState(source, refresh_seconds=0.0)


def _root(repo: RepoState) -> Path:
    source: LocalCatalogSource = repo.source  # type: ignore[assignment]
    return source.repo.root


def _author(repo: RepoState) -> Author:
    return LocalGit(_root(repo)).identity()


def _by(author: Author) -> str:
    return author.name if author.name != FALLBACK_NAME else getpass.getuser()


def _now() -> str:
    from controller.adapters.clock import SystemClock

    return SystemClock().now()


def _read(path: Path) -> tuple[str, str]:
    """The text of `path` ('-': standard input) and the name problems give it."""
    if str(path) == "-":
        return sys.stdin.read(), "(stdin)"
    try:
        return path.read_text(encoding="utf-8"), str(path)
    except OSError as error:
        raise UsageError(f"cannot read {path}: {error.strerror or error}") from None


def _mapping(path: Path) -> tuple[dict[str, Any], YamlDocument]:
    text, name = _read(path)
    source = parse_yaml(text, file=name)  # ProblemError (exit 1) on bad syntax
    if not isinstance(source.data, dict):
        raise UsageError(f"{name} must hold a mapping of fields, got {type(source.data).__name__}")
    return dict(source.data), source


def _model(path: Path, model: type[Any], *, drop: str | None = None) -> tuple[Any, Any]:
    data, source = _mapping(path)
    dropped = data.pop(drop, None) if drop else None
    parsed, problems = validate_data(data, model, source=source)
    if parsed is None:
        raise ProblemError(problems)
    return parsed, dropped


def _run(repo: RepoState, work: Any, *args: Any, **options: Any) -> tuple[Edit, Author]:
    author = _author(repo)
    try:
        return work(repo, *args, author=author, **options), author
    except SourceError as error:
        raise EditFailed(str(error)) from None


class EditFailed(Exception):
    """The checkout could not be written or committed (it was left as it was)."""


def _report(args: argparse.Namespace, edit: Edit, data: dict[str, Any], verb: str) -> int:
    if args.format == "json":
        print_json(data)
        return 0
    outcome = edit.outcome
    if outcome is None:
        print(f"{edit.name}: nothing to change")
        return 0
    how = f"committed {outcome.commit[:12]}" if outcome.commit else "not committed: see --commit"
    print(
        f"{verb} {edit.name}: {'removed' if verb.startswith(('un', 'del')) else 'wrote'} "
        f"{edit.path} ({how})"
    )
    for line in edit.changes:
        print(f"  {line}")
    for warning in edit.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    return 0


def _stamp(author: Author) -> dict[str, str]:
    return {"at": _now(), "by": _by(author)}


# --- stacks ---------------------------------------------------------------------------------


def register_stack(args: argparse.Namespace) -> int:
    definition, layer = _model(args.file, StackDefinition, drop="layer")
    repo = _repo_state(args)
    edit, author = _run(repo, edits.register_stack, definition, layer=layer)
    return _report(args, edit, edits.stack_registered(edit, **_stamp(author)), "registered stack")


def update_stack(args: argparse.Namespace) -> int:
    fields = _fields(args)
    sent = fields.pop("layer", None) is not None
    repo = _repo_state(args)
    edit, author = _run(repo, edits.update_stack, args.name, fields, layer_sent=sent)
    return _report(args, edit, edits.stack_updated(edit, **_stamp(author)), "updated stack")


def unregister_stack(args: argparse.Namespace) -> int:
    repo = _repo_state(args)
    engine = args.engine or os.environ.get("CLOUD_ENGINE") or DEFAULT_ENGINE
    inventory = EngineInventory(engine, repo_root=_root(repo), env=os.environ)
    try:
        edit, author = _run(
            repo, edits.unregister_stack, args.name, force=args.force, inventory=inventory
        )
    except InventoryUnavailableError as error:
        raise UsageError(
            f"cannot tell where {args.name} is deployed ({error}); choose the engine with "
            "--engine, or pass --force"
        ) from None
    data = edits.stack_unregistered(edit, **_stamp(author))
    return _report(args, edit, data, "unregistered stack")


def _fields(args: argparse.Namespace) -> dict[str, Any]:
    fields: dict[str, Any] = _mapping(args.file)[0] if args.file else {}
    options = {"display_name": "displayName", "description": "description", "version": "version"}
    for option, name in options.items():
        value = getattr(args, option, None)
        if value is not None:
            fields[name] = value
    stacks = getattr(args, "stacks", None)
    if stacks is not None:
        fields["stacks"] = [part.strip() for part in stacks.split(",") if part.strip()]
    if not fields:
        raise UsageError("nothing to change: give --file or a field option")
    return fields


# --- templates ------------------------------------------------------------------------------


def create_template(args: argparse.Namespace) -> int:
    template, _ = _model(args.file, Template)
    repo = _repo_state(args)
    edit, author = _run(repo, edits.create_template, template)
    return _report(args, edit, edits.template_created(edit, **_stamp(author)), "created template")


def update_template(args: argparse.Namespace) -> int:
    fields = _fields(args)
    repo = _repo_state(args)
    edit, author = _run(repo, edits.update_template, args.name, fields)
    return _report(args, edit, edits.template_updated(edit, **_stamp(author)), "updated template")


def delete_template(args: argparse.Namespace) -> int:
    repo = _repo_state(args)
    edit, author = _run(repo, edits.delete_template, args.name)
    return _report(args, edit, edits.template_deleted(edit, **_stamp(author)), "deleted template")


def validate_template(args: argparse.Namespace) -> int:
    repo = _repo_state(args)
    data = template_validation(repo.current(), args.name)
    if args.format == "json":
        print_json(data)
    else:
        for check in data["checks"]:
            print(f"{check['status']:>7}  {check['name']}: {check['message']}")
        for problem in data["errors"] + data["warnings"]:
            where = problem["file"] + (f":{problem['line']}" if problem["line"] else "")
            print(f"{where}: {problem['severity']}: {problem['code']}: {problem['message']}")
        print(f"template {args.name}: {'valid' if data['valid'] else 'invalid'}")
    return 0 if data["valid"] else 1


# --- environments ---------------------------------------------------------------------------


def enable_environment(args: argparse.Namespace) -> int:
    return _toggle(args, enabled=True)


def disable_environment(args: argparse.Namespace) -> int:
    return _toggle(args, enabled=False)


def _toggle(args: argparse.Namespace, *, enabled: bool) -> int:
    repo = _repo_state(args)
    local = repo_of(args)
    deployment = pick_deployment(repo.current().snapshot, args.deployment, local)
    plan = (
        _destroy_plan(args, local, deployment)
        if getattr(args, "destroy_resources", False)
        else None
    )
    edit, author = _run(
        repo, set_environment_enabled, deployment, args.environment, enabled=enabled
    )
    found = Recorded()  # no store yet: nothing ever ran there
    if store_exists(local.root):
        with local_store(local.root) as store:
            found = Recorded.of_store(store, deployment.deployment_id)
    summary = found.summary(deployment.deployment_id, args.environment, enabled=enabled)
    data = environment_toggled(
        edit,
        deployment.deployment_id,
        enabled=enabled,
        summary=summary,
        **_stamp(author),
    )
    if plan is not None:
        data["destroyPlan"] = plan
    code = _report(args, edit, data, "enabled environment" if enabled else "disabled environment")
    if plan is not None and args.format == "text":
        stacks = [name for layer in plan["layers"] for name in layer]
        if stacks:
            print(
                f"destroy plan ({len(stacks)} deployed stack(s), reverse layer order): "
                + "; ".join(", ".join(layer) for layer in plan["layers"])
            )
            print(f"to destroy them: {plan['command']}")
        else:
            print(f"nothing of {deployment.deployment_id} is deployed in {args.environment}")
    return code


def _destroy_plan(args: argparse.Namespace, repo: Any, deployment: Any) -> dict[str, Any]:
    """What destroying the environment would destroy, in order (nothing is run)."""
    import networkx as nx

    from controller.cli.context import load, open_engine
    from controller.execution.preparation import destroy_graph

    snapshot = load(repo)
    engine = open_engine(args, repo)
    graph = destroy_graph(snapshot.catalog, deployment, args.environment, engine=engine)
    deployed = set(engine.list_instances(deployment.deployment_id, args.environment))
    graph = graph.subgraph(deployed).copy()
    order = [sorted(layer) for layer in nx.topological_generations(graph.reverse(copy=True))]
    return {
        "layers": order,
        "simulated": engine.simulated,
        "command": f"cloud destroy {deployment.deployment_id} -e {args.environment} --yes",
    }
