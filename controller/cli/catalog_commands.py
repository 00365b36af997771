"""Commands that read the catalog: validate, layers, list/show templates and stacks, schemas."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import networkx as nx

from controller.cli.context import (
    UsageError,
    load,
    name_argument,
    pick_deployment,
    pick_environment,
    repo_of,
)
from controller.cli.output import (
    in_github_actions,
    print_annotations,
    print_json,
    print_problems,
    table,
)
from controller.core.catalog import Catalog, RepoSnapshot
from controller.core.catalog_views import Times, template_detail, template_summaries
from controller.core.environments import environment_view
from controller.core.graph import (
    build_graph,
    critical_path_seconds,
    destroy_layers,
    layer_index,
    layers,
    render_mermaid,
    template_graph,
)
from controller.core.problems import Problem, has_errors
from controller.core.schemas import json_schemas, render_schema
from controller.core.validation import relevant_problems, validate_snapshot


def format_arguments(parser: argparse.ArgumentParser, *choices: str) -> None:
    parser.add_argument("--format", choices=choices or ("text", "json"), default="text")


# --- validate -----------------------------------------------------------------------------


def validate_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "paths",
        nargs="*",
        type=Path,
        help="deployment folders or manifests to check (default: all)",
    )
    format_arguments(parser)


def validate(args: argparse.Namespace) -> int:
    repo = repo_of(args)
    snapshot = load(repo)
    selected, prefixes = _select(snapshot, args.paths, repo.root)
    problems = [
        problem
        for problem in validate_snapshot(
            snapshot, deployments=selected, files=repo.stack_file_ids()
        )
        if _wanted(problem, prefixes)
    ]
    if in_github_actions():
        print_annotations(problems)
    errors = sum(problem.severity == "error" for problem in problems)
    if args.format == "json":
        print_json(
            {
                "valid": errors == 0,
                "errors": errors,
                "warnings": len(problems) - errors,
                "problems": [problem.to_dict() for problem in problems],
            }
        )
    else:
        print_problems(problems)
        checked = len(selected) if selected is not None else len(snapshot.deployments)
        scope = (
            f"{checked} deployment(s), {len(snapshot.catalog.stacks)} stacks, "
            f"{len(snapshot.catalog.templates)} templates"
        )
        verdict = "ok" if errors == 0 else f"{errors} error(s)"
        print(f"validated {scope}: {verdict}")
    return 1 if has_errors(problems) else 0


def _select(
    snapshot: RepoSnapshot, paths: list[Path], root: Path
) -> tuple[set[str] | None, list[str] | None]:
    """Deployment ids under `paths`, and path prefixes to keep problems of (None: all)."""
    if not paths:
        return None, None
    prefixes = []
    for path in paths:
        if not path.exists():
            raise UsageError(f"{path} does not exist")
        try:
            prefixes.append(path.resolve().relative_to(root).as_posix())
        except ValueError:
            raise UsageError(f"{path} is outside the repo {root}") from None
    if any(prefix in (".", "") or not prefix.startswith("deployments/") for prefix in prefixes):
        return None, None
    selected = {
        deployment.deployment_id
        for deployment in snapshot.deployments.values()
        if any(_under(deployment.file, prefix) for prefix in prefixes)
    }
    return selected, prefixes


def _under(file: str, prefix: str) -> bool:
    return file == prefix or file.startswith(prefix.rstrip("/") + "/")


def _wanted(problem: Problem, prefixes: list[str] | None) -> bool:
    if prefixes is None or problem.file is None or problem.file.startswith("stacks/"):
        return True
    return any(_under(problem.file, prefix) for prefix in prefixes)


# --- layers -------------------------------------------------------------------------------


def layers_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("deployment", help="deployment id, folder name or path")
    parser.add_argument(
        "-e", "--environment", required=True, type=name_argument("environment_name")
    )
    parser.add_argument("--destroy", action="store_true", help="destroy order (reversed)")
    format_arguments(parser, "text", "json", "mermaid")


def layers_command(args: argparse.Namespace) -> int:
    repo = repo_of(args)
    snapshot = load(repo)
    deployment = pick_deployment(snapshot, args.deployment, repo)
    environment = pick_environment(deployment, args.environment)
    problems = relevant_problems(snapshot, [deployment])
    if has_errors(problems):
        print_problems(problems)
        print(
            f"{deployment.deployment_id} is invalid: fix the problems above first", file=sys.stderr
        )
        return 1
    view = environment_view(deployment, snapshot.catalog, environment)
    graph = build_graph(view)
    ordered = destroy_layers(graph) if args.destroy else layers(graph)
    enabled = deployment.manifest.environments[environment].enabled
    if args.format == "mermaid":
        operation = "destroy" if args.destroy else "deploy"
        sys.stdout.write(
            render_mermaid(
                graph, ordered, title=f"{deployment.deployment_id} {environment} {operation}"
            )
        )
    elif args.format == "json":
        print_json(
            layers_document(
                deployment.deployment_id,
                environment,
                graph,
                ordered,
                destroy=args.destroy,
                enabled=enabled,
            )
        )
    else:
        if not enabled:
            print(f"note: environment {environment} is disabled in the manifest")
        verb = "destroy" if args.destroy else "deploy"
        print(
            f"{deployment.deployment_id} / {environment}: {verb} order, "
            f"{len(ordered)} layers, {graph.number_of_nodes()} stacks"
        )
        for number, names in enumerate(ordered, 1):
            print(f"  layer {number}: {', '.join(names)}")
    return 0


def layers_document(
    deployment_id: str,
    environment: str,
    graph: nx.DiGraph,
    ordered: list[list[str]],
    *,
    destroy: bool,
    enabled: bool,
) -> dict[str, Any]:
    index = layer_index(ordered)
    return {
        "deploymentId": deployment_id,
        "environment": environment,
        "environmentEnabled": enabled,
        "operation": "destroy" if destroy else "deploy",
        "layers": [{"layer": number, "stacks": names} for number, names in enumerate(ordered, 1)],
        "stacks": {
            name: {
                "layer": index[name],
                "dependencies": sorted(graph.predecessors(name)),
                "estimatedDuration": graph.nodes[name]["definition"].estimated_duration,
            }
            for name in sorted(graph.nodes)
        },
        "criticalPathSeconds": critical_path_seconds(graph),
    }


# --- templates and stacks ------------------------------------------------------------------


def _catalog_and_times(args: argparse.Namespace) -> tuple[Catalog, Times]:
    """The catalog, and when each file was first and last committed (the file's time when
    it is not committed), read as the service reads them."""
    from controller.adapters.catalog_sources import LocalCatalogSource, SourceError
    from controller.core.catalog import load_snapshot

    try:
        files = LocalCatalogSource(repo_of(args).root).read()
    except SourceError as error:
        raise UsageError(str(error)) from None
    return load_snapshot(files.files).catalog, files.times


def list_templates(args: argparse.Namespace) -> int:
    catalog, times = _catalog_and_times(args)
    rows = template_summaries(catalog, times)
    if args.format == "json":
        print_json({"templates": rows, "total": len(rows)})  # GET /templates's data
    else:
        print(
            table(
                ["NAME", "STACKS", "ENVIRONMENTS", "DESCRIPTION"],
                [
                    [r["name"], len(r["stacks"]), ",".join(r["environments"]), r["description"]]
                    for r in rows
                ],
            ),
            end="",
        )
    return 0


def show_template_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name")
    format_arguments(parser)


def show_template(args: argparse.Namespace) -> int:
    catalog, times = _catalog_and_times(args)
    template = catalog.templates.get(args.name)
    if template is None:
        raise UsageError(
            f"no template {args.name!r} (templates: {', '.join(sorted(catalog.templates))})"
        )
    data = template_detail(catalog, args.name, times)  # GET /templates/{name}'s data
    if args.format == "json":
        print_json(data)
        return 0
    print(f"{template.name}: {template.display_name}\n  {template.description}")
    print(
        "  environments: "
        + ", ".join(
            f"{env} ({s.region}{'' if s.enabled else ', disabled'})"
            for env, s in template.environments.items()
        )
    )
    print(
        table(
            ["STACK", "LAYER", "DEPENDS ON"],
            [[s["name"], s["layer"], ", ".join(s["dependencies"])] for s in data["stacks"]],
        ),
        end="",
    )
    return 0


def list_stacks_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--template", help="only the stacks of this template (layers too)")
    parser.add_argument("--category")
    format_arguments(parser)


def list_stacks(args: argparse.Namespace) -> int:
    catalog = load(repo_of(args)).catalog
    names = sorted(catalog.stacks)
    config: dict[str, dict[str, Any]] = {}
    if args.template:
        template = catalog.templates.get(args.template)
        if template is None:
            raise UsageError(f"no template {args.template!r}")
        names = [name for name in template.stacks if name in catalog.stacks]
        config = template.default_config
    graph = template_graph(catalog, names, config)
    index = layer_index(layers(graph)) if nx.is_directed_acyclic_graph(graph) else {}
    rows = [
        {
            "name": name,
            "category": d.category,
            "layer": index.get(name),
            "dependencies": d.dependencies,
            "outputs": list(d.outputs),
            "estimatedDuration": d.estimated_duration,
            "estimatedResources": d.estimated_resources,
            "templates": [
                t for t, tmpl in sorted(catalog.templates.items()) if name in tmpl.stacks
            ],
        }
        for name in names
        if (d := catalog.stacks[name]) and (not args.category or d.category == args.category)
    ]
    if args.format == "json":
        print_json({"stacks": rows, "total": len(rows)})
    else:
        print(
            table(
                ["NAME", "CATEGORY", "LAYER", "DEPENDS ON", "EST. SECONDS"],
                [
                    [
                        r["name"],
                        r["category"],
                        r["layer"],
                        ", ".join(r["dependencies"]),
                        r["estimatedDuration"],
                    ]
                    for r in rows
                ],
            ),
            end="",
        )
    return 0


def show_stack_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name")
    format_arguments(parser)


def show_stack(args: argparse.Namespace) -> int:
    catalog = load(repo_of(args)).catalog
    definition = catalog.stacks.get(args.name)
    if definition is None:
        raise UsageError(f"no stack {args.name!r} (stacks: {', '.join(sorted(catalog.stacks))})")
    data = definition.to_file_dict() | {
        "dependencies": definition.dependencies,
        "dependents": sorted(n for n, d in catalog.stacks.items() if args.name in d.dependencies),
        "templates": sorted(t for t, tmpl in catalog.templates.items() if args.name in tmpl.stacks),
    }
    if args.format == "json":
        print_json(data)
        return 0
    print(f"{definition.name}: {definition.display_name} [{definition.category}]")
    print(f"  {definition.description}")
    print(
        f"  depends on: {', '.join(definition.dependencies) or '-'}; "
        f"dependents: {', '.join(data['dependents']) or '-'}"
    )
    print(
        f"  estimated: {definition.estimated_duration}s, {definition.estimated_resources} resources"
    )
    print(
        table(
            ["CONFIG", "TYPE", "DEFAULT", "NOTES"],
            [
                [
                    key,
                    spec.type,
                    repr(spec.default) if spec.has_default else "-",
                    _notes(spec.required, spec.secret, spec.min, spec.max, spec.enum),
                ]
                for key, spec in definition.configuration.items()
            ],
        ),
        end="",
    )
    print(
        table(
            ["OUTPUT", "TYPE", "DESCRIPTION"],
            [
                [name, spec.type + (" (secret)" if spec.secret else ""), spec.description]
                for name, spec in definition.outputs.items()
            ],
        ),
        end="",
    )
    return 0


def _notes(
    required: bool, secret: bool, low: float | None, high: float | None, enum: list[Any] | None
) -> str:
    notes = ["required"] if required else []
    notes += ["secret"] if secret else []
    if low is not None or high is not None:
        notes.append(
            f"range {'' if low is None else low:g}..{'' if high is None else high:g}"
            if low is not None and high is not None
            else f"min {low:g}"
            if low is not None
            else f"max {high:g}"
        )
    if enum:
        notes.append("one of " + "/".join(map(str, enum)))
    return ", ".join(notes)


# --- schemas ------------------------------------------------------------------------------


def schemas_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--check",
        action="store_true",
        help="exit 1 if schemas/ differs from the models (write nothing)",
    )
    format_arguments(parser)


def schemas(args: argparse.Namespace) -> int:
    repo = repo_of(args)
    stale = []
    for name, schema in json_schemas().items():
        relative = f"schemas/{name}"
        text = render_schema(schema)
        current = repo.read_text(relative) if repo.exists(relative) else None
        if current == text:
            continue
        stale.append(relative)
        if not args.check:
            repo.write_files({relative: text})
    failed = bool(args.check and stale)
    if args.format == "json":
        print_json(
            {
                "check": args.check,
                "stale" if args.check else "written": stale,
                "upToDate": not stale,
            }
        )
    elif failed:
        print(f"stale: {', '.join(stale)} (run `cloud schemas`)", file=sys.stderr)
    else:
        print(("wrote " if stale else "up to date: ") + (", ".join(stale) or "schemas/"))
    return 1 if failed else 0
