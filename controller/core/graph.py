"""The dependency DAG of one deployment environment, its layers, and a picture of them.

Layers are networkx's topological generations: layer 1 has no dependencies, layer N+1
depends only on layers up to N. They are what plans and summaries show; the local
executor (in every GitHub Actions environment job as on a laptop) does better and starts
each stack the moment its own dependencies are done.
Destroy walks the layers in reverse. A purely computational module.
"""

from __future__ import annotations

import itertools
from typing import Any

import networkx as nx

from controller.core.catalog import Catalog
from controller.core.environments import Edge, EnvironmentView
from controller.core.placeholders import find_placeholders


def build_graph(view: EnvironmentView) -> nx.DiGraph:
    """Nodes are enabled stacks; an edge u -> v means u is deployed before v.

    Memoized on the view; callers must not modify the graph (copy it first).
    """
    if "graph" not in view.memo:
        view.memo["graph"] = _graph_of(view)
    return view.memo["graph"]


def _graph_of(view: EnvironmentView) -> nx.DiGraph:
    graph = nx.DiGraph()
    graph.add_nodes_from(
        (name, {"definition": instance.definition}) for name, instance in view.instances.items()
    )
    reasons: dict[tuple[str, str], list[Edge]] = {}
    for edge in view.internal_edges():
        reasons.setdefault((edge.upstream, edge.downstream), []).append(edge)
    graph.add_edges_from((up, down, {"reasons": why}) for (up, down), why in reasons.items())
    return graph


def template_graph(
    catalog: Catalog, names: list[str], default_config: dict[str, dict[str, Any]]
) -> nx.DiGraph:
    """Definition and placeholder edges among `names`, as a template wires them."""
    graph = nx.DiGraph()
    for name in names:
        if name in catalog.stacks:
            graph.add_node(name, definition=catalog.stacks[name])
    for name in graph.nodes:
        graph.add_edges_from((up, name) for up in catalog.stacks[name].dependencies if up in graph)
        for value in default_config.get(name, {}).values():
            graph.add_edges_from(
                (p.stack, name)
                for p in find_placeholders(value)
                if p.stack in graph and p.stack != name
            )
    return graph


def find_cycle(graph: nx.DiGraph) -> list[str] | None:
    """A cycle as a closed path (`[a, b, c, a]`), or None for a DAG."""
    try:
        cycle_edges = nx.find_cycle(graph)
    except nx.NetworkXNoCycle:
        return None
    path = [edge[0] for edge in cycle_edges]
    return [*path, path[0]]


def cycle_edges(graph: nx.DiGraph, cycle: list[str]) -> list[Edge]:
    """The edges (with their reasons and locations) that close a cycle path."""
    return [
        reason
        for upstream, downstream in itertools.pairwise(cycle)
        for reason in graph.edges[upstream, downstream]["reasons"]
    ]


def layers(graph: nx.DiGraph) -> list[list[str]]:
    """Deploy order: topological generations, names sorted inside a layer.

    Raises `nx.NetworkXUnfeasible` on a cycle; validate first.
    """
    return [sorted(generation) for generation in nx.topological_generations(graph)]


def view_layers(view: EnvironmentView) -> list[list[str]]:
    """`layers(build_graph(view))`, memoized on the view (callers must not modify it)."""
    if "layers" not in view.memo:
        view.memo["layers"] = layers(build_graph(view))
    return view.memo["layers"]


def destroy_layers(graph: nx.DiGraph) -> list[list[str]]:
    """Destroy order: dependents before what they depend on."""
    return list(reversed(layers(graph)))


def layer_index(ordered: list[list[str]]) -> dict[str, int]:
    """Stack name -> 1-based layer number."""
    return {name: number for number, names in enumerate(ordered, 1) for name in names}


def critical_path_seconds(graph: nx.DiGraph) -> int:
    """The longest chain of estimatedDuration: a lower bound for any schedule."""
    finish: dict[str, int] = {}
    for name in nx.topological_sort(graph):
        start = max((finish[upstream] for upstream in graph.predecessors(name)), default=0)
        finish[name] = start + graph.nodes[name]["definition"].estimated_duration
    return max(finish.values(), default=0)


def render_mermaid(graph: nx.DiGraph, ordered: list[list[str]], *, title: str = "") -> str:
    """A Mermaid flowchart: one subgraph per layer, one arrow per dependency."""
    lines = ["flowchart LR"]
    if title:
        lines.insert(0, f"%% {title}")
    ids = {name: "s_" + name.replace("-", "_") for name in graph.nodes}
    for number, names in enumerate(ordered, 1):
        lines.append(f'  subgraph layer{number}["Layer {number}"]')
        lines += [f'    {ids[name]}["{name}"]' for name in names]
        lines.append("  end")
    for upstream, downstream in sorted(graph.edges):
        lines.append(f"  {ids[upstream]} --> {ids[downstream]}")
    return "\n".join(lines) + "\n"
