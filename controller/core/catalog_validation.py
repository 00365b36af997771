"""Checks of the catalog itself: stack definitions and templates, before any deployment.

Unknown stacks, missing dependencies, cycles between definitions, template defaults that
a stack does not accept, placeholders a template cannot resolve, promotion orders that
name unknown environments or need more wave jobs than the deploy workflow has.
A purely computational module.
"""

from __future__ import annotations

import networkx as nx

from controller.core import problems as codes
from controller.core.catalog import Catalog, template_file
from controller.core.configs import ConfigLayer
from controller.core.graph import find_cycle, template_graph
from controller.core.placeholders import find_placeholders
from controller.core.problems import Problem, did_you_mean
from controller.core.validation_rules import check_layer, placeholder_problem, problem_at
from controller.core.waves import template_promotion_problems


def validate_catalog(catalog: Catalog) -> list[Problem]:
    found: list[Problem] = []
    graph = nx.DiGraph()
    for name, definition in catalog.stacks.items():
        source = catalog.stack_source(name)
        graph.add_node(name)
        if definition.name != name:
            found.append(
                problem_at(
                    source,
                    codes.INVALID_FORMAT,
                    f"stack name {definition.name!r} must match its folder {name!r}",
                    "name",
                )
            )
        for index, upstream in enumerate(definition.dependencies):
            if upstream in catalog.stacks:
                graph.add_edge(upstream, name)
            else:
                found.append(
                    problem_at(
                        source,
                        codes.UNKNOWN_STACK,
                        f"dependency {upstream!r} is not a stack in the catalog"
                        + did_you_mean(upstream, catalog.stacks),
                        "dependencies",
                        index,
                    )
                )
    cycle = find_cycle(graph)
    if cycle:
        found.append(
            problem_at(
                catalog.stack_source(cycle[1]),
                codes.CIRCULAR_DEPENDENCY,
                f"circular dependency between stack definitions: {' → '.join(cycle)}",
                "dependencies",
                details={"cycle": cycle},
            )
        )
    for name in catalog.templates:
        found += _validate_template(name, catalog)
    return found


def _validate_template(name: str, catalog: Catalog) -> list[Problem]:
    template = catalog.templates[name]
    source = catalog.template_source(name)
    found: list[Problem] = []
    if template.name != name:
        found.append(
            problem_at(
                source,
                codes.INVALID_FORMAT,
                f"template name {template.name!r} must match its file name {name!r}",
                "name",
            )
        )
    members = set(template.stacks)
    seen: set[str] = set()
    for index, stack in enumerate(template.stacks):
        if stack in seen:
            found.append(
                problem_at(
                    source,
                    codes.INVALID_TEMPLATE,
                    f"stack {stack!r} is listed twice",
                    "stacks",
                    index,
                )
            )
        seen.add(stack)
        definition = catalog.stacks.get(stack)
        if definition is None:
            found.append(
                problem_at(
                    source,
                    codes.UNKNOWN_STACK,
                    f"{stack!r} is not a stack in the catalog"
                    + did_you_mean(stack, catalog.stacks),
                    "stacks",
                    index,
                )
            )
            continue
        for upstream in definition.dependencies:
            if upstream not in members:
                found.append(
                    problem_at(
                        source,
                        codes.MISSING_DEPENDENCY,
                        f"{stack!r} depends on {upstream!r}, which this template does not include",
                        "stacks",
                        index,
                    )
                )
    graph = template_graph(catalog, template.stacks, template.default_config)
    for stack, values in template.default_config.items():
        definition = catalog.stacks.get(stack)
        if stack not in members or definition is None:
            found.append(
                problem_at(
                    source,
                    codes.UNKNOWN_STACK,
                    f"defaultConfig names {stack!r}, which this template does not "
                    "include" + did_you_mean(stack, members),
                    "defaultConfig",
                    stack,
                )
            )
            continue
        layer = ConfigLayer(
            f"template {name}", template_file(name), ("defaultConfig", stack), values
        )
        found += check_layer(definition, layer, source)
        for key, value in values.items():
            for placeholder in find_placeholders(value):
                path = ("defaultConfig", stack, key, *placeholder.path)
                message = placeholder_problem(
                    placeholder,
                    stack,
                    key,
                    definition,
                    catalog,
                    available=members,
                    where=f"template {name!r}",
                    value=value,
                )
                if message:
                    found.append(problem_at(source, message[0], message[1], *path))
    cycle = find_cycle(graph)
    if cycle:
        found.append(
            problem_at(
                source,
                codes.CIRCULAR_DEPENDENCY,
                f"circular dependency: {' → '.join(cycle)}",
                "stacks",
                details={"cycle": cycle},
            )
        )
    found += template_promotion_problems(template, source)
    return found
