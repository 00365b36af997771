"""The API's views of the catalog: deployments, environments, stacks and templates.

Routes show the same things many ways (a list row, a detail, a page of rows filtered and
sorted); this module builds them from the snapshot, the file history and the latest
operations. A purely computational module: values in, reply models out.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import networkx as nx

from controller.adapters.catalog_sources import WriteOutcome
from controller.core import problems as codes
from controller.core.catalog import Catalog, Deployment, manifest_file
from controller.core.catalog_views import template_detail as template_data
from controller.core.catalog_views import template_summaries as template_rows
from controller.core.environments import environment_view
from controller.core.graph import build_graph, layers, template_graph
from controller.core.models import Manifest
from controller.core.problems import Problem
from controller.core.secret_config import (
    SECRET_MASK,
    catalog_secret_keys,
    is_literal,
    mask_manifest,
)
from controller.core.statuses import (
    stack_status,
)
from controller.edits.changes import change_data
from controller.operations.drift import environment_drift
from controller.operations.records import Recorded
from controller.service.endpoints.payloads import DeploymentListQuery
from controller.service.endpoints.replies import (
    Change,
    Check,
    ContactView,
    DeploymentDetail,
    DeploymentMetricsView,
    DeploymentSummary,
    EnvironmentState,
    EnvironmentView,
    Issue,
    Pagination,
    StackDetail,
    StackInstance,
    StackSummary,
    TemplateDetail,
    TemplateSummary,
)

Times = Mapping[str, tuple[str, str]]

# --- deployments ----------------------------------------------------------------------------


def summarize(deployment: Deployment, times: Times, recorded: Recorded) -> DeploymentSummary:
    manifest = deployment.manifest
    created, updated = times.get(deployment.file, (None, None))
    return DeploymentSummary(
        deployment_id=manifest.deployment_id,
        organization=manifest.organization,
        project=manifest.project,
        domain=manifest.domain,
        template=manifest.template,
        status=recorded.deployment_status(deployment),
        environments={
            name: EnvironmentState(
                enabled=env.enabled, status=recorded.environment(deployment, name).status
            )
            for name, env in manifest.environments.items()
        },
        created_at=created or None,
        updated_at=updated or None,
        last_deployed_at=recorded.last_deployed(manifest.deployment_id)[0],
    )


def select_deployments(
    rows: Iterable[DeploymentSummary], query: DeploymentListQuery
) -> list[DeploymentSummary]:
    """The seeds' filters (case-insensitive) and sort; rows without the sort key go last."""
    wanted = {
        "status": query.status,
        "organization": query.organization,
        "project": query.project,
        "template": query.template,
    }

    def keep(row: DeploymentSummary) -> bool:
        for field, value in wanted.items():
            if value is not None and str(getattr(row, field)).casefold() != value.casefold():
                return False
        if query.environment is not None:
            env = row.environments.get(query.environment)
            return env is not None and env.enabled
        return True

    key = {"createdAt": "created_at", "updatedAt": "updated_at", "deploymentId": "deployment_id"}[
        query.sort_by
    ]
    kept = [row for row in rows if keep(row)]
    present = [row for row in kept if getattr(row, key) is not None]
    missing = [row for row in kept if getattr(row, key) is None]
    present.sort(
        key=lambda row: (getattr(row, key), row.deployment_id), reverse=query.sort_order == "desc"
    )
    return present + sorted(missing, key=lambda row: row.deployment_id)


def paginate(
    items: list[Any], *, page: int, limit: int, offset: int | None = None
) -> tuple[list[Any], Pagination]:
    """A page of `items`: by page number (seeds/001) or from an offset (seeds/002)."""
    total = len(items)
    pages = max(1, math.ceil(total / limit))
    start = (page - 1) * limit if offset is None else offset
    if offset is not None:
        page = offset // limit + 1
    return items[start : start + limit], Pagination(
        offset=start,
        page=page,
        limit=limit,
        total=total,
        total_pages=pages,
        has_next=start + limit < total,
        has_prev=start > 0,
        next_page=page + 1 if page < pages else None,
        prev_page=page - 1 if page > 1 else None,
    )


def environments_of(
    deployment: Deployment, catalog: Catalog, recorded: Recorded
) -> list[EnvironmentView]:
    manifest = deployment.manifest
    views = []
    for name, env in manifest.environments.items():
        view = environment_view(deployment, catalog, name)
        summary = recorded.environment(deployment, name)
        views.append(
            EnvironmentView(
                name=name,
                enabled=env.enabled,
                region=manifest.region_for(name),
                account=manifest.account_for(name),
                status=summary.status,
                stacks=len(view.instances),
                stacks_deployed=summary.stacks_deployed,
                stacks_failed=summary.stacks_failed,
                last_deployed_at=summary.last_deployed_at,
                endpoints=summary.endpoints,
                resource_count=summary.total_resources,
                estimated_monthly_cost=environment_cost(view) if env.enabled else None,
            )
        )
    return views


def environment_cost(view: Any) -> float:
    """What the stacks of an environment are estimated to cost a month (USD)."""
    return round(
        sum(i.definition.estimated_monthly_cost or 0.0 for i in view.instances.values()), 2
    )


def default_environment(deployment: Deployment) -> str | None:
    envs = deployment.manifest.environments
    enabled = [name for name, env in envs.items() if env.enabled]
    return (enabled or list(envs) or [None])[0]


def stack_instances(
    deployment: Deployment,
    catalog: Catalog,
    environment: str,
    recorded: Recorded | None = None,
    drift: Mapping[str, Mapping[str, Any]] | None = None,
) -> list[StackInstance]:
    """The enabled stacks in `environment` with their layer (null when the graph has a
    cycle), what their recorded state says and their last drift check's result."""
    recorded = recorded or Recorded()
    view = environment_view(deployment, catalog, environment)
    graph = build_graph(view)
    index = _layer_index(graph)
    states = recorded.of(deployment.deployment_id, environment)
    running = recorded.running(deployment.deployment_id, environment)
    working = recorded.running_stacks(deployment.deployment_id, environment)
    rows = []
    for name in sorted(view.instances, key=lambda n: (index.get(n, 0), n)):
        state = states.get(name)
        deployed = state is not None and state.status == "deployed"
        rows.append(
            StackInstance(
                name=name,
                layer=index.get(name),
                status=stack_status(state, running=running if name in working else None),
                dependencies=sorted(graph.predecessors(name)),
                outputs=dict(state.outputs) if deployed and state else {},
                resource_count=state.resource_count if deployed and state else 0,
                last_deployed_at=state.deployed_at if state else None,
                drift_detected=drift[name]["driftDetected"] if drift and name in drift else None,
            )
        )
    return rows


def deployment_detail(
    deployment: Deployment,
    catalog: Catalog,
    *,
    environment: str | None,
    times: Times,
    authors: Times,
    recorded: Recorded,
    drift: Mapping[str, Mapping[str, Any]] | None = None,
    show_secrets: bool = False,
) -> DeploymentDetail:
    """`drift`: the last drift check of each stack of `environment` (`latest_drift`)."""
    manifest = deployment.manifest
    summary = summarize(deployment, times, recorded)
    checked = environment_drift(dict(drift or {}))
    environments = environments_of(deployment, catalog, recorded)
    deployed_at, deployed_by = recorded.last_deployed(manifest.deployment_id)
    return DeploymentDetail(
        deployment_id=manifest.deployment_id,
        organization=manifest.organization,
        project=manifest.project,
        domain=manifest.domain,
        template=manifest.template,
        region=manifest.region,
        status=summary.status,
        directory=deployment.directory,
        created_at=summary.created_at,
        updated_at=summary.updated_at,
        created_by=(authors.get(deployment.file) or (None, None))[0] or None,
        last_deployed_at=deployed_at,
        last_deployed_by=deployed_by,
        contact=ContactView(email=manifest.contact.email, team=manifest.contact.team)
        if manifest.contact
        else None,
        tags=dict(manifest.tags),
        environments=environments,
        environment=environment,
        stacks=(
            stack_instances(deployment, catalog, environment, recorded, drift)
            if environment
            else []
        ),
        manifest=manifest_view(manifest, catalog, show_secrets=show_secrets),
        metrics=DeploymentMetricsView(
            total_resources=sum(env.resource_count for env in environments),
            deployment_duration=recorded.deployment_duration(manifest.deployment_id),
            estimated_monthly_cost=round(
                sum(env.estimated_monthly_cost or 0.0 for env in environments if env.enabled), 2
            ),
        ),
        drift_detected=checked["driftDetected"],
        drift_checked_at=checked["checkedAt"],
        drifted_stacks=checked["driftedStacks"],
    )


def manifest_view(manifest: Manifest, catalog: Catalog, *, show_secrets: bool) -> dict[str, Any]:
    """A manifest as the API shows it: secret config values `[secret]` unless asked for."""
    data = manifest.to_file_dict()
    return data if show_secrets else mask_manifest(data, catalog_secret_keys(catalog.stacks))


# --- stacks and templates -------------------------------------------------------------------


def _layer_index(graph: nx.DiGraph) -> dict[str, int]:
    if not nx.is_directed_acyclic_graph(graph):
        return {}
    return {name: number for number, names in enumerate(layers(graph), 1) for name in names}


def catalog_layers(catalog: Catalog, template: str | None = None) -> dict[str, int]:
    if template is not None and template in catalog.templates:
        chosen = catalog.templates[template]
        return _layer_index(template_graph(catalog, chosen.stacks, chosen.default_config))
    return _layer_index(template_graph(catalog, sorted(catalog.stacks), {}))


def templates_using(catalog: Catalog, stack: str) -> list[str]:
    return sorted(name for name, t in catalog.templates.items() if stack in t.stacks)


def stack_summaries(catalog: Catalog, *, template: str | None = None) -> list[StackSummary]:
    index = catalog_layers(catalog, template)
    names = (
        [n for n in catalog.templates[template].stacks if n in catalog.stacks]
        if template is not None
        else sorted(catalog.stacks)
    )
    return [
        StackSummary(
            name=name,
            display_name=d.display_name,
            description=d.description,
            category=d.category,
            layer=index.get(name),
            dependencies=list(d.dependencies),
            outputs=list(d.outputs),
            estimated_resources=d.estimated_resources,
            estimated_duration=d.estimated_duration,
            estimated_monthly_cost=d.estimated_monthly_cost,
            templates=templates_using(catalog, name),
        )
        for name in names
        if (d := catalog.stacks[name])
    ]


def stack_detail(catalog: Catalog, name: str) -> StackDetail:
    d = catalog.stacks[name]
    return StackDetail(
        name=name,
        display_name=d.display_name,
        description=d.description,
        category=d.category,
        layer=catalog_layers(catalog).get(name),
        dependencies=list(d.dependencies),
        dependents=sorted(n for n, other in catalog.stacks.items() if name in other.dependencies),
        outputs=dict(d.outputs),
        configuration={
            key: spec.model_copy(update={"default": SECRET_MASK})
            if spec.secret and is_literal(spec.default)
            else spec
            for key, spec in d.configuration.items()
        },
        resources=list(d.resources),
        estimated_resources=d.estimated_resources,
        estimated_duration=d.estimated_duration,
        estimated_monthly_cost=d.estimated_monthly_cost,
        templates=templates_using(catalog, name),
    )


def template_summaries(catalog: Catalog, times: Times | None = None) -> list[TemplateSummary]:
    return [TemplateSummary.model_validate(row) for row in template_rows(catalog, times)]


def template_detail(catalog: Catalog, name: str, times: Times | None = None) -> TemplateDetail:
    return TemplateDetail.model_validate(template_data(catalog, name, times))


# --- validation results ---------------------------------------------------------------------

_DEPENDENCY_CODES = {
    codes.UNKNOWN_STACK,
    codes.MISSING_DEPENDENCY,
    codes.CIRCULAR_DEPENDENCY,
    codes.TOO_MANY_LAYERS,
}
_CONFIG_CODES = {codes.UNKNOWN_CONFIG_KEY, codes.OUT_OF_RANGE}
_UNCHECKED = {  # asked of the pre-flight seam by the endpoint, when it can
    "aws-credentials": "not checked: the deployment has no environment",
    "pulumi-state": "not checked: the deployment has no environment",
}
_PASSED = {
    "manifest": "Manifest syntax valid",
    "dependencies": "No circular or missing dependencies",
    "configuration": "All configuration values valid",
    "runtime-placeholders": "All placeholders resolvable",
}


def check_of(problem: Problem) -> str:
    """Which of the seeds' validation checks a problem belongs to."""
    if problem.code in _DEPENDENCY_CODES:
        return "dependencies"
    if problem.code == codes.UNRESOLVABLE_PLACEHOLDER:
        return "runtime-placeholders"
    if problem.code in _CONFIG_CODES or "config" in problem.message:
        return "configuration"
    return "manifest"


def issue(problem: Problem) -> Issue:
    return Issue(
        code=problem.code,
        message=problem.message,
        file=problem.file,
        line=problem.line,
        severity=problem.severity,
        details=dict(problem.details),
    )


def checks(
    problems: list[Problem], names: Iterable[str], *, external: Mapping[str, Check] | None = None
) -> list[Check]:
    """The seeds' checks: from the problems found, and (`external`) from the cloud."""
    result = []
    for name in names:
        if external and name in external:
            result.append(external[name])
            continue
        if name in _UNCHECKED:
            result.append(Check(name=name, status="skipped", message=_UNCHECKED[name]))
            continue
        failing = [p for p in problems if p.severity == "error" and check_of(p) == name]
        if failing:
            result.append(
                Check(
                    name=name,
                    status="failed",
                    message=failing[0].message,
                    details={"problems": len(failing)},
                )
            )
        else:
            result.append(Check(name=name, status="passed", message=_PASSED[name]))
    return result


def problems_for_deployment(
    problems: list[Problem], deployment_file: str, environment: str | None
) -> list[Problem]:
    """Problems of one deployment (its manifest, and the catalog it relies on)."""

    def relevant(problem: Problem) -> bool:
        if problem.file not in (None, deployment_file) and not (problem.file or "").startswith(
            "stacks/"
        ):
            return False
        envs = problem.details.get("environments")
        return environment is None or not envs or environment in envs

    return [p for p in problems if relevant(p)]


def change_of(outcome: WriteOutcome) -> Change:
    return Change.model_validate(change_data(outcome))


def visible_rows(
    rows: Iterable[DeploymentSummary], sees: Callable[[str], bool]
) -> list[DeploymentSummary]:
    return [row for row in rows if sees(row.organization)]


def manifest_path_of(deployment: Deployment) -> str:
    return manifest_file(deployment.directory.rsplit("/", 1)[-1])
