"""The templates as `GET /templates` and `GET /templates/{name}` show them, as data: what
the endpoints validate into their reply models and `cloud list-templates` /
`cloud show-template --format json` print. A purely computational module.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import networkx as nx

from controller.core.catalog import Catalog, template_file
from controller.core.graph import critical_path_seconds, layer_index, layers, template_graph
from controller.core.secret_config import catalog_secret_keys, mask_template

BUILT_IN_TEMPLATES = frozenset({"default", "minimal", "microservices", "data-platform"})

Times = Mapping[str, tuple[str, str]]
"""`{path: (created, updated)}`: when each file was first and last committed."""


def template_kind(name: str) -> str:
    return "built-in" if name in BUILT_IN_TEMPLATES else "custom"


def _estimated_resources(catalog: Catalog, stacks: list[str]) -> int:
    return sum(catalog.stacks[s].estimated_resources for s in stacks if s in catalog.stacks)


def template_cost(catalog: Catalog, stacks: Iterable[str]) -> float:
    """USD per month: the stacks' estimated costs summed."""
    return round(
        sum(catalog.stacks[s].estimated_monthly_cost or 0.0 for s in stacks if s in catalog.stacks),
        2,
    )


def _created(times: Times | None, name: str) -> str | None:
    return ((times or {}).get(template_file(name)) or (None, None))[0] or None


def template_summaries(catalog: Catalog, times: Times | None = None) -> list[dict[str, Any]]:
    return [
        {
            "name": name,
            "displayName": t.display_name,
            "description": t.description,
            "type": template_kind(name),
            "version": t.version,
            "stacks": list(t.stacks),
            "environments": list(t.environments),
            "estimatedResources": _estimated_resources(catalog, t.stacks),
            "estimatedMonthlyCost": template_cost(catalog, t.stacks),
            "createdAt": _created(times, name),
        }
        for name, t in sorted(catalog.templates.items())
    ]


def template_detail(catalog: Catalog, name: str, times: Times | None = None) -> dict[str, Any]:
    t = catalog.templates[name]
    graph = template_graph(catalog, t.stacks, t.default_config)
    acyclic = nx.is_directed_acyclic_graph(graph)
    index = layer_index(layers(graph)) if acyclic else {}
    return {
        "name": name,
        "displayName": t.display_name,
        "description": t.description,
        "type": template_kind(name),
        "version": t.version,
        "stacks": [
            {
                "name": stack,
                "layer": index.get(stack),
                "required": True,
                "description": catalog.stacks[stack].description if stack in catalog.stacks else "",
                "dependencies": sorted(graph.predecessors(stack)) if stack in graph else [],
            }
            for stack in t.stacks
        ],
        "defaultConfig": mask_template(
            {"defaultConfig": t.default_config}, catalog_secret_keys(catalog.stacks)
        )["defaultConfig"],
        "environments": {
            env: spec.model_dump(mode="json", by_alias=True) for env, spec in t.environments.items()
        },
        "estimatedResources": _estimated_resources(catalog, t.stacks),
        "estimatedMonthlyCost": template_cost(catalog, t.stacks),
        "createdAt": _created(times, name),
        "deploymentTime": critical_path_seconds(graph) if acyclic else None,
    }
