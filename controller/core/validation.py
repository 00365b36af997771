"""Everything that can be wrong with a repo of stacks, templates and manifests.

Schema problems are found while loading (see `documents`); this module finds the problems
that need more than one file: unknown stacks and templates, missing dependencies, cycles,
placeholders that cannot be resolved, config keys a stack does not know, required config
nobody provides, values out of range, roles that reach the wrong account, promotion orders
longer than the deploy workflow's wave jobs. Every problem names a file and
a line. A purely computational module.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from pathlib import PurePosixPath

import networkx as nx

from controller.core import problems as codes
from controller.core.catalog import Catalog, Deployment, RepoSnapshot
from controller.core.catalog_validation import validate_catalog
from controller.core.configs import ConfigLayer, missing_required
from controller.core.credentials import role_mistakes
from controller.core.environments import Edge, EnvironmentView, environment_view
from controller.core.graph import (
    build_graph,
    cycle_edges,
    find_cycle,
    view_layers,
)
from controller.core.problems import Problem, did_you_mean
from controller.core.program_validation import validate_programs
from controller.core.stack_files import StackFiles
from controller.core.validation_rules import check_layer, placeholder_problem, problem_at
from controller.core.waves import promotion_problems


def validate_snapshot(
    snapshot: RepoSnapshot,
    *,
    deployments: Iterable[str] | None = None,
    files: StackFiles | None = None,
) -> list[Problem]:
    """All problems of the catalog and of the chosen deployments (all by default); with
    the stack files, the programs are checked against their definitions too."""
    found = list(snapshot.problems)
    found += validate_catalog(snapshot.catalog)
    if files is not None:
        found += validate_programs(snapshot.catalog, files)
    wanted = set(deployments) if deployments is not None else None
    for deployment in snapshot.deployments.values():
        if wanted is None or deployment.deployment_id in wanted:
            found += validate_deployment(deployment, snapshot.catalog)
    return _merge(found)


# --- deployments --------------------------------------------------------------------------


def relevant_problems(
    snapshot: RepoSnapshot, deployments: list[Deployment], stack_files: StackFiles | None = None
) -> list[Problem]:
    """Problems of the catalog (its programs too, given the stack files) and of these
    deployments (not of unrelated ones)."""
    files = {deployment.file for deployment in deployments}
    return [
        problem
        for problem in validate_snapshot(
            snapshot, deployments=[d.deployment_id for d in deployments], files=stack_files
        )
        if problem.file is None or problem.file.startswith("stacks/") or problem.file in files
    ]


def validate_deployment(deployment: Deployment, catalog: Catalog) -> list[Problem]:
    manifest = deployment.manifest
    source = deployment.loaded
    found: list[Problem] = []
    directory = PurePosixPath(deployment.directory).name
    if directory != manifest.directory_name:
        found.append(
            problem_at(
                source,
                codes.DIRECTORY_MISMATCH,
                f"directory {directory!r} must be named {manifest.directory_name!r} "
                "(<deploymentId>-<organization>-<project>)",
                "deploymentId",
            )
        )
    for env in manifest.accounts:
        if env not in manifest.environments:
            found.append(
                problem_at(
                    source,
                    codes.INVALID_ENVIRONMENT,
                    f"accounts.{env}: {env!r} is not a declared environment"
                    + did_you_mean(env, manifest.environments),
                    "accounts",
                    env,
                )
            )
    for env, settings in manifest.environments.items():
        if settings.enabled and manifest.account_for(env) is None:
            found.append(
                problem_at(
                    source,
                    codes.REQUIRED_FIELD,
                    f"environment {env!r} is enabled but has no AWS account, so no role to "
                    f"deploy it with: set accounts.{env} (its roles are then "
                    f"arn:aws:iam::<account>:role/$CLOUD_DEPLOY_ROLE_NAME and "
                    f"$CLOUD_PLAN_ROLE_NAME, by default cloud-deploy and cloud-plan) or "
                    f"environments.{env}.roleArn and planRoleArn",
                    "environments",
                    env,
                )
            )
        for field, message in role_mistakes(manifest, env):
            found.append(
                problem_at(source, codes.INVALID_ROLE, message, "environments", env, field)
            )
    found += promotion_problems(deployment, catalog)
    for name, entry in manifest.stacks.items():
        definition = catalog.stacks.get(name)
        if definition is None:
            found.append(
                problem_at(
                    source,
                    codes.UNKNOWN_STACK,
                    f"{name!r} is not a stack in the catalog" + did_you_mean(name, catalog.stacks),
                    "stacks",
                    name,
                )
            )
            continue
        for env in entry.environments:
            if env not in manifest.environments:
                found.append(
                    problem_at(
                        source,
                        codes.INVALID_ENVIRONMENT,
                        f"stacks.{name}.environments: {env!r} is not a declared "
                        "environment" + did_you_mean(env, manifest.environments),
                        "stacks",
                        name,
                        "environments",
                        env,
                    )
                )
        layers_ = [
            ConfigLayer("manifest", deployment.file, ("stacks", name, "config"), entry.config)
        ]
        layers_ += [
            ConfigLayer(
                f"manifest ({env})",
                deployment.file,
                ("stacks", name, "environments", env, "config"),
                override.config,
            )
            for env, override in entry.environments.items()
        ]
        for layer in layers_:
            found += check_layer(definition, layer, source)
    if manifest.template not in catalog.templates:
        found.append(
            problem_at(
                source,
                codes.UNKNOWN_TEMPLATE,
                f"template {manifest.template!r} does not exist"
                + did_you_mean(manifest.template, catalog.templates)
                + f"; available: {', '.join(sorted(catalog.templates))}",
                "template",
            )
        )
        return found
    for env in manifest.environments:
        found += check_environment(environment_view(deployment, catalog, env), catalog)
    return found


def check_environment(view: EnvironmentView, catalog: Catalog) -> list[Problem]:
    """Problems that depend on which stacks are enabled in one environment."""
    deployment = view.deployment
    env = view.environment
    found: list[Problem] = []
    for name, instance in view.instances.items():
        for key in missing_required(instance.definition, instance.config):
            found.append(
                problem_at(
                    deployment.loaded,
                    codes.REQUIRED_FIELD,
                    f"stack {name!r} needs config {key!r} (required, no default): set "
                    f"stacks.{name}.config.{key}",
                    *_stack_path(deployment, name),
                    environment=env,
                )
            )
    for edge in view.edges:
        if (
            edge.kind != "placeholder"
            and edge.upstream in view.instances
            and edge.upstream != edge.downstream
        ):
            continue  # the common case, decided without a call
        problem = _edge_problem(edge, view, catalog)
        if problem is not None:
            found.append(problem)
    graph = build_graph(view)
    try:
        view_layers(view)
        cycle = None
    except nx.NetworkXUnfeasible:
        cycle = find_cycle(graph)
    if cycle:
        culprit = _culprit(cycle_edges(graph, cycle), deployment.file)
        found.append(
            Problem(
                codes.CIRCULAR_DEPENDENCY,
                f"circular dependency: {' → '.join(cycle)}"
                + (f" ({culprit.reason})" if culprit else ""),
                file=culprit.file if culprit and culprit.file else deployment.file,
                line=culprit.line if culprit and culprit.file else deployment.line_of("stacks"),
                details={"cycle": cycle, "environment": env},
            )
        )
    return found


def _edge_problem(edge: Edge, view: EnvironmentView, catalog: Catalog) -> Problem | None:
    """What is wrong with one wanted edge in this environment, or None."""
    deployment = view.deployment
    env = view.environment
    if edge.kind == "placeholder" and edge.placeholder is not None:
        instance = view.instances[edge.downstream]
        wrong = placeholder_problem(
            edge.placeholder,
            edge.downstream,
            edge.config_key or "",
            instance.definition,
            catalog,
            available=view.instances,
            declared=view.declared_stacks,
            where=f"environment {env!r}",
            value=instance.config[edge.config_key or ""].value,
            static=edge.file == deployment.file,
        )
        if wrong is None:
            return None
        code, message = wrong
        if edge.file != deployment.file:
            message += f" (deployment {deployment.deployment_id})"
        return Problem(
            code,
            message,
            file=edge.file or deployment.file,
            line=edge.line,
            details={"environment": env},
        )
    if edge.upstream in view.instances and edge.upstream != edge.downstream:
        return None
    if edge.upstream == edge.downstream:
        message = f"{edge.downstream!r} cannot depend on itself"
        return Problem(
            codes.CIRCULAR_DEPENDENCY,
            message,
            file=edge.file,
            line=edge.line,
            details={"environment": env},
        )
    if edge.upstream not in catalog.stacks:
        return Problem(
            codes.UNKNOWN_STACK,
            f"dependency {edge.upstream!r} is not a stack in the catalog"
            + did_you_mean(edge.upstream, catalog.stacks),
            file=edge.file,
            line=edge.line,
            details={"environment": env},
        )
    if edge.upstream in view.declared_stacks:
        why = "is disabled"
        path = _stack_path(deployment, edge.upstream)
    else:
        why = f"is not part of this deployment (template {deployment.manifest.template!r})"
        path = _stack_path(deployment, edge.downstream)
    return problem_at(
        deployment.loaded,
        codes.MISSING_DEPENDENCY,
        f"{edge.downstream!r} depends on {edge.upstream!r}, which {why}",
        *path,
        environment=env,
    )


# --- helpers ------------------------------------------------------------------------------


def _stack_path(deployment: Deployment, stack: str) -> tuple[str, ...]:
    return ("stacks", stack) if stack in deployment.manifest.stacks else ("template",)


def _culprit(edges: list[Edge], manifest_file: str) -> Edge | None:
    """The edge of a cycle a user most likely wrote by mistake: the manifest's first."""
    preference = {"manifest": 0, "placeholder": 1, "definition": 2}
    ranked = sorted(edges, key=lambda e: (e.file != manifest_file, preference[e.kind]))
    return ranked[0] if ranked else None


def _merge(found: list[Problem]) -> list[Problem]:
    """One problem per (code, file, line, message); environments it holds in are listed."""
    groups: dict[tuple[object, ...], list[Problem]] = defaultdict(list)
    for problem in found:
        groups[(problem.code, problem.file, problem.line, problem.message)].append(problem)
    merged = []
    for group in groups.values():
        first = group[0]
        envs = sorted({p.details["environment"] for p in group if "environment" in p.details})
        if envs:
            details = {**first.details, "environments": envs}
            details.pop("environment", None)
            label = "environment" if len(envs) == 1 else "environments"
            first = Problem(
                first.code,
                f"{first.message} [{label}: {', '.join(envs)}]",
                file=first.file,
                line=first.line,
                severity=first.severity,
                details=details,
            )
        merged.append(first)
    return sorted(merged, key=lambda p: (p.file or "", p.line or 0, p.code, p.message))
