"""Checks that change nothing: validate a template, a manifest, a dependency graph, and
generate a manifest from a template (seeds/001 "Validate Template", seeds/002 sections
3.3, 4.1 and 4.2).

A check that finds problems is still a successful call (`200`, `valid: false`, every
problem with its code and, where it has one, its file and line), as in the seeds'
"Validation Failed" example. A manifest is checked exactly as a write of it would be: put
at its path in the current files, and validated with the catalog.
"""

from __future__ import annotations

from collections.abc import Iterable

import networkx as nx

from controller.core import problems as codes
from controller.core import rbac
from controller.core.catalog import Catalog, load_snapshot, with_files
from controller.core.environments import environment_view
from controller.core.graph import build_graph, find_cycle, layers, template_graph
from controller.core.models import Manifest
from controller.core.problems import Problem, did_you_mean
from controller.core.scaffold import manifest_path, render_manifest, scaffold_manifest
from controller.core.validation import validate_snapshot
from controller.edits.checks import validate_template as validate_template_data
from controller.service.endpoints.deployments import find_deployment, fresh_deployment_id
from controller.service.endpoints.payloads import (
    GenerateRequest,
    ValidateDependenciesRequest,
    ValidateManifestRequest,
    environment_choices,
)
from controller.service.endpoints.replies import (
    DependencyGraph,
    DependencyValidation,
    GeneratedManifest,
    GraphEdge,
    TemplateValidation,
    ValidationResult,
)
from controller.service.endpoints.views import default_environment, issue
from controller.service.http.access import API, TEMPLATE
from controller.service.http.errors import (
    AUTHZ_FORBIDDEN,
    VALIDATION_REQUIRED_FIELD,
    ApiError,
    not_found,
)
from controller.service.http.routing import Call, Endpoint, Reply, validate_document


def split(problems: Iterable[Problem]) -> tuple[list[Problem], list[Problem]]:
    found = list(problems)
    return [p for p in found if p.severity == "error"], [p for p in found if p.severity != "error"]


async def validate_template(call: Call) -> Reply:
    state = await call.services.repo.fresh()
    data = validate_template_data(state, call.params["template_name"])
    return Reply(TemplateValidation.model_validate(data))


def check_manifest(files: dict[str, str], manifest: Manifest) -> list[Problem]:
    """Problems of `manifest` as if written at its path next to `files`."""
    path = manifest_path(manifest)
    future = load_snapshot(with_files(files, {path: render_manifest(manifest)}))
    found = validate_snapshot(future, deployments=[manifest.deployment_id])
    # lines point into the rendered YAML, not into what the client sent: leave them out
    return [
        Problem(p.code, p.message, file=p.file, line=None, severity=p.severity, details=p.details)
        for p in found
        if p.file == path
    ]


async def generate_manifest(call: Call) -> Reply:
    body: GenerateRequest = call.body
    state = await call.services.repo.fresh()
    name = call.params["template_name"]
    catalog = state.snapshot.catalog
    if name not in catalog.templates:
        raise not_found("template", name)
    enabled, accounts, regions = environment_choices(body.environments, body.accounts)
    deployment_id = body.deployment_id or fresh_deployment_id(set(state.snapshot.deployments))
    manifest = scaffold_manifest(
        catalog,
        deployment_id=deployment_id,
        organization=body.organization,
        project=body.project,
        template=name,
        region=body.region,
        domain=body.domain,
        accounts=accounts,
        enabled_environments=enabled,
        contact=body.contact.model_dump() if body.contact else None,
        tags=body.tags,
        regions=regions,
    )
    errors, warnings = split(check_manifest(state.files.files, manifest))
    return Reply(
        GeneratedManifest(
            template_name=name,
            deployment_id=deployment_id,
            path=manifest_path(manifest),
            manifest=manifest.to_file_dict(),
            yaml=render_manifest(manifest),
            valid=not errors,
            errors=[issue(p) for p in errors],
            warnings=[issue(p) for p in warnings],
        )
    )


async def validate_manifest(call: Call) -> Reply:
    body: ValidateManifestRequest = call.body
    manifest, problems = validate_document(body.manifest, Manifest, file="(request body)")
    if manifest is not None:
        state = await call.services.repo.fresh()
        problems = check_manifest(state.files.files, manifest)
    errors, warnings = split(problems)
    return Reply(
        ValidationResult(
            valid=not errors,
            errors=[issue(p) for p in errors],
            warnings=[issue(p) for p in warnings],
        )
    )


async def validate_dependencies(call: Call) -> Reply:
    body: ValidateDependenciesRequest = call.body
    state = await call.services.repo.fresh()
    catalog = state.snapshot.catalog
    problems: list[Problem] = []
    if body.deployment_id is not None:
        if rbac.DEPLOYMENTS_READ not in call.user.permissions:
            raise ApiError(403, AUTHZ_FORBIDDEN, "permission 'deployments:read' is required")
        deployment = find_deployment(call, state, body.deployment_id)
        environment = body.environment or default_environment(deployment)
        if environment is None or environment not in deployment.manifest.environments:
            raise not_found("environment", str(environment))
        graph = nx.DiGraph(build_graph(environment_view(deployment, catalog, environment)))
    elif body.template is not None:
        template = catalog.templates.get(body.template)
        if template is None:
            raise not_found("template", body.template)
        graph = nx.DiGraph(template_graph(catalog, template.stacks, template.default_config))
    elif body.stacks:
        graph = nx.DiGraph()
        graph.add_nodes_from(body.stacks)
        for name in body.stacks:
            definition = catalog.stacks.get(name)
            for upstream in definition.dependencies if definition else ():
                if upstream in body.stacks:
                    graph.add_edge(upstream, name)
                else:
                    problems.append(
                        Problem(
                            codes.MISSING_DEPENDENCY,
                            f"{name!r} depends on {upstream!r}, which is not in the request",
                            details={"stack": name, "dependency": upstream},
                        )
                    )
    else:
        raise ApiError(
            400, VALIDATION_REQUIRED_FIELD, "send deploymentId, template or stacks",
            details={"field": "stacks"},
        )  # fmt: skip
    problems += _add_requested(graph, body, catalog)
    cycle = find_cycle(graph)
    if cycle:
        problems.append(
            Problem(
                codes.CIRCULAR_DEPENDENCY,
                f"circular dependency: {' → '.join(cycle)}",
                details={"cycle": cycle, "affectedStacks": sorted(set(cycle))},
            )
        )
    errors, warnings = split(problems)
    return Reply(
        DependencyValidation(
            valid=not errors,
            errors=[issue(p) for p in errors],
            warnings=[issue(p) for p in warnings],
            dependency_graph=DependencyGraph(
                nodes=sorted(graph.nodes),
                edges=[GraphEdge(source=down, target=up) for up, down in sorted(graph.edges)],
                layers=[] if cycle else layers(graph),
            ),
        )
    )


def _add_requested(
    graph: nx.DiGraph, body: ValidateDependenciesRequest, catalog: Catalog
) -> list[Problem]:
    """Add the request's extra dependencies to `graph`; problems for unknown stacks."""
    problems = []
    for name, entry in body.stacks.items():
        for stack in (name, *entry.dependencies):
            if stack not in catalog.stacks:
                problems.append(
                    Problem(
                        codes.UNKNOWN_STACK,
                        f"{stack!r} is not a stack in the catalog"
                        + did_you_mean(stack, catalog.stacks),
                        details={"stack": stack},
                    )
                )
        graph.add_node(name)
        graph.add_edges_from((upstream, name) for upstream in entry.dependencies)
    unique = {(p.code, p.message): p for p in problems}
    return list(unique.values())


ENDPOINTS = [
    Endpoint("POST", f"{TEMPLATE}/validate", validate_template, "Validate a template",
             "Templates", reply=TemplateValidation, errors=(404,)),
    Endpoint("POST", f"{TEMPLATE}/generate", generate_manifest,
             "Generate a manifest from a template (nothing is written)", "Templates",
             reply=GeneratedManifest, body=GenerateRequest, errors=(404, 422)),
    Endpoint("POST", f"{API}/validate/manifest", validate_manifest,
             "Validate a manifest against the catalog (nothing is written)", "Validation",
             reply=ValidationResult, body=ValidateManifestRequest),
    Endpoint("POST", f"{API}/validate/dependencies", validate_dependencies,
             "Validate dependencies and return the graph and its layers", "Validation",
             reply=DependencyValidation, body=ValidateDependenciesRequest, errors=(404,)),
]  # fmt: skip
